/*
 * capture.c - take the shim's settings from the environment at load time,
 * and put the table paths and log file in force at once, before any thread
 * of the daemon can ask (an inetd-launched daemon may never pass a hook).
 * (A constructor is C's; Swift has none.) The work is four getenv() calls,
 * then every Swift global of the shim is built (see Startup.swift).
 */
#include "cpreload.h"
#include "cwrap.h"

#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>

static const char *captured[4];

__attribute__((constructor)) static void cpreload_capture(void)
{
    static const char *const names[4] = {
        "TCPWRAP_DAEMON", "TCPWRAP_HOSTS_ALLOW", "TCPWRAP_HOSTS_DENY", "TCPWRAP_LOG",
    };
    int i;

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
    }
    swrap_prepare();
    swrap_preload_prepare();
}

const char *cpreload_setting(enum cpreload_setting_name name)
{
    return (unsigned) name < 4 ? captured[name] : 0;
}
