/*
 * cpreload.h - the shim's settings, captured when it is loaded.
 *
 * Daemons may clear their environment before they accept (nginx does, in
 * its workers), so the TCPWRAP_* variables are copied at load time, in a
 * constructor that does nothing else. They are ignored in setuid and setgid
 * programs (AT_SECURE).
 */
#ifndef CPRELOAD_H
#define CPRELOAD_H

enum cpreload_setting_name {
    CPRELOAD_DAEMON,       /* TCPWRAP_DAEMON */
    CPRELOAD_HOSTS_ALLOW,  /* TCPWRAP_HOSTS_ALLOW */
    CPRELOAD_HOSTS_DENY,   /* TCPWRAP_HOSTS_DENY */
    CPRELOAD_LOG,          /* TCPWRAP_LOG */
};

/* The value captured at load time, or 0. */
const char *cpreload_setting(enum cpreload_setting_name name);

/* Builds the shim's Swift globals (settings, real symbols, caches) once the
 * settings are captured (Sources/WrapPreload/Startup.swift). */
void swrap_preload_prepare(void);

#endif
