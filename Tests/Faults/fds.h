/* fds.h - shared by decide.c and faults.c: open descriptors, counted. */
#ifndef FAULTS_FDS_H
#define FAULTS_FDS_H
#include <dirent.h>
#include <stddef.h>

static int count_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n - 1;   /* the directory's own descriptor */
}

#endif
