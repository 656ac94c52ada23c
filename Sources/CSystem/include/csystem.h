/*
 * csystem.h - the C library as the Swift code sees it.
 *
 * The libraries are built with Embedded Swift, which has no Glibc overlay:
 * this header is the one place the system's headers reach Swift, with
 * small inline pass-throughs for what Swift cannot import (errno is a
 * macro; so are CMSG_FIRSTHDR and friends). It must not define feature
 * macros (_GNU_SOURCE): the unit tests import it next to Glibc, and the two
 * must see the same declarations.
 */
#ifndef CSYSTEM_H
#define CSYSTEM_H

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <grp.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

/* errno, which is a macro. */
static inline int csystem_errno(void) { return errno; }
static inline void csystem_set_errno(int value) { errno = value; }

/* open(2) without its variadic mode argument (files we only read). */
static inline int csystem_open(const char *path, int flags) { return open(path, flags); }

/* The type bits of a stat's st_mode (S_IFMT & mode). */
static inline unsigned csystem_file_type(mode_t mode) { return mode & S_IFMT; }

/* fcntl(fd, F_GETFL), which Swift cannot call (variadic). */
static inline int csystem_get_flags(int fd) { return fcntl(fd, F_GETFL); }

/* fcntl(fd, F_SETFL, flags) and fcntl(fd, F_SETFD, flags). */
static inline int csystem_set_flags(int fd, int flags) { return fcntl(fd, F_SETFL, flags); }
static inline int csystem_set_fd_flags(int fd, int flags) { return fcntl(fd, F_SETFD, flags); }

/* getopt()'s globals and stdio's streams (C globals Swift 6 will not touch). */
static inline int csystem_optind(void) { return optind; }
static inline char *csystem_optarg(void) { return optarg; }
static inline FILE *csystem_stdout(void) { return stdout; }
static inline FILE *csystem_stderr(void) { return stderr; }

/* pipe2(fds, O_CLOEXEC) (a GNU extension, in csystem.c). */
int csystem_pipe_cloexec(int fds[2]);

/* The process's environment (a C global Swift 6 will not read directly). */
extern char **environ;
static inline char **csystem_environ(void) { return environ; }

#endif
