/*
 * harness.c - differential conformance harness for libwrap (TCP Wrappers).
 *
 * Uses only the public libwrap API from <tcpd.h>; link with -lwrap.
 * The same binary is run against Debian's libwrap.so.0 and against a
 * reimplementation simply by setting LD_LIBRARY_PATH.
 *
 * Build:  cc -O1 -Wall -o harness harness.c -lwrap -rdynamic
 *   (-rdynamic makes sure our syslog interposers are exported even for
 *    symbols the build-time libwrap does not reference.)
 *
 * Input (stdin): one case per line, 14 TAB-separated columns:
 *   id mode allow deny daemon user cname caddr cport sname saddr sport dry fork
 *   mode  = req | sin | ctl
 *   "-"   = not given;  "\e" = the empty string
 *   escapes inside fields: \\ \t \n \r \xHH
 *   req : request_init(RQ_DAEMON.., RQ_USER.., RQ_CLIENT_NAME.., RQ_CLIENT_ADDR..,
 *                      RQ_SERVER_NAME.., RQ_SERVER_ADDR..)  (only the given ones)
 *   sin : caddr (+cport) becomes RQ_CLIENT_SIN (AF_INET6 if it contains ':');
 *         saddr becomes RQ_SERVER_SIN if sport is given, else RQ_SERVER_ADDR;
 *         cname/sname/user/daemon as in req; then sock_methods(&req).
 *   ctl : hosts_ctl(daemon, cname, caddr, user); "-" is passed as "unknown".
 *   dry = 1 or 0 (value of dry_run before the call; "-" means 1)
 *   fork = 1: run this case in a forked child (for rules whose options change
 *          process credentials even in dry-run mode: Debian's "user"/"group"
 *          options really call setuid()/setgid()); "-" or 0: run in-process.
 *   Lines that are empty or start with '#' are ignored.
 *
 * Output (stdout): one line per case, 9 TAB-separated columns:
 *   id verdict matched dry_run allow_severity deny_severity rfc931_timeout umask msgs
 *   If a forked child dies abnormally: "id CRASH <status>".
 *   If an in-process case changes uid/gid, the harness aborts (exit 3).
 *   matched = "FILE:LINE" from the last "matched:  FILE line N" debug message, or "-"
 *   umask   = octal, e.g. 022
 *   msgs    = "PRI:text" for every syslog call during the case, joined by " | ",
 *             "-" if none. In text: \ -> \\, TAB -> \t, LF -> \n, CR -> \r,
 *             '|' -> \|, other bytes < 0x20 or >= 0x7f -> \xHH.
 */
#define _GNU_SOURCE
#include <tcpd.h>
#include <syslog.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include "../Common/syslog_capture.h"

/* The library declares these weak; the application is expected to own them. */
int allow_severity = LOG_INFO;
int deny_severity = LOG_WARNING;

/* ------------------------------------------------------------------ */
/* syslog capture                                                      */

static char *msgbuf;
static size_t msglen, msgcap;
static int nmsgs;
static char matched[4096];

static void buf_add(const char *s, size_t n)
{
    if (msglen + n + 1 > msgcap) {
        while (msglen + n + 1 > msgcap)
            msgcap = msgcap ? msgcap * 2 : 8192;
        msgbuf = realloc(msgbuf, msgcap);
        if (!msgbuf) { perror("realloc"); exit(2); }
    }
    memcpy(msgbuf + msglen, s, n);
    msglen += n;
    msgbuf[msglen] = 0;
}

static void buf_add_escaped(const char *s)
{
    char tmp[8];
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '\\': buf_add("\\\\", 2); break;
        case '\t': buf_add("\\t", 2); break;
        case '\n': buf_add("\\n", 2); break;
        case '\r': buf_add("\\r", 2); break;
        case '|':  buf_add("\\|", 2); break;
        default:
            if (*p < 0x20 || *p >= 0x7f) {
                snprintf(tmp, sizeof tmp, "\\x%02x", *p);
                buf_add(tmp, 4);
            } else {
                buf_add((const char *)p, 1);
            }
        }
    }
}

static void capture(int pri, const char *fmt, va_list ap)
{
    char text[16384];
    char head[32];
    const char *m;

    /* glibc's vsnprintf understands %m (uses errno), as syslog does */
    vsnprintf(text, sizeof text, fmt, ap);
    if (nmsgs++)
        buf_add(" | ", 3);
    snprintf(head, sizeof head, "%d:", pri);
    buf_add(head, strlen(head));
    buf_add_escaped(text);

    if ((m = strstr(text, "matched:  ")) == text) {
        /* "matched:  FILE line N" */
        const char *file = text + 10;
        const char *ln = strstr(file, " line ");
        const char *last = ln;
        while (last && (ln = strstr(last + 1, " line ")) != 0)
            last = ln;
        if (last) {
            snprintf(matched, sizeof matched, "%.*s:%s",
                     (int)(last - file), file, last + 6);
        } else {
            snprintf(matched, sizeof matched, "%.4000s", file);
        }
    }
}

/* ------------------------------------------------------------------ */
/* input parsing                                                       */

#define NCOLS 14
enum { C_ID, C_MODE, C_ALLOW, C_DENY, C_DAEMON, C_USER, C_CNAME, C_CADDR,
       C_CPORT, C_SNAME, C_SADDR, C_SPORT, C_DRY, C_FORK };

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decode a field in place; returns NULL for "-" (not given). */
static char *decode(char *f)
{
    char *r = f, *w = f;
    if (strcmp(f, "-") == 0)
        return NULL;
    if (strcmp(f, "\\e") == 0) {
        f[0] = 0;
        return f;
    }
    while (*r) {
        if (*r == '\\' && r[1]) {
            r++;
            switch (*r) {
            case 't': *w++ = '\t'; r++; break;
            case 'n': *w++ = '\n'; r++; break;
            case 'r': *w++ = '\r'; r++; break;
            case '\\': *w++ = '\\'; r++; break;
            case 'x':
                if (hexval(r[1]) >= 0 && hexval(r[2]) >= 0) {
                    *w++ = (char)(hexval(r[1]) * 16 + hexval(r[2]));
                    r += 3;
                    break;
                }
                /* FALLTHROUGH */
            default: *w++ = '\\'; *w++ = *r++; break;
            }
        } else {
            *w++ = *r++;
        }
    }
    *w = 0;
    return f;
}

static int make_sin(const char *addr, const char *port,
                    struct sockaddr_storage *ss)
{
    int p = port ? atoi(port) : 0;
    memset(ss, 0, sizeof *ss);
    if (strchr(addr, ':')) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(p);
        return inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1 ? 0 : -1;
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons(p);
        return inet_pton(AF_INET, addr, &s4->sin_addr) == 1 ? 0 : -1;
    }
}

static char unknown_str[] = "unknown";
static int initial_resident;
static int reset_resident = 1;

static void run_case(const char *id, char **col)
{
    int verdict, dry;
    mode_t um;
    struct request_info req;
    struct sockaddr_storage css, sss;

    /* reset global state */
    msglen = 0;
    if (msgbuf) msgbuf[0] = 0;
    nmsgs = 0;
    matched[0] = 0;
    hosts_allow_table = col[C_ALLOW] ? col[C_ALLOW] : (char *)"/nonexistent/hosts.allow";
    hosts_deny_table = col[C_DENY] ? col[C_DENY] : (char *)"/nonexistent/hosts.deny";
    hosts_access_verbose = 2;
    dry = col[C_DRY] ? atoi(col[C_DRY]) : 1;
    dry_run = dry;
    allow_severity = LOG_INFO;
    deny_severity = LOG_WARNING;
    rfc931_timeout = 10;
    if (reset_resident)
        resident = initial_resident;
    umask(022);

    if (col[C_MODE] && strcmp(col[C_MODE], "ctl") == 0) {
        verdict = hosts_ctl(col[C_DAEMON] ? col[C_DAEMON] : unknown_str,
                            col[C_CNAME] ? col[C_CNAME] : unknown_str,
                            col[C_CADDR] ? col[C_CADDR] : unknown_str,
                            col[C_USER] ? col[C_USER] : unknown_str);
    } else {
        int sin = col[C_MODE] && strcmp(col[C_MODE], "sin") == 0;
        /* collect (key, value) pairs, then one request_init() call */
        int nk = 0;
        int keys[8] = {0};
        void *vals[8] = {0};
#define ADD(k, v) do { keys[nk] = (k); vals[nk] = (void *)(v); nk++; } while (0)
        if (col[C_DAEMON])
            ADD(RQ_DAEMON, col[C_DAEMON]);
        if (col[C_USER])
            ADD(RQ_USER, col[C_USER]);
        if (col[C_CNAME])
            ADD(RQ_CLIENT_NAME, col[C_CNAME]);
        if (col[C_CADDR]) {
            if (sin) {
                if (make_sin(col[C_CADDR], col[C_CPORT], &css) != 0) {
                    fprintf(stderr, "harness: bad client address %s\n", col[C_CADDR]);
                    exit(2);
                }
                ADD(RQ_CLIENT_SIN, &css);
            } else {
                ADD(RQ_CLIENT_ADDR, col[C_CADDR]);
            }
        }
        if (col[C_SNAME])
            ADD(RQ_SERVER_NAME, col[C_SNAME]);
        if (col[C_SADDR]) {
            if (sin && col[C_SPORT]) {
                if (make_sin(col[C_SADDR], col[C_SPORT], &sss) != 0) {
                    fprintf(stderr, "harness: bad server address %s\n", col[C_SADDR]);
                    exit(2);
                }
                ADD(RQ_SERVER_SIN, &sss);
            } else {
                ADD(RQ_SERVER_ADDR, col[C_SADDR]);
            }
        }
#undef ADD
        /* a 0 key terminates the list; trailing pairs are never read */
        request_init(&req, keys[0], vals[0], keys[1], vals[1], keys[2], vals[2],
                     keys[3], vals[3], keys[4], vals[4], keys[5], vals[5],
                     keys[6], vals[6], 0);
        if (sin)
            sock_methods(&req);
        verdict = hosts_access(&req);
    }

    um = umask(022);
    printf("%s\t%d\t%s\t%d\t%d\t%d\t%d\t%03o\t%s\n",
           id, verdict, matched[0] ? matched : "-", dry_run,
           allow_severity, deny_severity, rfc931_timeout, (unsigned)um,
           nmsgs ? msgbuf : "-");
    fflush(stdout);
}

int main(int argc, char **argv)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    uid_t uid0 = getuid();
    gid_t gid0 = getgid();

    initial_resident = resident;

    (void)argc; (void)argv;
    if (getenv("HARNESS_KEEP_RESIDENT"))
        reset_resident = 0;

    while ((n = getline(&line, &cap, stdin)) > 0) {
        char *col[NCOLS];
        char *p = line, *id;
        int i;

        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = 0;
        if (n == 0 || line[0] == '#')
            continue;
        for (i = 0; i < NCOLS; i++) {
            col[i] = p;
            p = strchr(p, '\t');
            if (p)
                *p++ = 0;
            else if (i < NCOLS - 1) {
                fprintf(stderr, "harness: bad case line (need %d columns): %s\n",
                        NCOLS, line);
                exit(2);
            } else
                break;
        }
        id = col[C_ID];
        for (i = 1; i < NCOLS; i++)
            col[i] = decode(col[i]);

        if (col[C_FORK] && strcmp(col[C_FORK], "1") == 0) {
            pid_t pid;
            int status;
            fflush(stdout);
            pid = fork();
            if (pid < 0) {
                perror("harness: fork");
                exit(2);
            }
            if (pid == 0) {
                run_case(id, col);
                fflush(stdout);
                _exit(0);
            }
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
            if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0))
                printf("%s\tCRASH\t%d\n", id, status);
        } else {
            run_case(id, col);
            if (getuid() != uid0 || geteuid() != uid0 || getgid() != gid0 || getegid() != gid0) {
                fflush(stdout);
                fprintf(stderr, "harness: case %s changed process credentials; "
                        "mark it fork=1\n", id);
                exit(3);
            }
        }
        fflush(stdout);
    }
    free(line);
    return 0;
}
