"""Our tcpdchk against Debian's.

Clean tables: the -v listing is Debian's, byte for byte; nothing on stderr;
exit 0. Broken tables, one kind each: the finding names the file and the
line, says what follows, and the exit status is 1 (Debian's tcpdchk prints
nothing for any of them and exits 0: its findings go to syslog). The -v
listing stays Debian's on broken tables too. Tables are bind-mounted over
/etc/hosts.allow and /etc/hosts.deny in a private mount namespace; an
inetd.conf of the test's own is named with -i.
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
OURS = Path(os.environ.get("TCPWRAP_SBIN", REPO / ".build/stage/sbin")) / "tcpdchk"
DEBIAN = "/usr/sbin/tcpdchk"

INETD = ("sshd-alt stream tcp nowait root /usr/sbin/tcpd sshd\n"
         "ftp stream tcp nowait root /usr/sbin/tcpd in.ftpd -l\n"
         "finger stream tcp nowait nobody /usr/sbin/in.fingerd in.fingerd\n")


def run(program: str, allow: str, deny: str, work: Path, *args: str) -> tuple[str, str, int]:
    (work / "allow").write_text(allow)
    (work / "deny").write_text(deny)
    (work / "inetd.conf").write_text(INETD)
    (work / "resolv.conf").write_text("nameserver 127.0.0.9\noptions timeout:1 attempts:1\n")
    script = (f"mount --bind {work}/allow /etc/hosts.allow && mount --bind {work}/deny /etc/hosts.deny && "
              f"mount --bind {work}/resolv.conf /etc/resolv.conf && exec \"$@\"")
    p = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", program,
                        "-i", str(work / "inetd.conf"), *args], capture_output=True, timeout=60)
    return p.stdout.decode("latin-1"), p.stderr.decode("latin-1"), p.returncode


@pytest.fixture(scope="module")
def work():
    assert OURS.is_file(), f"{OURS} is not built (scripts/build)"
    with tempfile.TemporaryDirectory() as d:
        yield Path(d)


DAEMONS = ["sshd", "in.ftpd", "ALL", "ALL EXCEPT sshd", "sshd, in.ftpd", "sshd@127.0.0.1", "portmap"]
CLIENTS = ["127.0.0.1", "10.0.0.0/255.0.0.0", "10.0.0.0/8", "10.", ".example.com", "LOCAL", "KNOWN", "[::1]",
           "ALL EXCEPT 10.1.2.3", "localhost", "ALL", "bob@ALL", "[fe80::]/10", "192.168.1.0/24 EXCEPT 192.168.1.7"]
OPTIONS = ["", ": deny", ": allow", ": spawn /bin/echo %h", ": severity auth.info", ": rfc931", ": setenv X y",
           ": nice 5", ": umask 022", ": keepalive", ": linger 5", ": rfc931 5 : allow", ": twist /bin/echo no"]


def clean_table(rng: random.Random) -> str:
    return "".join(f"{rng.choice(DAEMONS)}: {rng.choice(CLIENTS)} {rng.choice(OPTIONS)}".rstrip() + "\n"
                   for _ in range(rng.randint(1, 6))) + ("# a comment\n\n" if rng.random() < 0.3 else "")


def test_clean_tables_listing_is_debians_and_silent(work):
    seed = int(os.environ.get("TCPW_SEED", time.time()))
    rng = random.Random(seed)
    for i in range(40):
        allow, deny = clean_table(rng), clean_table(rng)
        d_out, _, d_rc = run(DEBIAN, allow, deny, work, "-v")
        o_out, o_err, o_rc = run(str(OURS), allow, deny, work, "-v")
        where = f"seed {seed} case {i}\nallow:\n{allow}deny:\n{deny}"
        assert o_out == d_out, f"{where}\ndebian:\n{d_out}\nours:\n{o_out}"
        assert (o_rc, d_rc) == (0, 0), f"{where}\n{o_err}"
        assert o_err == "", f"{where}\n{o_err}"
        # without -v: nothing at all
        assert run(str(OURS), allow, deny, work) == ("", "", 0)


BROKEN = [
    # (what, allow, deny, line in the file named, words the finding must say)
    ("missing colon", "sshd: 127.0.0.1\nsshd 10.0.0.1\n", "", ("allow", 2), ["missing \":\" separator"]),
    ("unknown option", "sshd: ALL : bogus\n", "", ("allow", 1), ["bad option name", "bogus"]),
    ("bad option value", "sshd: ALL : severity nosuch.level\n", "", ("allow", 1), ["severity"]),
    ("option needs a value", "sshd: ALL : umask\n", "", ("allow", 1), ["umask"]),
    ("unknown user", "sshd: ALL : user nosuchuser\n", "", ("allow", 1), ["unknown user", "nosuchuser"]),
    ("unknown group", "sshd: ALL : user nobody.nosuchgroup\n", "", ("allow", 1), ["unknown group", "nosuchgroup"]),
    ("bad net/mask", "sshd: 10.0.0.0/33\n", "", ("allow", 1), ["10.0.0.0/33", "never matches"]),
    ("name ending in a dot", "sshd: www.example.com.\n", "", ("allow", 1), ["ends in dot"]),
    ("not an address", "sshd: 1.2.3\n", "", ("allow", 1), ["1.2.3", "not an address"]),
    ("daemon with a path", "/usr/sbin/sshd: ALL\n", "", ("allow", 1), ["begins with \"/\"", "sshd"]),
    ("list ends in EXCEPT", "sshd: ALL EXCEPT\n", "", ("allow", 1), ["ends in EXCEPT"]),
    ("missing final newline in hosts.deny", "", "sshd: 10.0.0.1\nALL: 10.0.0.2", ("deny", 2),
     ["missing newline", "refuses every client"]),
    ("missing final newline in hosts.allow", "sshd: 10.0.0.1", "", ("allow", 1), ["missing newline"]),
    ("overlong line", "sshd: " + " ".join(f"10.0.{i // 256}.{i % 256}" for i in range(300)) + "\nsshd: 127.0.0.1\n", "",
     ("allow", 1), ["line too long", "ignores the rest"]),
    ("FAIL keyword", "sshd: FAIL\n", "", ("allow", 1), ["FAIL is no longer recognized"]),
]


@pytest.mark.parametrize("what,allow,deny,where,words", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_table_is_found(work, what, allow, deny, where, words):
    out, err, rc = run(str(OURS), allow, deny, work)
    table = "/etc/hosts.allow" if where[0] == "allow" else "/etc/hosts.deny"
    assert rc == 1, f"{what}: exit {rc}\n{err}"
    assert re.search(rf"^{re.escape(table)}:{where[1]}(:\d+)?: error:", err, re.M), f"{what}:\n{err}"
    for w in words:
        assert w in err, f"{what}: {w!r} not in\n{err}"
    assert out == ""
    if what not in ("unknown group",):
        d_out, d_err, d_rc = run(DEBIAN, allow, deny, work, "-v")
        o_out, _, _ = run(str(OURS), allow, deny, work, "-v")
        assert o_out == d_out, f"{what}: -v listing\ndebian:\n{d_out}\nours:\n{o_out}"
        assert d_rc == 0 and d_err == ""   # what Debian's says about it: nothing


def test_warnings_leave_status_zero(work):
    allow = "sshd: www.nosuch.invalid\nvsftpd: 10.0.0.1\nin.fingerd: ALL\n"
    out, err, rc = run(str(OURS), allow, "", work, "-a")
    assert rc == 0, err
    assert "/etc/hosts.allow:1:7: warning: www.nosuch.invalid: host name does not resolve" in err, err
    assert "/etc/hosts.allow:2:1: warning: vsftpd: no such process name in" in err, err
    assert "/etc/hosts.allow:3:1: warning: in.fingerd: service possibly not wrapped" in err, err
    assert "implicit \"allow\"" in err, err


def test_usage(work):
    p = subprocess.run([str(OURS), "extra"], capture_output=True, text=True)
    assert p.returncode == 1 and p.stderr.startswith("usage:"), p
