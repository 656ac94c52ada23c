/*
 * capture.c - copy the shim's settings from the environment at load time.
 * (A constructor is C's; Swift has none.) The work is four getenv() calls.
 */
#include "cpreload.h"

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

    if (getauxval(AT_SECURE))
        return;
    for (i = 0; i < 4; i++) {
        const char *value = getenv(names[i]);
        if (value && *value)
            captured[i] = strdup(value);
    }
}

const char *cpreload_setting(enum cpreload_setting_name name)
{
    return (unsigned) name < 4 ? captured[name] : 0;
}
