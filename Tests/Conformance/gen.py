#!/usr/bin/env python3
"""Random corpus generator for the libwrap differential-conformance kit.

    gen.py --seed N --count K --out DIR [--sin-fraction F]

Writes into DIR:
    etc/nsswitch.conf, etc/hosts, etc/netgroup   test name-service files
    etc/tcpw/tNNNN.allow, etc/tcpw/tNNNN.deny     random access tables
    etc/tcpw/files/*.list                        "/file" pattern lists
    etc/tcpw/banners/<daemon>                    banner files
    cases.tsv                                    string / hosts_ctl cases
    cases_sin.tsv                                sockaddr + sock_methods cases

Path scheme: every path written into a table or a case is an absolute path
under /etc/tcpw/. The runner (tcpw_run.py) executes the harness inside
`unshare -m -p -f` and mounts a read-only overlay of DIR/etc on top of the
real /etc (lowerdir=DIR/etc:/etc), so /etc/tcpw/..., /etc/hosts,
/etc/nsswitch.conf and /etc/netgroup resolve to the corpus copies while the
machine's real /etc is never modified. The corpus is therefore relocatable.

Only the Python standard library is used. Output is a pure function of
(--seed, --count, --sin-fraction).
"""
import argparse
import os
import random
import re

TP = "/etc/tcpw"          # fixed path of the table directory (via overlay)

# --------------------------------------------------------------------------
# name service universe (also written to etc/hosts)

LONGNAME = ("very-long-hostname-" + "abcdefghij" * 12 + ".example.com")  # > 128 chars

HOSTS_FILE = """\
# test hosts file for the libwrap conformance corpus (bind-mounted over /etc/hosts)
127.0.0.1	localhost
::1	localhost ip6-localhost ip6-loopback
127.0.0.2	loopy.example.com loopy
10.0.0.1	alpha.example.com alpha
10.0.0.2	beta.example.com beta
10.0.0.3	gamma
10.0.0.4	Delta.Example.COM delta
10.1.2.3	host1.sub.example.org host1
192.168.1.10	web.corp.test web
192.168.1.11	web.corp.test
172.16.5.5	10.9.9.9
172.16.5.6	trail.example.com.
172.16.5.7	{longname}
172.16.5.8	UPPER.EXAMPLE.NET
2001:db8::1	six.example.com six
2001:db8::2	alpha.example.com
2001:db8:0:1::5	v6only.example.net
fe80::1	linklocal.example
::ffff:10.0.0.9	mapped.example.com
10.0.0.9	mapped4.example.com
""".format(longname=LONGNAME)

NSSWITCH = """\
# test nsswitch.conf: no network name services
passwd:         files
group:          files
shadow:         files
hosts:          files
networks:       files
protocols:      files
services:       files
netgroup:       files
"""

NETGROUP = """\
ng1 (alpha.example.com,bob,) (gamma,,)
ng2 (,alice,) ng1
ngaddr (10.0.0.1,,) (-,,)
NG1 (beta.example.com,,)
ngwild (,,)
ngsix (six.example.com,,) (2001:db8::1,,)
"""

NETGROUPS = ["ng1", "ng2", "ngaddr", "NG1", "ngwild", "ngsix", "nosuchgroup", "Ng1", ""]

# client / server pools (string mode)
NAMES = ["alpha.example.com", "Alpha.Example.COM", "beta.example.com", "gamma",
         "Delta.Example.COM", "host1.sub.example.org", "web.corp.test", "localhost",
         "six.example.com", "v6only.example.net", "trail.example.com.", "10.9.9.9",
         "a.b.c.d.e.example.org", "example.com", "xexample.com", "ample.com",
         "UPPER.EXAMPLE.NET", "foo", "unknown", "paranoid", "UNKNOWN", "", "x",
         "loopy.example.com", "mapped.example.com", LONGNAME, "h\xe9llo.example.com",
         "under_score.example.com", "-dash.example.com", "*", "?", "a*b.example.com",
         ".example.com", ".alpha.example.com", "10.0.0"]
ADDRS4 = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.1.2.3", "10.0.0.9",
          "192.168.1.10", "192.168.1.11", "172.16.5.5", "172.16.5.6", "172.16.5.7",
          "127.0.0.1", "127.0.0.2", "0.0.0.0", "255.255.255.255", "10.255.0.1",
          "11.0.0.1", "10.0.0.10", "10.0.0.100", "1.2.3.4"]
ADDRS6 = ["::1", "2001:db8::1", "2001:db8::2", "2001:db8:0:1::5", "fe80::1",
          "2001:db8:ffff::1", "::", "2001:DB8::1", "::ffff:10.0.0.1",
          "::ffff:192.168.1.10", "::ffff:10.0.0.9", "::ffff:127.0.0.1",
          "::ffff:0a00:0001", "::10.0.0.1", "2001:0db8:0000:0000:0000:0000:0000:0001"]
ADDRS_ODD = ["unknown", "", "1.2.3", "010.000.000.001", "10.0.0.1.", "10.0.0",
             "abc", "10.0.0.256", "paranoid", "[::1]"]
USERS = ["root", "bob", "Bob", "alice", "nobody", "unknown", "", "x@y", "UNKNOWN"]
DAEMONS = ["sshd", "in.telnetd", "rpcbind", "portmap", "vsftpd", "in.ftpd", "SSHD",
           "22", "111", "", "ssh d", "a@b", "ALL", "mountd"]
SNAMES = ["srv.example.com", "gamma", "alpha.example.com", "unknown", "", "SRV.example.com"]
SADDRS = ["10.0.0.254", "127.0.0.1", "::1", "10.0.0.1", "::ffff:127.0.0.1", "2001:db8::1"]

# sockaddr-mode client addresses (must be parseable by inet_pton)
SIN_ADDRS = ["127.0.0.1", "127.0.0.2", "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4",
             "10.1.2.3", "192.168.1.10", "192.168.1.11", "172.16.5.5", "172.16.5.6",
             "172.16.5.7", "172.16.5.8", "10.0.0.9", "10.0.0.77", "1.2.3.4",
             "::1", "2001:db8::1", "2001:db8::2", "2001:db8:0:1::5", "fe80::1",
             "2001:db8::99", "::ffff:10.0.0.1", "::ffff:10.0.0.2", "::ffff:192.168.1.10",
             "::ffff:10.0.0.9", "::ffff:127.0.0.1", "::ffff:10.0.0.77", "::ffff:172.16.5.5"]
SIN_SERVERS = ["127.0.0.1", "10.0.0.254", "10.0.0.1", "::1", "::ffff:127.0.0.1",
               "2001:db8::1"]
PORTS = ["22", "111", "23", "0", "65535", "1023", "4000", "21"]

OPT_PCT = ["%a", "%A", "%c", "%d", "%h", "%H", "%n", "%N", "%p", "%r", "%R", "%s",
           "%u", "%%", "%z", "%", "%%%", "%Q"]


def rcase(r, s):
    """Randomly change the case of a string (matching is case-insensitive).
    A character whose other case is not a byte (\xff's is U+0178) stays."""
    def byte(c, changed):
        return changed if len(changed) == 1 and ord(changed) < 256 else c
    k = r.random()
    if k < 0.6:
        return s
    if k < 0.75:
        return "".join(byte(c, c.upper()) for c in s)
    if k < 0.85:
        return "".join(byte(c, c.lower()) for c in s)
    return "".join(byte(c, c.upper()) if r.random() < 0.5 else byte(c, c.lower()) for c in s)


class Gen:
    def __init__(self, seed, index_stress=False):
        self.r = random.Random(seed)
        self.index_stress = index_stress
        self.files = {}       # relative path under etc/tcpw -> bytes
        self.listfiles = []   # absolute /etc/tcpw/files/... of existing list files

    # ---------------- host patterns ----------------
    def some_name(self):
        r = self.r
        return r.choice(NAMES[:26])

    def some_addr4(self):
        return self.r.choice(ADDRS4)

    def some_addr6(self):
        return self.r.choice(ADDRS6)

    def suffix_pat(self):
        r = self.r
        n = r.choice([x for x in NAMES if "." in x and x not in ("10.9.9.9",)])
        parts = n.split(".")
        k = r.randint(1, max(1, len(parts) - 1))
        suf = "." + ".".join(parts[-k:])
        kk = r.random()
        if kk < 0.1:
            suf = suf[2:] and "." + suf[2:]        # partial component: .xample.com
        elif kk < 0.15:
            suf = "."
        elif kk < 0.2:
            suf = ".." + suf[1:]
        elif kk < 0.25:
            suf = suf + "."
        return rcase(r, suf)

    def prefix_pat(self):
        r = self.r
        a = r.choice(ADDRS4 + ["10.0.0.1", "10.0.0.1", "192.168.1.10"])
        parts = a.split(".")
        k = r.randint(1, 3)
        p = ".".join(parts[:k]) + "."
        kk = r.random()
        if kk < 0.08:
            p = "10.."
        elif kk < 0.14:
            p = a + "."                 # 4 fields and a dot
        elif kk < 0.18:
            p = "1."
        elif kk < 0.22:
            p = "10.0.0.1" if r.random() < 0.5 else "10.0.0.10."
        elif kk < 0.26:
            p = r.choice(["2001:db8::", "::ffff:10.", "fe80:", "abc.", "10.0"])
        elif kk < 0.30:
            p = r.choice(["alpha.", "Alpha.Example.", "host1.sub."])   # name prefix
        return p

    def netmask_pat(self):
        r = self.r
        net = r.choice(["10.0.0.0", "10.0.0.1", "10.0.0.0", "192.168.1.0", "10.1.0.0",
                        "172.16.5.4", "0.0.0.0", "127.0.0.0", "10.0.0.8", "10.0.0.3"])
        kk = r.random()
        if kk < 0.55:
            mask = r.choice(["255.0.0.0", "255.255.255.0", "255.255.0.0", "255.255.255.252",
                             "255.255.255.248", "255.255.254.0", "0.0.0.0",
                             "255.255.255.254", "255.255.255.255"])
        elif kk < 0.8:
            mask = r.choice(["8", "16", "24", "30", "29", "32", "0", "31", "1", "28"])
        else:
            mask = r.choice(["33", "-1", "abc", "255.0.255.0", "255.255.255", "08", "024",
                             "255.255.255.256", "", " 24", "24x", "0x18", "1.2.3.4.5",
                             "99999999999", "4294967295", "+8"])
        if r.random() < 0.06:
            net = r.choice(["10.0.0", "10.0.0.0.0", "abc", "", "10.0.0.256", "::1"])
        return net + "/" + mask

    def v6_pat(self):
        r = self.r
        a = r.choice(["::1", "2001:db8::", "2001:db8::1", "2001:db8::2", "2001:DB8::1",
                      "2001:db8:0:1::", "fe80::", "::ffff:10.0.0.1", "::ffff:10.0.0.0",
                      "::", "2001:db8::1:0:0:1", "::ffff:192.168.1.0", "::10.0.0.1",
                      "2001:0db8:0000:0000:0000:0000:0000:0001"])
        kk = r.random()
        if kk < 0.35:
            return "[" + a + "]"
        if kk < 0.85:
            ln = r.choice(["128", "64", "32", "48", "0", "127", "96", "104", "120", "16",
                           "1", "63", "65", "112"])
            return "[" + a + "]/" + ln
        return r.choice(["[::1", "::1]", "[zz::]/64", "[::1]/129", "[::1]/-1", "[::1]/abc",
                         "[]", "[]/0", "[10.0.0.1]", "[::1]/", "[2001:db8::]/64x",
                         "[::ffff:10.0.0.1]/120", "[[::1]]", "[::1]x", "[::1]/ 64"])

    def wild_pat(self):
        r = self.r
        base = r.choice([self.some_name(), self.some_addr4(), self.some_addr4(),
                         self.some_addr6()])
        if not base:
            base = "alpha.example.com"
        kk = r.random()
        if kk < 0.2:
            return r.choice(["*", "?", "*.example.com", "10.0.*", "10.0.0.?", "*.*",
                             "*example*", "alpha*", "10.*.*.1", "*:*", "2001:db8::*",
                             "???", "*.example.com.", "10.0.0.1?", "?*", "**",
                             "10.0.0**", "alpha***", "*.example.com**", ".ex*.com", ".*"])
        s = list(base)
        for _ in range(r.randint(1, 2)):
            i = r.randrange(len(s))
            if r.random() < 0.5:
                s[i] = "?"
            else:
                j = min(len(s), i + r.randint(0, 4))
                s[i:j] = ["*"]
        p = "".join(s)
        if r.random() < 0.1:
            p = "." + p       # wildcard combined with leading dot
        elif r.random() < 0.1:
            p = p + "/24"
        return rcase(r, p)

    def file_pat(self):
        r = self.r
        kk = r.random()
        if kk < 0.75 and self.listfiles:
            return r.choice(self.listfiles)
        return r.choice([TP + "/files/missing.list", TP + "/nonexistent/x",
                         TP + "/files", TP + "/banners", "/", TP + "/files/empty.list",
                         "/etc/tcpw/files/../files/empty.list"])

    def netgroup_pat(self):
        return "@" + self.r.choice(NETGROUPS)

    def junk_pat(self):
        return self.r.choice(["@", ".", "..", "/", "[", "]", ":", "\\", "EXCEPT", "except",
                              "ALL@", "@ALL", "a@b@c", "\\:", "%", "#", "x#y", "=", "\"q\"",
                              "h\xe9llo.example.com", "\xff", "caf\xc3\xa9", "ALLx", "LOCALHOST"])

    def host_pat(self, allow_user=True, depth=0):
        r = self.r
        kinds = [("kw", 12), ("name", 10), ("addr", 10), ("suffix", 8), ("prefix", 8),
                 ("netmask", 10), ("v6", 8), ("wild", 8), ("file", 5), ("netgroup", 4),
                 ("junk", 2), ("user", 7 if allow_user else 0)]
        k = self.pick(kinds)
        if k == "kw":
            return rcase(r, r.choice(["ALL", "LOCAL", "KNOWN", "UNKNOWN", "PARANOID",
                                      "ALL", "LOCAL"]))
        if k == "name":
            return rcase(r, self.some_name() or "gamma")
        if k == "addr":
            return r.choice([self.some_addr4(), self.some_addr4(), self.some_addr6(),
                             r.choice(ADDRS_ODD) or "10.0.0.1"])
        if k == "suffix":
            return self.suffix_pat()
        if k == "prefix":
            return self.prefix_pat()
        if k == "netmask":
            return self.netmask_pat()
        if k == "v6":
            return self.v6_pat()
        if k == "wild":
            return self.wild_pat()
        if k == "file":
            return self.file_pat()
        if k == "netgroup":
            return self.netgroup_pat()
        if k == "junk":
            return self.junk_pat()
        # user@host
        u = rcase(r, r.choice(["ALL", "KNOWN", "UNKNOWN", "bob", "root", "alice", "nobody",
                               "b?b", "*", "@ng1", "", "Bob", "LOCAL"]))
        h = self.host_pat(allow_user=False, depth=depth + 1)
        return u + "@" + h

    def daemon_pat(self):
        r = self.r
        kinds = [("name", 14), ("kw", 6), ("num", 4), ("at", 6), ("wild", 2), ("junk", 1)]
        k = self.pick(kinds)
        if k == "name":
            return rcase(r, r.choice(["sshd", "in.telnetd", "rpcbind", "portmap", "vsftpd",
                                      "in.ftpd", "mountd", "other"]))
        if k == "kw":
            return rcase(r, r.choice(["ALL", "ALL", "LOCAL", "KNOWN", "UNKNOWN", "PARANOID"]))
        if k == "num":
            return r.choice(["22", "111", "0", "21", "022", "65535", "99999", "-1", "22x"])
        if k == "at":
            d = rcase(r, r.choice(["sshd", "ALL", "rpcbind", "22", "in.ftpd"]))
            return d + "@" + self.host_pat(allow_user=False)
        if k == "wild":
            return r.choice(["ssh*", "*", "in.?tpd", "rpc*", "?"])
        return r.choice(["@ng1", TP + "/files/daemons.list", ".", "sshd.", ".telnetd"])

    def pick(self, kinds):
        tot = sum(w for _, w in kinds)
        x = self.r.uniform(0, tot)
        for k, w in kinds:
            x -= w
            if x <= 0:
                return k
        return kinds[-1][0]

    # ---------------- lists ----------------
    def sep(self):
        return self.r.choice([" ", " ", ",", ", ", "\t", " , ", ",,", "  ", ", \t"])

    def plist(self, fn, depth=0):
        r = self.r
        items = [fn() for _ in range(r.choice([1, 1, 1, 2, 2, 3, 4]))]
        s = items[0]
        for it in items[1:]:
            s += self.sep() + it
        if r.random() < (0.25 if depth == 0 else 0.3) and depth < 3:
            kw = rcase(self.r, "EXCEPT")
            s += " " + kw + " " + self.plist(fn, depth + 1)
        return s

    # ---------------- options ----------------
    def pct_text(self):
        r = self.r
        words = []
        for _ in range(r.randint(1, 4)):
            if r.random() < 0.5:
                words.append(r.choice(OPT_PCT))
            else:
                words.append(r.choice(["echo", "/bin/true", "x", "a\\:b", "'q'", "&",
                                       "(a;b)", "$HOME", "`id`", "a\\\\b", "=", "%a%h"]))
        return " ".join(words)

    def option(self):
        r = self.r
        kinds = [("allow", 10), ("deny", 8), ("severity", 8), ("spawn", 7), ("twist", 5),
                 ("aclexec", 4), ("setenv", 5), ("umask", 6), ("nice", 3), ("user", 3),
                 ("group", 3), ("banners", 2), ("keepalive", 2), ("linger", 3),
                 ("rfc931", 4), ("bad", 4)]
        k = self.pick(kinds)
        kw = rcase(r, k) if r.random() < 0.2 else k
        eq = "=" if r.random() < 0.08 else " "
        if k in ("allow", "deny", "keepalive"):
            if r.random() < 0.08:
                return kw + " " + r.choice(["yes", "1", "%a"])
            return kw
        if k == "severity":
            v = r.choice(["info", "notice", "warning", "err", "debug", "emerg", "alert", "crit",
                          "mail.info", "local0.notice", "auth.warning", "daemon.err",
                          "LOCAL7.DEBUG", "Mail.Info", "user.notice", "authpriv.info",
                          "security.info", "panic", "error", "warn", "none", "mark.info",
                          "bogus", "mail.bogus", "bogus.info", "3", "mail.", ".info", "mail..info",
                          "", "info.mail", "kern.info", "cron.crit", "uucp.alert", "lpr.info",
                          "news.info", "ftp.info", "syslog.info", "local8.info"])
            return kw + (eq + v if v else "")
        if k in ("spawn", "twist", "aclexec"):
            if r.random() < 0.05:
                return kw
            return kw + eq + self.pct_text()
        if k == "setenv":
            kk = r.random()
            if kk < 0.1:
                return kw
            if kk < 0.2:
                return kw + " ONLYNAME"
            return kw + eq + r.choice(["FOO", "TCPW_X", "A_B"]) + " " + self.pct_text()
        if k == "umask":
            v = r.choice(["022", "077", "0", "777", "0777", "1777", "999", "abc", "22", "-1",
                          "", "0022", "7777", "02", "07 7"])
            return kw + (eq + v if v else "")
        if k == "nice":
            v = r.choice(["", "5", "10", "-5", "abc", "19", "0", "20", "5x"])
            return kw + (eq + v if v else "")
        if k == "user":
            v = r.choice(["root", "nobody", "daemon", "nosuchuser", "root.daemon", "root.root",
                          "nobody.nogroup", "root.nosuchgroup", "", "0", "root.", ".root",
                          "daemon.daemon"])
            return kw + (eq + v if v else "")
        if k == "group":
            v = r.choice(["root", "daemon", "nogroup", "nosuchgroup", "", "0"])
            return kw + (eq + v if v else "")
        if k == "banners":
            v = r.choice([TP + "/banners", TP + "/banners/", TP + "/nosuchdir", "", "rel/dir"])
            return kw + (eq + v if v else "")
        if k == "linger":
            v = r.choice(["5", "0", "", "abc", "-1", "30"])
            return kw + (eq + v if v else "")
        if k == "rfc931":
            v = r.choice(["", "", "5", "0", "abc", "30", "-3", "7x"])
            return kw + (eq + v if v else "")
        return r.choice(["nosuchopt", "ALLOW", "allowx", "spawnx echo", "", " ", "=", "= allow",
                         "allow deny", "twist", "severity=", "\\:", "user@host"])

    def options(self):
        r = self.r
        n = r.choice([1, 1, 1, 2, 2, 3, 4])
        opts = [self.option() for _ in range(n)]
        # usually put allow/deny/twist last if present (valid), sometimes not
        if r.random() < 0.3:
            opts.append(r.choice(["allow", "deny", "ALLOW", "DENY"]))
        seps = []
        for _ in opts:
            seps.append(r.choice([" : ", ":", " :", ": ", "\t:\t"]))
        s = ""
        for sp, o in zip(seps, opts):
            s += sp + o
        return s

    # ---------------- rules and tables ----------------
    def rule(self):
        r = self.r
        d = self.plist(self.daemon_pat)
        c = self.plist(self.host_pat)
        colon = lambda: r.choice([": ", " : ", ":", " :", "\t:\t", ":\t"])
        line = d + colon() + c
        if r.random() < 0.45:
            line += self.options()
        kk = r.random()
        if kk < 0.02:
            line = d + " " + c                      # missing ':'
        elif kk < 0.035:
            line = colon().lstrip() + c             # empty daemon list
        elif kk < 0.05:
            line = d + colon()                      # empty client list
        elif kk < 0.06:
            line = d + colon() + c + colon()        # trailing empty option field
        elif kk < 0.065:
            line = d + colon() + colon() + c        # empty client field, options
        elif kk < 0.075:
            line = rcase(r, "  " + line)            # leading whitespace
        elif kk < 0.085:
            line = line + "   \t"                   # trailing whitespace
        return line

    def long_line(self):
        """A rule padded to a length around the 2048-byte line buffer."""
        r = self.r
        target = r.choice([2040, 2045, 2046, 2047, 2048, 2049, 2050, 2100, 3000, 5000, 4094,
                           4095, 4096, 4097])
        head = rcase(r, r.choice(["ALL", "sshd", "rpcbind"])) + " : "
        tail = " " + self.host_pat()
        if r.random() < 0.3:
            tail += " : " + self.option()
        pad_len = max(1, target - len(head) - len(tail) - 1)   # -1 for the newline
        kk = r.random()
        if kk < 0.5:
            pad = "x" * pad_len                                   # one huge token
        else:
            toks = []
            n = 0
            i = 0
            while n < pad_len:
                t = "10.%d.%d.%d" % (i // 65536 % 256 + 100, i // 256 % 256, i % 256)
                toks.append(t)
                n += len(t) + 1
                i += 1
            pad = " ".join(toks)[:pad_len]
        if r.random() < 0.2:
            return "#" + head + pad + tail                   # long comment line
        return head + pad + tail

    def index_rule(self):
        """A rule the client-address index takes (numeric client words, no
        server host, maybe EXCEPT or user@ that keep it out), or a name rule."""
        r = self.r
        d = r.choice(["ALL", "ALL", "sshd", "rpcbind", "in.ftpd", "22", "ALL EXCEPT sshd",
                      "sshd, rpcbind", "sshd@10.0.0.1", "ssh*"])
        words = []
        for _ in range(r.choice([1, 1, 1, 2, 3])):
            words.append(self.pick([(self.some_addr4, 8), (self.prefix_pat, 6),
                                       (self.netmask_pat, 6), (self.v6_pat, 4),
                                       (lambda: "ALL", 1), (self.some_name, 2),
                                       (self.suffix_pat, 2), (self.some_addr6, 2)])())
        c = ", ".join(words) if r.random() < 0.5 else " ".join(words)
        if r.random() < 0.1:
            c += " EXCEPT " + r.choice([self.some_addr4(), self.prefix_pat(), self.netmask_pat()])
        if r.random() < 0.05:
            c = "bob@" + c
        line = d + ": " + c
        if r.random() < 0.2:
            line += r.choice([": allow", ": deny", ": severity auth.info", ": spawn echo %a"])
        return line

    def index_table(self):
        """A longer table built to stress the index: overlapping networks
        and prefixes, the same words in rules that differ only in order,
        daemon or options, a few general rules and malformed lines."""
        r = self.r
        lines = []
        for _ in range(r.randint(5, 60)):
            k = r.random()
            if k < 0.12:
                lines.append(self.rule())
            elif k < 0.2 and lines:
                lines.insert(r.randint(0, len(lines)), r.choice(lines))   # same rule, elsewhere
            elif k < 0.22:
                lines.append(r.choice(["no colon here", "# comment", ""]))
            else:
                lines.append(self.index_rule())
        text = "\n".join(lines)
        if r.random() > 0.03:
            text += "\n"
        return text

    def table(self, is_allow):
        r = self.r
        if self.index_stress:
            return self.index_table()
        lines = []
        n = r.choice([0, 1, 1, 2, 2, 3, 3, 4, 5, 6, 8])
        for _ in range(n):
            lines.append(self.rule())
        # decorations
        if r.random() < 0.25:
            lines.insert(r.randint(0, len(lines)), "#" + r.choice([" comment", "ALL: ALL",
                                                                   " comment \\", ""]))
        if r.random() < 0.1:
            lines.insert(r.randint(0, len(lines)), r.choice(["  # indented comment",
                                                             "\t#ALL: ALL", " #x: y"]))
        if r.random() < 0.15:
            lines.insert(r.randint(0, len(lines)), r.choice(["", "   ", "\t", " \t "]))
        if r.random() < 0.035:
            lines.insert(r.randint(0, len(lines)), self.long_line())
        if r.random() < 0.1 and lines:
            # continuation line: split a rule at a blank
            i = r.randrange(len(lines))
            L = lines[i]
            sp = [m.start() for m in re.finditer(r"[ \t]", L)]
            if sp:
                j = r.choice(sp)
                lines[i] = L[:j] + r.choice([" \\", "\\", " \\ "]) + "\n" + L[j:]
        if r.random() < 0.015:
            lines.append(r.choice(["ALL : ALL \\", "sshd : \\", "\\"]))   # continuation at EOF
        if r.random() < 0.02 and lines:
            i = r.randrange(len(lines))
            L = lines[i]
            j = r.randrange(len(L) + 1)
            lines[i] = L[:j] + "\0" + L[j:]
        if r.random() < 0.04 and lines:
            i = r.randrange(len(lines))
            L = lines[i]
            j = r.randrange(len(L) + 1)
            lines[i] = L[:j] + r.choice(["\xe9", "\xff", "\xc3\xa9", "\x01", "\x7f"]) + L[j:]
        if r.random() < 0.03 and lines:
            i = r.randrange(len(lines))
            lines[i] = lines[i] + " # trailing comment : allow"
        eol = "\n"
        if r.random() < 0.05:
            eol = "\r\n"
        text = eol.join(lines)
        if lines and r.random() > 0.02:
            text += eol
        elif not lines and r.random() < 0.1:
            text = "\n"
        return text

    def list_file(self, idx, prefix):
        r = self.r
        lines = []
        for _ in range(r.randint(0, 5)):
            toks = [self.host_pat(allow_user=False) for _ in range(r.randint(1, 3))]
            # a nested file may only reference earlier files (no cycles)
            toks = [t for t in toks if not (t.startswith("/") and t >= prefix)]
            lines.append(r.choice([" ", "\t", "  "]).join(toks) if toks else "")
        if r.random() < 0.3:
            lines.insert(r.randint(0, len(lines)), r.choice(["# comment", "#ALL", "  # x", ""]))
        if r.random() < 0.15 and self.listfiles:
            lines.append(r.choice(self.listfiles))      # explicit nested reference
        if r.random() < 0.05:
            lines.append(r.choice(["ALL EXCEPT 10.0.0.1", "user@10.0.0.1", "ALL, gamma"]))
        text = "\n".join(lines)
        if lines and r.random() > 0.1:
            text += "\n"
        return text

    def table_pair(self, pid):
        r = self.r
        base = "t%04d" % pid
        # list files for this pair; they may reference earlier list files only
        new_files = []
        for k in range(r.choice([0, 0, 0, 1, 1, 2])):
            path = "files/%s_%d.list" % (base, k)
            abspath = TP + "/" + path
            self.files[path] = self.list_file(k, abspath).encode("latin-1")
            new_files.append(abspath)
            self.listfiles.append(abspath)
        texts = {}
        for kind in ("allow", "deny"):
            texts[kind] = self.table(kind == "allow")
        # Debian's "user"/"group" options really call setuid()/setgid() even in
        # dry-run mode, so such cases run in a forked child (harness fork=1).
        # %p is pid-dependent and forked children get other pids: avoid it there.
        fork = any(re.search(r"\b(user|group)\b", t, re.I)
                   for t in texts.values())
        paths = {}
        for kind in ("allow", "deny"):
            t = texts[kind]
            if fork:
                t = t.replace("%p", "%d")
            kk = r.random()
            if kk < 0.07:
                paths[kind] = TP + "/missing." + kind
            elif kk < 0.09:
                paths[kind] = TP + "/files"           # a directory as a table
            elif kk < 0.10:
                paths[kind] = "-"                     # not given: harness default (missing)
            else:
                rel = "%s.%s" % (base, kind)
                self.files[rel] = t.encode("latin-1")
                paths[kind] = TP + "/" + rel
        return paths, fork

    # ---------------- cases ----------------
    def str_case(self, cid, paths, fork):
        r = self.r
        mode = "ctl" if r.random() < 0.15 else "req"
        daemon = r.choice(DAEMONS) if r.random() < 0.85 else "-"
        if mode == "req" and r.random() < 0.05:
            daemon = "-"
        kk = r.random()
        cname = caddr = "-"
        if kk < 0.35:
            cname = r.choice(NAMES)
            caddr = r.choice(ADDRS4 + ADDRS6 + ADDRS_ODD)
        elif kk < 0.6:
            caddr = r.choice(ADDRS4 + ADDRS4 + ADDRS6 + ADDRS_ODD)
        elif kk < 0.8:
            cname = r.choice(NAMES)
        else:
            # consistent name/address pairs from the hosts universe
            cname, caddr = r.choice([("alpha.example.com", "10.0.0.1"),
                                     ("beta.example.com", "10.0.0.2"), ("gamma", "10.0.0.3"),
                                     ("Delta.Example.COM", "10.0.0.4"),
                                     ("host1.sub.example.org", "10.1.2.3"),
                                     ("web.corp.test", "192.168.1.10"),
                                     ("six.example.com", "2001:db8::1"),
                                     ("paranoid", "172.16.5.5"), ("unknown", "10.0.0.77"),
                                     ("localhost", "127.0.0.1"), ("localhost", "::1"),
                                     ("mapped.example.com", "::ffff:10.0.0.9")])
        user = r.choice(USERS) if r.random() < 0.5 else "-"
        sname = saddr = "-"
        if r.random() < 0.3 and mode == "req":
            if r.random() < 0.5:
                sname = r.choice(SNAMES)
            if r.random() < 0.7:
                saddr = r.choice(SADDRS)
        return [cid, mode, paths["allow"], paths["deny"], daemon, user, cname, caddr, "-",
                sname, saddr, "-", "1", "1" if fork else "-"]

    def sin_case(self, cid, paths, fork):
        r = self.r
        daemon = r.choice(DAEMONS)
        caddr = r.choice(SIN_ADDRS)
        cport = r.choice(PORTS)
        cname = "-"
        if r.random() < 0.05:
            cname = r.choice(NAMES)
        sname = saddr = sport = "-"
        user = "-"
        kk = r.random()
        if kk < 0.5:
            saddr = r.choice(SIN_SERVERS)
            sport = r.choice(PORTS)
            # both endpoints known: never leave the user unset, or libwrap would
            # try a real RFC 931 (ident) lookup to the client.
            user = r.choice(USERS)
        elif kk < 0.6:
            saddr = r.choice(SADDRS)       # server address as a string
        elif kk < 0.65:
            sname = r.choice(SNAMES)
        if user == "-" and r.random() < 0.3:
            user = r.choice(USERS)
        return [cid, "sin", paths["allow"], paths["deny"], daemon, user, cname, caddr, cport,
                sname, saddr, sport, "1", "1" if fork else "-"]


def enc(v):
    if v == "":
        return "\\e"
    out = []
    for ch in v:
        o = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif o < 0x20 or o >= 0x7f:
            out.append("\\x%02x" % o)
        else:
            out.append(ch)
    return "".join(out)


def generate(seed, count, out, sin_fraction=0.2, index_stress=False):
    g = Gen(seed, index_stress)
    r = g.r
    os.makedirs(os.path.join(out, "etc", "tcpw", "files"), exist_ok=True)
    os.makedirs(os.path.join(out, "etc", "tcpw", "banners"), exist_ok=True)
    with open(os.path.join(out, "etc", "hosts"), "w") as f:
        f.write(HOSTS_FILE)
    with open(os.path.join(out, "etc", "nsswitch.conf"), "w") as f:
        f.write(NSSWITCH)
    with open(os.path.join(out, "etc", "netgroup"), "w") as f:
        f.write(NETGROUP)
    g.files["files/empty.list"] = b""
    g.files["files/daemons.list"] = b"sshd\nrpcbind\n"
    g.files["banners/sshd"] = b"Hello %a %d\n"
    g.files["banners/rpcbind"] = b"banner\n"
    g.listfiles.append(TP + "/files/empty.list")

    n_sin = int(round(count * sin_fraction))
    n_str = count - n_sin
    per_pair = 8
    n_pairs = max(1, (count + per_pair - 1) // per_pair)
    pairs = [g.table_pair(i) for i in range(n_pairs)]

    str_cases, sin_cases = [], []
    for i in range(n_str):
        pidx = i % n_pairs if i < n_pairs else r.randrange(n_pairs)
        paths, fork = pairs[pidx]
        str_cases.append(g.str_case("T%04d.%05d" % (pidx, i), paths, fork))
    for i in range(n_sin):
        pidx = r.randrange(n_pairs)
        paths, fork = pairs[pidx]
        sin_cases.append(g.sin_case("S%04d.%05d" % (pidx, i), paths, fork))

    for rel, data in sorted(g.files.items()):
        p = os.path.join(out, "etc", "tcpw", rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
    hdr = ("# id\tmode\tallow\tdeny\tdaemon\tuser\tcname\tcaddr\tcport\tsname\tsaddr\tsport"
           "\tdry\tfork\n")
    for name, cases in (("cases.tsv", str_cases), ("cases_sin.tsv", sin_cases)):
        with open(os.path.join(out, name), "w") as f:
            f.write(hdr)
            for c in cases:
                f.write("\t".join([c[0], c[1]] + [v if v == "-" else enc(v) for v in c[2:]])
                        + "\n")
    return len(str_cases), len(sin_cases)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--count", type=int, required=True, help="total number of cases")
    ap.add_argument("--out", required=True)
    ap.add_argument("--index-stress", action="store_true",
                    help="longer tables built to stress the client-address index")
    ap.add_argument("--sin-fraction", type=float, default=0.2,
                    help="fraction of cases in sockaddr mode (default 0.2)")
    a = ap.parse_args()
    ns, nn = generate(a.seed, a.count, a.out, a.sin_fraction, a.index_stress)
    print("wrote %d string/ctl cases and %d sockaddr cases to %s" % (ns, nn, a.out))


if __name__ == "__main__":
    main()
