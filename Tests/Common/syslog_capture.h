/*
 * syslog_capture.h - the syslog functions, interposed: a test program that
 * calls libwrap sees every line the library logs, and nothing reaches the
 * system's log.
 *
 * Include it once, in the program's only source file, and define there
 *
 *     static void capture(int priority, const char *format, va_list ap);
 *
 * which receives each line (what it does with it is the program's affair:
 * keep it in memory, write it to a file). syslog(), vsyslog() and glibc's
 * _FORTIFY_SOURCE forms __syslog_chk() and __vsyslog_chk() hand it the line
 * with errno as the caller left it (for %m) and put errno back afterwards,
 * as the real syslog does; openlog(), closelog() and setlogmask() do
 * nothing.
 *
 * A library loaded later binds to these definitions only if the program
 * exports them: a program that does not call syslog itself is linked with
 * -rdynamic, or with the library it tests (-lwrap), whose references to
 * syslog then resolve here.
 */
#ifndef TESTS_SYSLOG_CAPTURE_H
#define TESTS_SYSLOG_CAPTURE_H

#include <errno.h>
#include <stdarg.h>

static void capture(int priority, const char *format, va_list ap);

void vsyslog(int priority, const char *format, va_list ap)
{
    int saved_errno = errno;

    capture(priority, format, ap);
    errno = saved_errno;
}

void syslog(int priority, const char *format, ...)
{
    va_list ap;
    int saved_errno = errno;

    va_start(ap, format);
    capture(priority, format, ap);
    va_end(ap);
    errno = saved_errno;
}

void __vsyslog_chk(int priority, int flag, const char *format, va_list ap)
{
    (void) flag;
    vsyslog(priority, format, ap);
}

void __syslog_chk(int priority, int flag, const char *format, ...)
{
    va_list ap;
    int saved_errno = errno;

    (void) flag;
    va_start(ap, format);
    capture(priority, format, ap);
    va_end(ap);
    errno = saved_errno;
}

void openlog(const char *ident, int option, int facility)
{
    (void) ident;
    (void) option;
    (void) facility;
}

void closelog(void)
{
}

int setlogmask(int mask)
{
    (void) mask;
    return 0xff;
}

#endif
