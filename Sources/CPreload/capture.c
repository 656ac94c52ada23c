/*
 * capture.c - take the shim's settings from the environment at load time,
 * and put the table paths and log file in force at once, before any thread
 * of the daemon can ask (an inetd-launched daemon may never pass a hook).
 * (A constructor is C's; Swift has none.) The work is a few getenv() calls,
 * the children setting below, then every Swift global of the shim is built
 * (see Startup.swift).
 *
 * TCPWRAP_CHILDREN says what the programs this one starts (exec) get; a
 * forked child without exec is this program and is always protected:
 *   own     (default) each program is judged under its own name, as tcpd
 *           would judge it (an inetd-style parent's services: in.tftpd is
 *           in.tftpd). Never fails open.
 *   daemon  judged under this program's daemon name: TCPWRAP_DAEMON is set
 *           in the environment (if it was not) for the programs it starts
 *           (a daemon's helper servers follow the daemon's rules).
 *   none    not wrapped: the shim is removed from LD_PRELOAD in the
 *           environment the programs inherit.
 * The environment is changed here, before the program's main() (in a
 * dlopen()ed shim: while other threads may read it; set it at start-up).
 */
#define _GNU_SOURCE
#include "cpreload.h"
#include "cwrap.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <syslog.h>

static const char *captured[4];

/* LD_PRELOAD without the entries that name this object (by path, or by
 * file name as the loader searched for it). */
static void remove_self_from_preload(void)
{
    const char *list = getenv("LD_PRELOAD");
    const char *self, *base;
    Dl_info info;
    char *copy, *out, *word, *save = 0;
    size_t n;

    if (!list || !dladdr((const void *) remove_self_from_preload, &info) || !info.dli_fname)
        return;
    self = info.dli_fname;
    base = strrchr(self, '/') ? strrchr(self, '/') + 1 : self;
    n = strlen(list);
    copy = strdup(list);
    out = calloc(n + 1, 1);
    if (!copy || !out) {
        free(copy);
        free(out);
        return;
    }
    /* The loader splits LD_PRELOAD at blanks and colons. */
    for (word = strtok_r(copy, ": \t", &save); word; word = strtok_r(0, ": \t", &save)) {
        const char *wbase = strrchr(word, '/') ? strrchr(word, '/') + 1 : word;
        if (strcmp(word, self) == 0 || (strchr(word, '/') == 0 && strcmp(wbase, base) == 0))
            continue;
        if (*out)
            strcat(out, ":");
        strcat(out, word);
    }
    if (*out)
        setenv("LD_PRELOAD", out, 1);
    else
        unsetenv("LD_PRELOAD");
    free(copy);
    free(out);
}

static void apply_children_setting(void)
{
    const char *how = getenv("TCPWRAP_CHILDREN");

    if (!how || !*how || strcmp(how, "own") == 0)
        return;
    if (strcmp(how, "daemon") == 0) {
        if (!captured[CPRELOAD_DAEMON])
            setenv("TCPWRAP_DAEMON", program_invocation_short_name, 0);
    } else if (strcmp(how, "none") == 0) {
        remove_self_from_preload();
    } else {
        cwrap_syslog(LOG_WARNING, "warning: TCPWRAP_CHILDREN is not own, daemon or none: taken as own");
    }
}

__attribute__((constructor)) static void cpreload_capture(void)
{
    static const char *const names[4] = {
        "TCPWRAP_DAEMON", "TCPWRAP_HOSTS_ALLOW", "TCPWRAP_HOSTS_DENY", "TCPWRAP_LOG",
    };
    int i, saved = errno;

    if (!getauxval(AT_SECURE)) {
        for (i = 0; i < 4; i++) {
            const char *value = getenv(names[i]);
            if (value && *value)
                captured[i] = strdup(value);
        }
        if (captured[CPRELOAD_HOSTS_ALLOW] || captured[CPRELOAD_HOSTS_DENY])
            cwrap_set_tables(captured[CPRELOAD_HOSTS_ALLOW], captured[CPRELOAD_HOSTS_DENY]);
        if (captured[CPRELOAD_LOG])
            cwrap_set_log_path(captured[CPRELOAD_LOG]);
        apply_children_setting();
    }
    swrap_prepare();
    swrap_preload_prepare();
    cpreload_register_fork_handler();
    errno = saved;
}

/* At dlclose() (see cwrap_unload in CWrap): the shim's globals and the
 * settings' copies are given back. */
__attribute__((destructor)) static void cpreload_release(void)
{
    int i;

    if (!cwrap_may_release())
        return;
    swrap_preload_release();
    for (i = 0; i < 4; i++)
        free((char *) captured[i]);
}

const char *cpreload_setting(enum cpreload_setting_name name)
{
    return (unsigned) name < 4 ? captured[name] : 0;
}
