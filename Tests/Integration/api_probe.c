/*
 * api_probe.c - exercise the public libwrap API (tcpd.h) and print every
 * result, deterministically. Built once against our Include/tcpd.h + our
 * library and once against Debian's /usr/include/tcpd.h + libwrap0; the
 * outputs must be identical.
 *
 * Usage: api_probe TABLEDIR PORT
 *   TABLEDIR holds the tables named below; PORT is a free TCP port on
 *   127.0.0.1 (the RQ_FILE part accepts one connection from 127.0.0.2).
 * Expects /etc/hosts with 127.0.0.1 server.test, 127.0.0.2 client.test.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <tcpd.h>

extern jmp_buf tcpd_buf; /* documented in hosts_access(3), not in tcpd.h */

static char *tabledir;

static const char *show(const char *s) { return s ? s : "(null)"; }

static char *table(const char *name)
{
    static char buf[8][512];
    static int n;
    char *b = buf[n++ % 8];
    snprintf(b, 512, "%s/%s", tabledir, name);
    return b;
}

static void use_tables(const char *allow, const char *deny)
{
    hosts_allow_table = table(allow);
    hosts_deny_table = table(deny);
}

static void show_request(const char *tag, struct request_info *r)
{
    printf("%s: fd=%d daemon=[%s] user=[%s] pid_set=%d\n", tag, r->fd, r->daemon,
           r->user, r->pid[0] != 0);
    printf("%s: client name=[%s] addr=[%s] sin=%d back=%d\n", tag, r->client->name,
           r->client->addr, r->client->sin != 0, r->client->request == r);
    printf("%s: server name=[%s] addr=[%s] sin=%d back=%d\n", tag, r->server->name,
           r->server->addr, r->server->sin != 0, r->server->request == r);
}

static void show_evals(const char *tag, struct request_info *r)
{
    char pid[32];
    printf("%s: eval_daemon=[%s]\n", tag, eval_daemon(r));
    snprintf(pid, sizeof pid, "%d", (int) getpid());
    printf("%s: eval_pid is getpid: %d\n", tag, strcmp(eval_pid(r), pid) == 0);
    printf("%s: eval_hostaddr(client)=[%s]\n", tag, eval_hostaddr(r->client));
    printf("%s: eval_hostname(client)=[%s]\n", tag, eval_hostname(r->client));
    printf("%s: eval_hostinfo(client)=[%s]\n", tag, eval_hostinfo(r->client));
    printf("%s: eval_hostaddr(server)=[%s]\n", tag, eval_hostaddr(r->server));
    printf("%s: eval_hostname(server)=[%s]\n", tag, eval_hostname(r->server));
    printf("%s: eval_hostinfo(server)=[%s]\n", tag, eval_hostinfo(r->server));
    printf("%s: eval_user=[%s]\n", tag, eval_user(r));
    printf("%s: eval_client=[%s]\n", tag, eval_client(r));
    printf("%s: eval_server=[%s]\n", tag, eval_server(r));
}

static void show_percent(const char *tag, struct request_info *r)
{
    static char *patterns[] = {
        "%a|%A|%c|%d|%h|%H|%n|%N|%s|%u|%%",
        "literal only",
        "%x %q %", /* unknown and dangling */
        "shell `%u` $(%d) ;%h;",
        "100%% sure %a",
        0,
    };
    char buf[1024], small[STRING_LENGTH + 1];
    int i;
    for (i = 0; patterns[i]; i++) {
        char *res = percent_x(buf, sizeof buf, patterns[i], r);
        printf("%s: percent_x(%s)=[%s] same=%d\n", tag, patterns[i], res, res == buf);
    }
    /* (an expansion longer than the buffer makes libwrap sleep 5 s and exit) */
    percent_x(small, sizeof small, "%d", r);
    printf("%s: percent_x(fits)=[%s]\n", tag, small);
    {
        char pid[32];
        snprintf(pid, sizeof pid, "%d", (int) getpid());
        percent_x(buf, sizeof buf, "%p", r);
        printf("%s: percent_x(%%p) is pid: %d\n", tag, strcmp(buf, pid) == 0);
    }
}

static void access_matrix(const char *tag, struct request_info *r)
{
    static const char *pairs[][2] = {
        {"allow.basic", "deny.all"},
        {"allow.empty", "deny.all"},
        {"allow.empty", "deny.empty"},
        {"allow.names", "deny.all"},
        {"allow.except", "deny.all"},
        {"allow.user", "deny.all"},
        {"allow.server", "deny.all"},
        {"allow.options", "deny.all"},
        {"allow.badopt", "deny.all"},
        {"allow.syntax", "deny.all"},
        {"nonexistent", "nonexistent"},
        {"nonexistent", "deny.all"},
        {0, 0},
    };
    int i;
    for (i = 0; pairs[i][0]; i++) {
        use_tables(pairs[i][0], pairs[i][1]);
        dry_run = 1;
        printf("%s: hosts_access(%s,%s)=%d\n", tag, pairs[i][0], pairs[i][1],
               hosts_access(r));
        printf("%s:   after: dry_run=%d tcpd_context.file=%s\n", tag, dry_run,
               tcpd_context.file ? "set" : "null");
    }
    dry_run = 0;
}

static void test_defaults(void)
{
    printf("default hosts_allow_table=[%s]\n", show(hosts_allow_table));
    printf("default hosts_deny_table=[%s]\n", show(hosts_deny_table));
    printf("default hosts_access_verbose=%d rfc931_timeout=%d resident=%d dry_run=%d\n",
           hosts_access_verbose, rfc931_timeout, resident, dry_run);
    printf("default allow_severity=%d deny_severity=%d\n",
           &allow_severity ? allow_severity : -999, &deny_severity ? deny_severity : -999);
    printf("unknown=[%s] paranoid=[%s]\n", unknown, paranoid);
    printf("tcpd_context file=%s line=%d\n", show(tcpd_context.file), tcpd_context.line);
    printf("HOSTNAME_KNOWN: %d %d %d %d\n", HOSTNAME_KNOWN("x.test"), HOSTNAME_KNOWN("unknown"),
           HOSTNAME_KNOWN("PARANOID"), HOSTNAME_KNOWN(""));
}

static void test_split_at(void)
{
    static const char *in[] = {"a:b:c", "abc", ":x", "x:", "[::1]:22", "[a:b]c:d",
                               "", "a]:b", "[[x]:y]:z", 0};
    int i;
    for (i = 0; in[i]; i++) {
        char buf[64];
        char *rest;
        strcpy(buf, in[i]);
        rest = split_at(buf, ':');
        printf("split_at(%s, ':') -> head=[%s] rest=%s%s%s\n", in[i], buf,
               rest ? "[" : "", rest ? rest : "(null)", rest ? "]" : "");
    }
    {
        char buf[] = "daemon@host@x";
        char *rest = split_at(buf, '@');
        printf("split_at(daemon@host@x, '@') -> [%s] [%s]\n", buf, show(rest));
    }
}

static void test_dot_quad(void)
{
    static char *in[] = {"127.0.0.1", "0.0.0.0", "255.255.255.255", "1.2.3", "1.2.3.4.5",
                         "256.1.1.1", "010.001.1.1", "a.b.c.d", "", "1..2.3", " 1.2.3.4",
                         "1.2.3.4 ", "4294967295", "192.168.1.", "1.2.3.-4", 0};
    int i;
    for (i = 0; in[i]; i++)
        printf("dot_quad_addr(%s)=%lx\n", in[i], dot_quad_addr(in[i]));
}

static void test_xgets(void)
{
    char path[600], buf[256];
    FILE *fp;
    snprintf(path, sizeof path, "%s/xgets.txt", tabledir);
    fp = fopen(path, "r");
    if (!fp) {
        printf("xgets: cannot open\n");
        return;
    }
    tcpd_context.file = path;
    tcpd_context.line = 0;
    while (xgets(buf, sizeof buf, fp))
        printf("xgets line=%d [%s]\n", tcpd_context.line, buf);
    fclose(fp);
    tcpd_context.file = 0;
    {
        char tiny[8];
        fp = fopen(path, "r");
        while (xgets(tiny, sizeof tiny, fp))
            printf("xgets(8) [%s]\n", tiny);
        fclose(fp);
    }
}

static void test_strings(void)
{
    struct request_info r;
    char longname[300];

    memset(&r, 0x5a, sizeof r); /* request_init must not depend on the old contents */
    request_init(&r, RQ_DAEMON, "in.ftpd", RQ_USER, "alice", RQ_CLIENT_NAME, "client.test",
                 RQ_CLIENT_ADDR, "127.0.0.2", RQ_SERVER_NAME, "server.test",
                 RQ_SERVER_ADDR, "127.0.0.1", 0);
    show_request("str", &r);
    show_evals("str", &r);
    show_percent("str", &r);
    access_matrix("str", &r);

    request_set(&r, RQ_USER, "ev;il`us er$", RQ_DAEMON, "sshd", 0);
    show_request("set", &r);
    show_percent("set", &r);
    access_matrix("set", &r);

    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    request_init(&r, RQ_DAEMON, longname, RQ_CLIENT_ADDR, "10.0.0.1", 0);
    printf("long: strlen(daemon)=%d client_name=[%s]\n", (int) strlen(r.daemon),
           eval_hostname(r.client));
    show_evals("addronly", &r);
    access_matrix("addronly", &r);

    request_init(&r, RQ_DAEMON, "in.telnetd", RQ_CLIENT_NAME, "client.test", 0);
    show_evals("nameonly", &r);
    access_matrix("nameonly", &r);

    request_init(&r, 0);
    show_request("empty", &r);
    show_evals("empty", &r);
    access_matrix("empty", &r);
}

static void test_sin(void)
{
    struct request_info r;
    struct sockaddr_in c4, s4;
    struct sockaddr_in6 c6, s6;

    memset(&c4, 0, sizeof c4);
    c4.sin_family = AF_INET;
    c4.sin_port = htons(1234);
    inet_pton(AF_INET, "127.0.0.2", &c4.sin_addr);
    s4 = c4;
    s4.sin_port = htons(22);
    inet_pton(AF_INET, "127.0.0.1", &s4.sin_addr);

    request_init(&r, RQ_DAEMON, "in.ftpd", RQ_USER, "bob", RQ_CLIENT_SIN, (void *) &c4,
                 RQ_SERVER_SIN, (void *) &s4, 0);
    sock_methods(&r);
    show_request("sin4", &r);
    show_evals("sin4", &r);
    printf("sin4: eval_port(client)=[%s] eval_port(server)=[%s]\n",
           eval_port((void *) r.client->sin), eval_port((void *) r.server->sin));
    show_percent("sin4", &r);
    access_matrix("sin4", &r);

    /* A client without a name in /etc/hosts. */
    inet_pton(AF_INET, "127.0.0.77", &c4.sin_addr);
    request_init(&r, RQ_DAEMON, "in.ftpd", RQ_USER, "bob", RQ_CLIENT_SIN, (void *) &c4,
                 RQ_SERVER_SIN, (void *) &s4, 0);
    sock_methods(&r);
    show_evals("sin4-noname", &r);
    access_matrix("sin4-noname", &r);

    memset(&c6, 0, sizeof c6);
    c6.sin6_family = AF_INET6;
    c6.sin6_port = htons(4321);
    inet_pton(AF_INET6, "::1", &c6.sin6_addr);
    s6 = c6;
    s6.sin6_port = htons(2222);
    request_init(&r, RQ_DAEMON, "sshd", RQ_USER, "carol", RQ_CLIENT_SIN, (void *) &c6,
                 RQ_SERVER_SIN, (void *) &s6, 0);
    sock_methods(&r);
    show_evals("sin6", &r);
    printf("sin6: eval_port(client)=[%s]\n", eval_port((void *) r.client->sin));
    show_percent("sin6", &r);
    access_matrix("sin6", &r);

    inet_pton(AF_INET6, "::ffff:127.0.0.2", &c6.sin6_addr);
    request_init(&r, RQ_DAEMON, "sshd", RQ_USER, "carol", RQ_CLIENT_SIN, (void *) &c6,
                 RQ_SERVER_SIN, (void *) &s6, 0);
    sock_methods(&r);
    show_evals("sin6mapped", &r);
    access_matrix("sin6mapped", &r);
}

static void test_fd(int port)
{
    int lfd, cfd, afd, one = 1;
    struct sockaddr_in a;
    socklen_t alen;
    struct request_info r;
    char want[32];

    lfd = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (bind(lfd, (void *) &a, sizeof a) || listen(lfd, 1)) {
        printf("fd: cannot listen: %s\n", strerror(errno));
        return;
    }
    cfd = socket(AF_INET, SOCK_STREAM, 0);
    {
        struct sockaddr_in b = a;
        b.sin_port = 0;
        inet_pton(AF_INET, "127.0.0.2", &b.sin_addr);
        bind(cfd, (void *) &b, sizeof b);
    }
    if (connect(cfd, (void *) &a, sizeof a)) {
        printf("fd: cannot connect: %s\n", strerror(errno));
        return;
    }
    alen = sizeof a;
    afd = accept(lfd, (void *) &a, &alen);

    rfc931_timeout = 3;
    request_init(&r, RQ_FILE, afd, RQ_DAEMON, "probe", 0);
    fromhost(&r);
    show_request("fd", &r);
    show_evals("fd", &r); /* eval_user: RFC 931 to 127.0.0.2:113, refused */
    printf("fd: eval_port(server)=[%s]\n", eval_port((void *) r.server->sin));
    snprintf(want, sizeof want, "%d", ntohs(a.sin_port));
    printf("fd: eval_port(client) is peer port: %d\n",
           strcmp(eval_port((void *) r.client->sin), want) == 0);
    access_matrix("fd", &r);

    /* The same connection with sock_host() called directly. */
    request_init(&r, RQ_FILE, afd, RQ_DAEMON, "in.ftpd", RQ_USER, "dave", 0);
    sock_host(&r);
    show_evals("fd2", &r);
    access_matrix("fd2", &r);

    /* A descriptor that is not a socket. */
    request_init(&r, RQ_FILE, 0, RQ_DAEMON, "in.ftpd", RQ_USER, "erin", 0);
    sock_host(&r);
    show_evals("notsock", &r);
    close(afd);
    close(cfd);
    close(lfd);
}

static void test_ctl(void)
{
    static const char *q[][4] = {
        {"in.ftpd", "client.test", "127.0.0.2", "alice"},
        {"in.ftpd", STRING_UNKNOWN, "127.0.0.2", STRING_UNKNOWN},
        {"sshd", "bad.test", "127.0.0.3", "root"},
        {"sshd", STRING_UNKNOWN, STRING_UNKNOWN, STRING_UNKNOWN},
        {"in.telnetd", "client.test", STRING_UNKNOWN, "alice"},
        {"sshd", "client.test", "127.0.0.2", "alice"},
        {"sshd", STRING_PARANOID, "127.0.0.2", "bob"},
        {"in.fingerd", "", "", ""},
        {0, 0, 0, 0},
    };
    static const char *tables[][2] = {
        {"allow.basic", "deny.all"},
        {"allow.names", "deny.all"},
        {"allow.user", "deny.all"},
        {"allow.except", "deny.all"},
        {0, 0},
    };
    int i, t;
    for (t = 0; tables[t][0]; t++) {
        use_tables(tables[t][0], tables[t][1]);
        for (i = 0; q[i][0]; i++)
            printf("hosts_ctl(%s,%s,%s,%s) [%s]=%d\n", q[i][0], q[i][1], q[i][2], q[i][3],
                   tables[t][0], hosts_ctl((char *) q[i][0], (char *) q[i][1],
                                          (char *) q[i][2], (char *) q[i][3]));
    }
}

static void test_options(void)
{
    static const char *opts[] = {
        "severity auth.info", "allow", "deny", "bogus_option", "severity nosuch.level",
        "spawn /bin/echo %a", "twist /bin/echo twisted", "setenv TWINT_DRY yes",
        "umask 077", "nice 1", "keepalive", "linger 5", "rfc931 2", "banners /nonexistent",
        "allow extra", "severity", "setenv TWINT_A 1 : setenv TWINT_B 2 : allow", 0};
    struct request_info r;
    char buf[256];
    int i, v;

    request_init(&r, RQ_DAEMON, "in.ftpd", RQ_USER, "alice", RQ_CLIENT_ADDR, "127.0.0.2",
                 RQ_CLIENT_NAME, "client.test", 0);
    for (i = 0; opts[i]; i++) {
        dry_run = 1;
        strcpy(buf, opts[i]);
        if ((v = setjmp(tcpd_buf)) == 0) {
            process_options(buf, &r);
            printf("process_options(dry, %s): returned dry_run=%d\n", opts[i], dry_run);
        } else {
            printf("process_options(dry, %s): jumped %d dry_run=%d\n", opts[i], v, dry_run);
        }
    }
    dry_run = 0;
    strcpy(buf, "setenv TWINT_REAL hello world : umask 027");
    if ((v = setjmp(tcpd_buf)) == 0) {
        process_options(buf, &r);
        printf("process_options(real): returned\n");
    } else {
        printf("process_options(real): jumped %d\n", v);
    }
    {
        mode_t m = umask(022);
        printf("after real: TWINT_REAL=[%s] umask=%03o TWINT_DRY=[%s]\n",
               show(getenv("TWINT_REAL")), (unsigned) m, show(getenv("TWINT_DRY")));
    }
    if ((v = setjmp(tcpd_buf)) == 0) {
        tcpd_jump("probe jump %d", 42);
        printf("tcpd_jump returned\n");
    } else {
        printf("tcpd_jump jumped %d\n", v);
    }
    tcpd_warn("probe warning %s %d", "text", 7);
    printf("tcpd_warn returned\n");
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: api_probe TABLEDIR PORT\n");
        return 2;
    }
    tabledir = argv[1];
    setvbuf(stdout, 0, _IOLBF, 0);
    test_defaults();
    test_split_at();
    test_dot_quad();
    test_xgets();
    test_strings();
    test_sin();
    test_fd(atoi(argv[2]));
    test_ctl();
    test_options();
    printf("sizeof(struct request_info)=%d sizeof(struct host_info)=%d\n",
           (int) sizeof(struct request_info), (int) sizeof(struct host_info));
    printf("done\n");
    return 0;
}
