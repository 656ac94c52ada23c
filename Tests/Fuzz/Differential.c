/*
 * Differential.c - the libFuzzer target "differential": random tables and
 * requests through Debian's libwrap and ours, in one process; any
 * disagreement is a finding.
 *
 * scripts/fuzz builds it (clang -fsanitize=fuzzer,address) and a copy of
 * our libwrap.so.0 compiled with AddressSanitizer and libFuzzer's coverage
 * instrumentation (.build-fuzz/lib): the fuzzer is guided by the coverage
 * of our engine (and of this decoder), not of Debian's.
 *
 * Two libraries in one process: each is dlopen()ed with RTLD_LOCAL, and
 * this program is not linked with -lwrap, so no symbol of libwrap is in the
 * global scope; a library's references to its own data (hosts_allow_table,
 * dry_run...) and functions therefore bind to itself (checked at start:
 * the two copies of each data symbol differ). RTLD_DEEPBIND is not used: it
 * would bind the libraries' syslog calls to libc's, past the capture below.
 *
 * Input: the first byte picks the form.
 *   structured (byte & 3 != 3): the bytes are read as choices from a
 *     vocabulary like Tests/Conformance/gen.py's: a request (daemon, client
 *     address and name, user, server name and address, hosts_ctl or
 *     request_init + request_set), up to three /file lists (each may name
 *     earlier ones: no cycles), an allow and a deny table (rules with
 *     daemon and client lists, EXCEPT, daemon@host, user@host, options,
 *     comments, blank lines, lines without a colon, continuation lines,
 *     raw bytes, lines around the 2048-byte limit, CRLF, a missing final
 *     newline). Bytes run out: every later choice is 0.
 *   raw (byte & 3 == 3): 8 request bytes, then the allow table's text, the
 *     bytes FF FE, the deny table's text (the seeds are the conformance
 *     corpus' tables in this form).
 * Each table and list is written to a fresh file name (our library keeps
 * compiled tables by path and stat(); a reused name could be seen stale
 * within one mtime tick) and removed after the execution.
 *
 * Compared, after each call: the verdict, every syslog line (text and
 * priority; hosts_access_verbose = 2 adds the "matched:" line), dry_run,
 * allow_severity, deny_severity, rfc931_timeout, the umask, and the
 * variables setenv added to the environment. A difference aborts with both
 * results, the tables and the request.
 *
 * Left out, on purpose (each either unsafe in Debian, a documented
 * deviation in README.md, or reaching outside the process):
 *   - user and group options (Debian changes the process's ids even in a
 *     dry run): inputs whose tables contain "user" or "group" in any case
 *     are skipped;
 *   - %-expansion past Debian's buffer (Debian sleeps 5 s and exit(0)s; we
 *     refuse): structured tables hold at most 16 % letters, raw tables are
 *     skipped past 16 '%' or 4,000 bytes;
 *   - /file lists that name themselves (Debian recurses until the stack
 *     overflows) and FIFOs/devices as files (Debian hangs): structured lists
 *     name only earlier lists; a raw table is skipped when a pattern or an
 *     option value could start with '/' (conformance paths /etc/tcpw/... are
 *     rewritten into a directory that does not exist);
 *   - patterns with more than three '*' in a word (Debian's wildcard match
 *     backtracks exponentially: a hang); such inputs are skipped;
 *   - commands: dry_run is 1, so spawn, twist and aclexec run nothing;
 *   - lookups: no sockaddr is given (no sock_methods), so host names and
 *     users come only from the request, no DNS or ident is asked; netgroups
 *     go through the host's nsswitch (no NIS domain here: nothing matches).
 *
 * Also checked: no file descriptor is left open (every 1,024 executions),
 * memory through -rss_limit_mb, leaks through AddressSanitizer.
 *
 * Environment: DIFF_DEBIAN (default /lib/x86_64-linux-gnu/libwrap.so.0),
 * DIFF_OURS (default .build-fuzz/lib/libwrap.so.0), TMPDIR (default /dev/shm),
 * DIFF_SHOW (print each execution's tables and result).
 */
#define _GNU_SOURCE
#include "../../Include/tcpd.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "../Common/syslog_capture.h"

extern char **environ;

/* ------------------------------------------------------------------ */
/* syslog capture: both libraries call the functions of                */
/* syslog_capture.h (exported with -rdynamic), which hand lines here    */

static char msgs[1 << 16];
static size_t msglen;

static void msg_add(const char *s, size_t n)
{
    if (msglen + n >= sizeof(msgs))
        n = sizeof(msgs) - 1 - msglen;
    memcpy(msgs + msglen, s, n);
    msglen += n;
    msgs[msglen] = 0;
}

static void capture(int pri, const char *fmt, va_list ap)
{
    char text[16384], head[16];
    int n;

    vsnprintf(text, sizeof(text), fmt, ap);
    n = snprintf(head, sizeof(head), "%d:", pri);
    msg_add(head, (size_t) n);
    msg_add(text, strlen(text));
    msg_add("\n", 1);
}

/* ------------------------------------------------------------------ */
/* the two libraries                                                     */

struct lib {
    const char *name;
    char **allow_table, **deny_table;
    int *verbose, *dry_run, *allow_severity, *deny_severity, *rfc931_timeout, *resident;
    int resident0;
    int (*hosts_access)(struct request_info *);
    int (*hosts_ctl)(char *, char *, char *, char *);
    struct request_info *(*request_init)(struct request_info *, ...);
    struct request_info *(*request_set)(struct request_info *, ...);
};

static struct lib libs[2];

static void *need(void *handle, const char *lib, const char *symbol)
{
    void *p = dlsym(handle, symbol);
    if (!p) {
        fprintf(stderr, "differential: %s has no %s\n", lib, symbol);
        exit(2);
    }
    return p;
}

static void lib_open(struct lib *l, const char *name, const char *path)
{
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "differential: %s\n", dlerror());
        exit(2);
    }
    l->name = name;
    l->allow_table = need(h, path, "hosts_allow_table");
    l->deny_table = need(h, path, "hosts_deny_table");
    l->verbose = need(h, path, "hosts_access_verbose");
    l->dry_run = need(h, path, "dry_run");
    l->allow_severity = need(h, path, "allow_severity");
    l->deny_severity = need(h, path, "deny_severity");
    l->rfc931_timeout = need(h, path, "rfc931_timeout");
    l->resident = need(h, path, "resident");
    l->resident0 = *l->resident;
    l->hosts_access = need(h, path, "hosts_access");
    l->hosts_ctl = need(h, path, "hosts_ctl");
    l->request_init = need(h, path, "request_init");
    l->request_set = need(h, path, "request_set");
}

/* ------------------------------------------------------------------ */
/* decoding                                                              */

struct in {
    const uint8_t *p;
    size_t n;
};

static unsigned take(struct in *in)
{
    if (in->n == 0)
        return 0;
    in->n--;
    return *in->p++;
}

#define PICK(in, v) ((v)[take(in) % (sizeof(v) / sizeof((v)[0]))])

struct buf {
    char s[1 << 15];
    size_t len;
};

static void put(struct buf *b, const char *s)
{
    size_t n = strlen(s);
    if (b->len + n >= sizeof(b->s))
        n = sizeof(b->s) - 1 - b->len;
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

static void putn(struct buf *b, const char *s, size_t n)
{
    if (b->len + n >= sizeof(b->s))
        n = sizeof(b->s) - 1 - b->len;
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

static char dir[256];             /* this run's scratch directory */
static unsigned long serial;      /* fresh file names */
static char lists[3][300];        /* this execution's /file lists */
static int nlists;
static int percent_budget;        /* % letters left in this table */

/* The request. "-" as a vocabulary entry: not given. */
static const char *const r_daemons[] = {
    "sshd", "in.ftpd", "SSHD", "ftpd", "in.telnetd", "22", "x", "", "ALL", "rpcbind",
    "ssh d", "a@b", "-",
    ("dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
    "dddddddddddddddddddddddddddddddddddddddddddddddddddddd"),
};
static const char *const r_addrs[] = {
    "10.0.0.1", "10.0.0.255", "10.1.2.3", "192.168.1.10", "127.0.0.1", "0.0.0.0",
    "255.255.255.255", "::1", "2001:db8::5", "2001:DB8:0:0::5", "::ffff:10.0.0.2",
    "::ffff:127.0.0.1", "fe80::1", "unknown", "", "paranoid", "10.0.0", "1.2.3.4.5",
    "010.000.000.001", "10.0.0.1.", "abc", "10.0.0.256", "[::1]", "::", "-", "172.16.5.5",
    "2001:db8::", "::10.0.0.1",
};
static const char *const r_names[] = {
    "alpha.example.com", "Alpha.Example.COM", "beta", "localhost", "unknown", "paranoid", "",
    "host.sub.example.org", "alpha.example.com.", "10.0.0.1", "a..b", "x.example", "UNKNOWN",
    "ALPHA", "-", "-", "beta.example.com", "*", "h\xe9llo.example.com", "example.com",
    "xexample.com",
    ("llllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllll"
    "llllllllllllllllllllllllllllllllllllllllllllllllll.example.com"),
};
static const char *const r_users[] = {
    "unknown", "bob", "root", "", "Bob", "alice", "-", "-", "x@y", "UNKNOWN", "nobody",
};
static const char *const r_snames[] = { "srv", "srv.example.com", "unknown", "", "-", "-", "gamma" };
static const char *const r_saddrs[] = { "10.0.0.9", "10.0.0.254", "::1", "unknown", "-", "-", "127.0.0.1" };

struct request {
    int ctl;                      /* hosts_ctl, else request_init/request_set */
    int split;                    /* keys after this many go through request_set */
    const char *daemon, *addr, *name, *user, *sname, *saddr;
};

static void decode_request(struct in *in, struct request *r)
{
    unsigned how = take(in);
    r->ctl = how & 1;
    r->split = (int) (how >> 1) % 7;
    r->daemon = PICK(in, r_daemons);
    r->addr = PICK(in, r_addrs);
    r->name = PICK(in, r_names);
    r->user = PICK(in, r_users);
    r->sname = PICK(in, r_snames);
    r->saddr = PICK(in, r_saddrs);
}

/* Patterns. FILE stands for a /file list: one of this execution's, a
 * missing one or the scratch directory. */
static const char *const p_clients[] = {
    "ALL", "LOCAL", "KNOWN", "UNKNOWN", "PARANOID", "all", "Known", "unknown", "paranoid", "Local",
    "10.0.0.1", "10.0.0.", "10.", "192.168.", "127.", "10..", "10.0.0.1.", "1.",
    "10.0.0.0/255.255.255.0", "10.0.0.0/255.0.0.0", "10.0.0.1/255.255.255.255",
    "10.0.0.0/24", "10.0.0.0/8", "10.0.0.0/33", "10.0.0.0/255.255.0.255", "0.0.0.0/0",
    "10.0.0.0/abc", "10.0.0/24", "10.0.0.0/ 24", "192.168.1.0/255.255.255.248",
    "[2001:db8::]/32", "[2001:db8::5]", "[::1]", "[::ffff:10.0.0.2]", "[::ffff:10.0.0.0]/104",
    "[2001:db8::]/129", "[fe80::1]", "[::1", "[]", "[::1]/", "[zz::]/64", "[::]/0",
    "2001:db8::5", "::1", "::ffff:10.0.0.2", "::ffff:127.0.0.1",
    ".example.com", ".com", ".EXAMPLE.com", ".", "..example.com", ".example.com.", ".xample.com",
    "example.com", "alpha.example.com", "Alpha.Example.COM", "alpha", "beta", "localhost",
    "host.sub.", "alpha.",
    "*.example.com", "10.0.0.*", "alp?a", "?", "*", "*.*", "10.*.*.1", "*:*", ".*.com", "10.0.0.?",
    "bob@ALL", "ALL@ALL", "root@alpha", "unknown@ALL", "KNOWN@ALL", "UNKNOWN@10.0.0.1",
    "b?b@ALL", "*@LOCAL", "@ng1@alpha", "Bob@.example.com", "bob@10.0.0.0/8",
    "@ng1", "@ng2", "@", "ALL@", "@ALL", "a@b@c",
    "junk!", "\\", "#", "x#y", "=", "LOCALHOST", "ALLx", "caf\xc3\xa9", "\xff",
    "FILE", "FILE", "FILE", "FILE",
};
static const char *const p_daemons[] = {
    "ALL", "sshd", "SSHD", "in.ftpd", "ftpd", "in.telnetd", "ssh*", "*d", "in.*", "?shd", "*",
    "22", "022", "99999", "-1", "x", "rpcbind", "LOCAL", "KNOWN", "UNKNOWN", "PARANOID",
    "ALL@10.0.0.9", "sshd@10.0.0.9", "sshd@srv", "ALL@.example.com", "sshd@ALL", "sshd@KNOWN",
    "sshd@LOCAL", "ALL@[::1]", "sshd@10.0.0.0/255.0.0.0", "sshd@UNKNOWN", "ALL@srv.example.com",
    "sshd@", "@", "@ng1", "sshd.", ".telnetd", "sshd@FILE", "ALL@FILE",
    "FILE", "FILE",
};
static const char *const p_seps[] = { " ", " ", ",", ", ", "\t", " , ", ",,", "  ", ", \t" };
static const char *const p_except[] = { " EXCEPT ", " EXCEPT ", " except ", " Except ", "\tEXCEPT\t" };

/* Options, with the number of % letters each holds. DIR: the scratch directory. */
static const struct { const char *text; int percents; } options[] = {
    { "allow", 0 }, { "deny", 0 }, { "ALLOW", 0 }, { "DENY", 0 }, { "allow yes", 0 }, { "deny %a", 1 },
    { "severity auth.info", 0 }, { "severity LOCAL0.Info", 0 }, { "severity notice", 0 },
    { "severity mail.bogus", 0 }, { "severity 3", 0 }, { "severity", 0 }, { "severity=auth.info", 0 },
    { "severity panic", 0 }, { "severity mail.", 0 }, { "severity local8.info", 0 },
    { "rfc931", 0 }, { "rfc931 5", 0 }, { "rfc931 0", 0 }, { "rfc931 abc", 0 }, { "rfc931=7", 0 },
    { "umask 077", 0 }, { "umask 022", 0 }, { "umask 999", 0 }, { "umask", 0 }, { "umask 07 7", 0 },
    { "setenv FOO %h", 1 }, { "setenv BAR x  y ", 0 }, { "setenv FOO", 0 }, { "setenv  TCPW_X  %a %u ", 2 },
    { "setenv FOO a\\:b\\\\:c", 0 }, { "setenv=BAR %c", 1 },
    { "nice", 0 }, { "nice 5", 0 }, { "nice x", 0 },
    { "keepalive", 0 }, { "keepalive 5", 0 }, { "linger 5", 0 }, { "linger", 0 }, { "linger abc", 0 },
    { "banners DIR/nob", 0 }, { "banners DIR", 0 }, { "banners", 0 },
    { "spawn /bin/true %a", 1 }, { "spawn (echo %c) &", 1 }, { "spawn", 0 },
    { "twist /bin/echo %d %u", 2 }, { "twist", 0 }, { "TWIST echo %h", 1 },
    { "aclexec /bin/false", 0 }, { "aclexec /bin/true %n", 1 },
    { "spawn echo %a%A%c%d%h%H%n%N%p%r%R%s%u%%", 14 }, { "spawn echo %z %Q % %%%", 4 },
    { "nosuchopt", 0 }, { "allowx", 0 }, { "", 0 }, { " ", 0 }, { "=", 0 }, { "= allow", 0 },
    { "allow deny", 0 }, { "\\:", 0 }, { "spawnx echo", 0 },
};

static void put_list(struct buf *b, struct in *in, const char *const *vocab, size_t nvocab, int depth)
{
    int n = 1 + (int) (take(in) % 3), i;

    for (i = 0; i < n; i++) {
        const char *item = vocab[take(in) % nvocab];
        const char *at;

        if (i)
            put(b, PICK(in, p_seps));
        if ((at = strstr(item, "FILE")) != 0) {
            unsigned k = take(in) % (unsigned) (nlists + 2);
            putn(b, item, (size_t) (at - item));
            if (k < (unsigned) nlists)
                put(b, lists[k]);
            else if (k == (unsigned) nlists)
                put(b, dir);
            else {
                put(b, dir);
                put(b, "/missing");
            }
        } else {
            put(b, item);
        }
    }
    if (depth < 3 && take(in) % 4 == 0) {
        put(b, PICK(in, p_except));
        put_list(b, in, vocab, nvocab, depth + 1);
    }
}

#define NCLIENTS (sizeof(p_clients) / sizeof(p_clients[0]))
#define NDAEMONS (sizeof(p_daemons) / sizeof(p_daemons[0]))

static void put_options(struct buf *b, struct in *in)
{
    static const char *const seps[] = { " : ", ":", " :", ": ", "\t:\t" };
    int n = 1 + (int) (take(in) % 3), i;

    for (i = 0; i < n; i++) {
        unsigned k = take(in) % (sizeof(options) / sizeof(options[0]));
        const char *text = options[k].text;
        const char *d;

        put(b, PICK(in, seps));
        if (options[k].percents > percent_budget)
            text = "allow";
        else
            percent_budget -= options[k].percents;
        if ((d = strstr(text, "DIR")) != 0) {
            putn(b, text, (size_t) (d - text));
            put(b, dir);
            put(b, d + 3);
        } else {
            put(b, text);
        }
    }
}

static void put_rule(struct buf *b, struct in *in, int with_options)
{
    put_list(b, in, p_daemons, NDAEMONS, 0);
    put(b, PICK(in, ((const char *const[]) { ": ", ":", " : ", "\t:\t" })));
    put_list(b, in, p_clients, NCLIENTS, 0);
    if (with_options)
        put_options(b, in);
}

/* One line of a table (with its newline). */
static void put_line(struct buf *b, struct in *in, const char *nl)
{
    static const size_t long_lengths[] = { 2045, 2046, 2047, 2048, 2049, 4095, 4096, 8190 };
    unsigned kind = take(in) % 16;
    size_t start = b->len;

    switch (kind) {
    default:                      /* a rule */
        put_rule(b, in, 0);
        break;
    case 6: case 7: case 8: case 9:
        put_rule(b, in, 1);
        break;
    case 10:                      /* a comment */
        put(b, PICK(in, ((const char *const[]) { "#", "# sshd: ALL", " # indented", "\t#x", "#\\" })));
        break;
    case 11:                      /* blank */
        put(b, PICK(in, ((const char *const[]) { "", " ", "\t ", "  \t" })));
        break;
    case 12:                      /* broken */
        put_list(b, in, p_daemons, NDAEMONS, 0);
        put(b, PICK(in, ((const char *const[]) { " ", ":", ": ALL :", ":: ", " : ALL : " })));
        if (take(in) & 1)
            put_list(b, in, p_clients, NCLIENTS, 0);
        break;
    case 13:                      /* continued on the next line */
        put_list(b, in, p_daemons, NDAEMONS, 0);
        put(b, PICK(in, ((const char *const[]) { " \\", "\\", ": \\", ":\\" })));
        put(b, nl);
        put(b, PICK(in, ((const char *const[]) { ": ", "", "  ", "# x \\" })));
        put_list(b, in, p_clients, NCLIENTS, 0);
        break;
    case 14: {                    /* raw bytes: no %, no path */
        int n = (int) (take(in) % 24), i;
        for (i = 0; i < n && in->n; i++) {
            char c = (char) take(in);
            if (c == '%' || c == '/')
                c = '.';
            putn(b, &c, 1);
        }
        break;
    }
    case 15: {                    /* a rule padded to about the line limit */
        size_t want = long_lengths[take(in) % 8], have;
        put_list(b, in, p_daemons, NDAEMONS, 0);
        put(b, ":");
        have = b->len - start;
        while (have + 20 < want) {
            put(b, (take(in) & 1) ? " " : "\t");
            have++;
        }
        put_list(b, in, p_clients, NCLIENTS, 0);
        break;
    }
    }
    put(b, nl);
}

static void put_table(struct buf *b, struct in *in)
{
    int n = (int) (take(in) % 9), i;
    unsigned flags = take(in);
    const char *nl = (flags & 0x0f) == 0 ? "\r\n" : "\n";

    b->len = 0;
    b->s[0] = 0;
    percent_budget = 16;
    for (i = 0; i < n; i++)
        put_line(b, in, nl);
    if ((flags & 0x70) == 0 && b->len > 0)
        b->len--, b->s[b->len] = 0;       /* no final newline */
}

/* A /file list: patterns (clients or daemons), comments, earlier lists. */
static void put_file_list(struct buf *b, struct in *in)
{
    int n = (int) (take(in) % 5), i;

    b->len = 0;
    b->s[0] = 0;
    for (i = 0; i < n; i++) {
        unsigned kind = take(in) % 8;
        if (kind == 0)
            put(b, "# comment ALL");
        else if (kind < 6)
            put_list(b, in, p_clients, NCLIENTS, 3);
        else
            put_list(b, in, p_daemons, NDAEMONS, 3);
        put(b, PICK(in, ((const char *const[]) { "\n", "\n", " ", "\t", "\n\n" })));
    }
}

/* ------------------------------------------------------------------ */
/* files                                                                 */

static void write_file(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "w");
    if (!f || fwrite(text, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "differential: cannot write %s: %s\n", path, strerror(errno));
        abort();
    }
}

static int contains_ci(const char *s, size_t len, const char *word)
{
    size_t w = strlen(word), i;
    for (i = 0; i + w <= len; i++)
        if (strncasecmp(s + i, word, w) == 0)
            return 1;
    return 0;
}

/* A pattern with more than three '*': Debian's wildcard match backtracks
 * exponentially in the number of stars (80 stars against a daemon name:
 * no answer after 10 s; ours answers in a millisecond), so such tables
 * are skipped. Conservative: counts the stars of every word. */
static int too_wild(const char *s, size_t len)
{
    size_t i;
    int stars = 0;

    for (i = 0; i < len; i++) {
        if (s[i] == '*') {
            if (++stars > 3)
                return 1;
        } else if (strchr(" \t\r\n,", s[i]) || s[i] == 0) {
            stars = 0;
        }
    }
    return 0;
}

/* A raw table is safe for Debian and free of the left-out features. */
static int raw_ok(const char *s, size_t len)
{
    size_t i, percents = 0;

    if (len > 4000 || contains_ci(s, len, "user") || contains_ci(s, len, "group") || too_wild(s, len))
        return 0;
    for (i = 0; i < len; i++) {
        if (s[i] == '%')
            percents++;
        /* a '/' that could start a pattern (a /file list) or an option value (a path) */
        if (s[i] == '/' && (i == 0 || strchr(" \t\r\n,:@=\\", s[i - 1]) || s[i - 1] == 0))
            return 0;
    }
    return percents <= 16;
}

/* A structured table or list left nothing out (raw bytes may have spelt
 * "user" or stars). */
static int structured_ok(const struct buf *b)
{
    return !contains_ci(b->s, b->len, "user") && !contains_ci(b->s, b->len, "group") && !too_wild(b->s, b->len);
}

/* Copies raw table text, pointing the conformance corpus' /etc/tcpw/ paths
 * into a directory that does not exist (a path then cannot lead anywhere). */
static void put_raw(struct buf *b, const uint8_t *p, size_t n)
{
    static const char from[] = "/etc/tcpw/";
    size_t i = 0;

    b->len = 0;
    b->s[0] = 0;
    while (i < n) {
        if (n - i >= sizeof(from) - 1 && memcmp(p + i, from, sizeof(from) - 1) == 0) {
            put(b, "\x01ETC");    /* marker, replaced after the check */
            i += sizeof(from) - 1;
        } else {
            putn(b, (const char *) p + i, 1);
            i++;
        }
    }
}

static void unmark_raw(struct buf *b)
{
    char out[sizeof(b->s)];
    size_t i, o = 0;

    for (i = 0; i < b->len && o + 300 < sizeof(out); i++) {
        if (b->s[i] == '\x01' && strncmp(b->s + i + 1, "ETC", 3) == 0) {
            o += (size_t) snprintf(out + o, sizeof(out) - o, "%s/nonexistent-etc/", dir);
            i += 3;
        } else {
            out[o++] = b->s[i];
        }
    }
    memcpy(b->s, out, o);
    b->len = o;
    b->s[o] = 0;
}

/* ------------------------------------------------------------------ */
/* running one request through one library                              */

static int show;                  /* DIFF_SHOW set: print each execution */
static char **environ0;           /* the environment at start (names=values) */

static int in_environ0(const char *entry)
{
    char **e;
    for (e = environ0; *e; e++)
        if (strcmp(*e, entry) == 0)
            return 1;
    return 0;
}

static const char *given(const char *s) { return strcmp(s, "-") == 0 ? 0 : s; }
static char *or_unknown(const char *s) { return (char *) (given(s) ? s : "unknown"); }

static void run(struct lib *l, const struct request *r, const char *allow, const char *deny,
                char *result, size_t size)
{
    struct request_info req;
    int verdict, n, i;
    mode_t um;
    char **e;

    *l->allow_table = (char *) allow;
    *l->deny_table = (char *) deny;
    *l->verbose = 2;
    *l->dry_run = 1;
    *l->allow_severity = LOG_INFO;
    *l->deny_severity = LOG_WARNING;
    *l->rfc931_timeout = 10;
    *l->resident = l->resident0;
    umask(022);
    msglen = 0;
    msgs[0] = 0;

    if (r->ctl) {
        verdict = l->hosts_ctl(or_unknown(r->daemon), or_unknown(r->name), or_unknown(r->addr),
                               or_unknown(r->user));
    } else {
        int keys[6], nk = 0;
        const char *vals[6];
#define ADD(k, v) do { if (given(v)) { keys[nk] = (k); vals[nk] = (v); nk++; } } while (0)
        ADD(RQ_DAEMON, r->daemon);
        ADD(RQ_USER, r->user);
        ADD(RQ_CLIENT_NAME, r->name);
        ADD(RQ_CLIENT_ADDR, r->addr);
        ADD(RQ_SERVER_NAME, r->sname);
        ADD(RQ_SERVER_ADDR, r->saddr);
#undef ADD
        /* the first `split` keys through request_init, the rest through
         * request_set (a 0 key ends each list) */
        n = r->split < nk ? r->split : nk;
        {
            int k1[6] = { 0 }, k2[6] = { 0 };
            const char *v1[6] = { 0 }, *v2[6] = { 0 };
            for (i = 0; i < nk; i++) {
                if (i < n)
                    k1[i] = keys[i], v1[i] = vals[i];
                else
                    k2[i - n] = keys[i], v2[i - n] = vals[i];
            }
            l->request_init(&req, k1[0], v1[0], k1[1], v1[1], k1[2], v1[2], k1[3], v1[3],
                            k1[4], v1[4], k1[5], v1[5], 0);
            if (n < nk)
                l->request_set(&req, k2[0], v2[0], k2[1], v2[1], k2[2], v2[2], k2[3], v2[3],
                               k2[4], v2[4], k2[5], v2[5], 0);
        }
        verdict = l->hosts_access(&req);
    }
    um = umask(022);

    n = snprintf(result, size, "verdict %d dry_run %d severities %d %d rfc931 %d umask %03o\n",
                 verdict, *l->dry_run, *l->allow_severity, *l->deny_severity, *l->rfc931_timeout,
                 (unsigned) um);
    /* variables the call added or changed: reported, then put back as
     * they were (a name of any length; bounded, should one not go) */
    for (i = 0; i < 64; i++) {
        char *name, **o;
        size_t k;

        for (e = environ; *e && in_environ0(*e); e++)
            ;
        if (!*e)
            break;
        if ((size_t) n < size)
            n += snprintf(result + n, size - (size_t) n, "env %s\n", *e);
        k = strcspn(*e, "=");
        name = strndup(*e, k);
        for (o = environ0; *o; o++)
            if (strncmp(*o, name, k) == 0 && (*o)[k] == '=')
                break;
        if (*o)
            setenv(name, *o + k + 1, 1);
        else
            unsetenv(name);
        free(name);
    }
    if ((size_t) n < size)
        snprintf(result + n, size - (size_t) n, "%s", msgs);
}

/* ------------------------------------------------------------------ */

/* Open descriptors, pipes left out: the sanitizer opens two to its
 * symbolizer when libFuzzer names a newly covered function (the libraries
 * open pipes only to run commands, which a dry run does not). */
static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *ent;
    char path[300], target[300];
    int n = 0;

    if (!d)
        return -1;
    while ((ent = readdir(d)) != 0) {
        ssize_t k;
        if (ent->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "/proc/self/fd/%s", ent->d_name);
        k = readlink(path, target, sizeof(target) - 1);
        if (k > 5 && strncmp(target, "pipe:", 5) == 0)
            continue;
        n++;
    }
    closedir(d);
    return n;
}

/* Lists the open descriptors on stderr. */
static void show_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *ent;
    char path[300], target[300];
    ssize_t n;

    if (!d)
        return;
    while ((ent = readdir(d)) != 0) {
        if (ent->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "/proc/self/fd/%s", ent->d_name);
        n = readlink(path, target, sizeof(target) - 1);
        target[n > 0 ? n : 0] = 0;
        fprintf(stderr, "fd %s -> %s\n", ent->d_name, target);
    }
    closedir(d);
}

static void cleanup(void)
{
    if (dir[0])
        rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *debian = getenv("DIFF_DEBIAN");
    const char *ours = getenv("DIFF_OURS");
    const char *tmp = getenv("TMPDIR");
    size_t n = 0, i;
    (void) argc; (void) argv;

    lib_open(&libs[0], "Debian", debian ? debian : "/lib/x86_64-linux-gnu/libwrap.so.0");
    lib_open(&libs[1], "ours", ours ? ours : ".build-fuzz/lib/libwrap.so.0");
    /* each library must bind to its own data, not the other's */
    if (libs[0].allow_table == libs[1].allow_table || libs[0].dry_run == libs[1].dry_run
        || libs[0].allow_severity == libs[1].allow_severity) {
        fprintf(stderr, "differential: the two libraries share their data symbols\n");
        exit(2);
    }
    /* tmpfs by default: creating and removing files on ext4 took a fifth of the time */
    if (!tmp)
        tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(dir, sizeof(dir), "%s/tcpw-difffuzz-XXXXXX", tmp);
    if (!mkdtemp(dir)) {
        perror("differential: mkdtemp");
        exit(2);
    }
    atexit(cleanup);
    show = getenv("DIFF_SHOW") != 0;
    while (environ[n])
        n++;
    environ0 = calloc(n + 1, sizeof(char *));
    for (i = 0; i < n; i++)
        environ0[i] = strdup(environ[i]);
    return 0;
}

static struct buf allow_text, deny_text, list_text[3];
static char results[2][1 << 17];

/* Prints a table on stderr, other control bytes than TAB and LF and bytes
 * past ASCII as \xHH. */
static void show_text(const struct buf *b)
{
    size_t i;
    for (i = 0; i < b->len; i++) {
        unsigned char c = (unsigned char) b->s[i];
        if (c == '\n' || c == '\t' || (c >= 0x20 && c < 0x7f && c != '\\'))
            fputc(c, stderr);
        else
            fprintf(stderr, "\\x%02x", c);
    }
    fputc('\n', stderr);
}

static void finding(const char *why, const struct request *r, const char *allow, const char *deny)
{
    int i;
    fprintf(stderr, "\n==== differential: %s\n", why);
    fprintf(stderr, "request: %s daemon=%s client_addr=%s client_name=%s user=%s "
            "server_name=%s server_addr=%s (request_init with %d keys)\n",
            r->ctl ? "hosts_ctl" : "hosts_access", r->daemon, r->addr, r->name, r->user,
            r->sname, r->saddr, r->split);
    fprintf(stderr, "---- allow table %s:\n", allow);
    show_text(&allow_text);
    fprintf(stderr, "---- deny table %s:\n", deny);
    show_text(&deny_text);
    for (i = 0; i < nlists; i++) {
        fprintf(stderr, "---- list %s:\n", lists[i]);
        show_text(&list_text[i]);
    }
    fprintf(stderr, "---- Debian:\n%s\n---- ours:\n%s\n", results[0], results[1]);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int fds0 = -1;
    struct in in = { data, size };
    struct request r;
    char allow[300], deny[300];
    unsigned long id = ++serial;
    int i;

    if (size == 0)
        return 0;
    snprintf(allow, sizeof(allow), "%s/a%lu", dir, id);
    snprintf(deny, sizeof(deny), "%s/d%lu", dir, id);
    nlists = 0;
    if ((take(&in) & 3) == 3) {
        const uint8_t *sep = 0;
        size_t k;
        struct in req = { in.p, in.n < 8 ? in.n : 8 };
        decode_request(&req, &r);
        in.p += (in.n < 8 ? in.n : 8);
        in.n -= (in.n < 8 ? in.n : 8);
        for (k = 0; k + 1 < in.n; k++)
            if (in.p[k] == 0xff && in.p[k + 1] == 0xfe) {
                sep = in.p + k;
                break;
            }
        put_raw(&allow_text, in.p, sep ? (size_t) (sep - in.p) : in.n);
        put_raw(&deny_text, sep ? sep + 2 : in.p, sep ? in.n - (size_t) (sep - in.p) - 2 : 0);
        if (!raw_ok(allow_text.s, allow_text.len) || !raw_ok(deny_text.s, deny_text.len))
            return 0;
        unmark_raw(&allow_text);
        unmark_raw(&deny_text);
    } else {
        int n;
        decode_request(&in, &r);
        n = (int) (take(&in) % 4);
        for (i = 0; i < n; i++) {
            /* written before the tables, named by the lists after it */
            put_file_list(&list_text[i], &in);
            snprintf(lists[i], sizeof(lists[i]), "%s/f%lu-%d", dir, id, i);
            nlists = i + 1;
        }
        put_table(&allow_text, &in);
        put_table(&deny_text, &in);
        if (!structured_ok(&allow_text) || !structured_ok(&deny_text))
            return 0;
        for (i = 0; i < nlists; i++)
            if (!structured_ok(&list_text[i]))
                return 0;
    }
    for (i = 0; i < nlists; i++)
        write_file(lists[i], list_text[i].s, list_text[i].len);
    write_file(allow, allow_text.s, allow_text.len);
    write_file(deny, deny_text.s, deny_text.len);

    if (show) {
        fprintf(stderr, "---- request: %s daemon=%s client_addr=%s client_name=%s user=%s "
                "server_name=%s server_addr=%s\n", r.ctl ? "hosts_ctl" : "hosts_access", r.daemon,
                r.addr, r.name, r.user, r.sname, r.saddr);
        fprintf(stderr, "---- allow table:\n");
        show_text(&allow_text);
        fprintf(stderr, "---- deny table:\n");
        show_text(&deny_text);
        for (i = 0; i < nlists; i++) {
            fprintf(stderr, "---- list %s:\n", lists[i]);
            show_text(&list_text[i]);
        }
    }
    run(&libs[0], &r, allow, deny, results[0], sizeof(results[0]));
    run(&libs[1], &r, allow, deny, results[1], sizeof(results[1]));

    unlink(allow);
    unlink(deny);
    for (i = 0; i < nlists; i++)
        unlink(lists[i]);

    if (strcmp(results[0], results[1]) != 0)
        finding("the libraries disagree", &r, allow, deny);
    if (show)
        fprintf(stderr, "---- result (both):\n%s\n", results[0]);
    if (id % 1024 == 1) {
        int fds = count_fds();
        if (fds0 < 0)
            fds0 = fds;
        else if (fds > fds0) {
            char why[64];
            snprintf(why, sizeof(why), "descriptors grew from %d to %d", fds0, fds);
            show_fds();
            finding(why, &r, allow, deny);
        }
    }
    return 0;
}
