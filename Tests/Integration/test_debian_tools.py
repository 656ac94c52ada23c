"""Debian's own programs (tcpdmatch, tcpdchk, try-from, tcpd, socat) on
Debian's libwrap and on ours must behave identically."""

import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from conftest import (BASE_ETC, HERE, LIB_SYSLOG_LINE, LIBS, background, bg_output,
                      assert_maps_lib, free_port, run, scratch_dir, syslog_text, tcp_exchange,
                      wait_listening, write_etc)

CORPUS = HERE / "tcpdmatch_corpus"
CORPUS_ETC = CORPUS / "etc"


def corpus_queries():
    out = []
    for case in sorted(p for p in CORPUS.iterdir() if p.is_dir() and p.name != "etc"):
        for i, q in enumerate((case / "queries").read_text().splitlines()):
            if q.strip():
                out.append(pytest.param(case.name, q, id=f"{case.name}:{q}"))
    return out


QUERIES = corpus_queries()


def test_corpus_is_big_enough():
    assert len(QUERIES) >= 40
    assert (CORPUS_ETC / "hosts").is_file()


_cache = {}


def both(key, fn):
    """Run fn(lib) for both libraries once per key (shared by the tests)."""
    if key not in _cache:
        _cache[key] = {lib: fn(lib) for lib in LIBS}
    return _cache[key]


def split_channels(result):
    """(program's own stdout lines, library diagnostics in order).

    Library diagnostics reach the program's stdout when the library calls
    the program's (interposed) syslog(), the real syslog otherwise."""
    own, diag = [], []
    for line in result.stdout.splitlines():
        (diag if LIB_SYSLOG_LINE.match(line) else own).append(line)
    diag += [syslog_text(m) for m in result.syslog]
    return own, diag


def show(res):
    return "\n".join(res[lib].describe() for lib in LIBS)


# --------------------------------------------------------------------------
# tcpdmatch


def tcpdmatch(case, query, lib_dir):
    return both(("tcpdmatch", case, query), lambda lib: run(
        lib, lib_dir, ["/usr/sbin/tcpdmatch", "-d", *query.split()], etc_dir=CORPUS_ETC,
        cwd=CORPUS / case, timeout=30))


@pytest.mark.parametrize("case,query", QUERIES)
def test_tcpdmatch_exact(case, query, verified_libs):
    """stdout, stderr and exit status byte for byte."""
    res = tcpdmatch(case, query, verified_libs)
    assert res["ours"].triple() == res["debian"].triple(), show(res)


@pytest.mark.parametrize("case,query", QUERIES)
def test_tcpdmatch_verdict_and_diagnostics(case, query, verified_libs):
    """The same verdict and the same diagnostics, wherever the library sends
    them (program's stdout via interposed syslog(), or the real syslog)."""
    res = tcpdmatch(case, query, verified_libs)
    d_own, d_diag = split_channels(res["debian"])
    o_own, o_diag = split_channels(res["ours"])
    assert o_own == d_own, show(res)
    assert (res["ours"].stderr, res["ours"].rc) == (res["debian"].stderr, res["debian"].rc)
    assert o_diag == d_diag, show(res)


# --------------------------------------------------------------------------
# tcpdchk

TCPDCHK_CASES = ["01-basic", "03-local-known-unknown", "05-netmask", "06-ipv6", "08-user-at-host",
                 "10-options", "11-bad-options", "12-malformed", "14-missing", "16-file-lists",
                 "17-netgroup", "22-inetd-services"]
TCPDCHK_PARAMS = [pytest.param(c, flags, id=f"{c}:{' '.join(flags)}")
                  for c in TCPDCHK_CASES for flags in (["-d"], ["-d", "-v"])]


def tcpdchk(case, flags, lib_dir):
    return both(("tcpdchk", case, tuple(flags)), lambda lib: run(
        lib, lib_dir, ["/usr/sbin/tcpdchk", *flags], etc_dir=CORPUS_ETC, cwd=CORPUS / case,
        timeout=30))


@pytest.mark.parametrize("case,flags", TCPDCHK_PARAMS)
def test_tcpdchk_exact(case, flags, verified_libs):
    res = tcpdchk(case, flags, verified_libs)
    assert res["ours"].triple() == res["debian"].triple(), show(res)


@pytest.mark.parametrize("case,flags", TCPDCHK_PARAMS)
def test_tcpdchk_report_and_diagnostics(case, flags, verified_libs):
    res = tcpdchk(case, flags, verified_libs)
    d_own, d_diag = split_channels(res["debian"])
    o_own, o_diag = split_channels(res["ours"])
    assert o_own == d_own, show(res)
    assert (res["ours"].stderr, res["ours"].rc) == (res["debian"].stderr, res["debian"].rc)
    assert o_diag == d_diag, show(res)


# --------------------------------------------------------------------------
# servers behind socat


@pytest.fixture(scope="module")
def net_etc():
    d = scratch_dir("twint-netetc-")
    write_etc(d, dict(BASE_ETC))
    yield d
    shutil.rmtree(d, ignore_errors=True)


def connect_from(src, port, timeout=10):
    return tcp_exchange(src, port, timeout=timeout)


@pytest.mark.parametrize("mode", ["tcp", "socketpair"])
def test_try_from(mode, verified_libs, net_etc):
    """try-from on a connection from 127.0.0.2 (stdin is the TCP socket with
    socat's `nofork`, a socketpair without it)."""
    port = free_port()
    opts = ",nofork" if mode == "tcp" else ""
    out = {}
    for lib in LIBS:
        argv = ["socat", f"TCP4-LISTEN:{port},bind=127.0.0.1,reuseaddr",
                f"EXEC:/usr/sbin/try-from{opts}"]
        with background(lib, verified_libs, argv, etc_dir=net_etc) as (proc, logs):
            wait_listening(port, proc)
            got = connect_from("127.0.0.2", port, timeout=15)
            proc.wait(15)
            out[lib] = (got.decode("utf-8", "replace"), bg_output(proc))
    assert out["ours"] == out["debian"]
    if mode == "tcp":
        assert "client address  (%a): 127.0.0.2" in out["debian"][0]


def find_child(parent_pid, exe, timeout=5.0):
    """A descendant of parent_pid whose executable is exe."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kids = {}
        for p in os.listdir("/proc"):
            if not p.isdigit():
                continue
            try:
                with open(f"/proc/{p}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(p))
        todo, seen = [parent_pid], []
        while todo:
            pid = todo.pop()
            for k in kids.get(pid, []):
                seen.append(k)
                todo.append(k)
        for pid in seen:
            try:
                if os.readlink(f"/proc/{pid}/exe") == exe:
                    return pid
            except OSError:
                pass
        time.sleep(0.05)
    return None


def test_tcpd_wrapper(verified_libs, tmpdir_safe):
    """tcpd as inetd would run it (argv[0] = /bin/echo, the daemon name is
    its basename `echo`), behind socat: 127.0.0.2 allowed, 127.0.0.3 refused."""
    d = tmpdir_safe
    wrapper = d / "svc"
    wrapper.write_text("#!/bin/bash\nexec -a /bin/echo /usr/sbin/tcpd hello from tcpd\n")
    wrapper.chmod(0o755)
    etc = write_etc(d / "etc", {**BASE_ETC, "hosts.allow": "echo: 127.0.0.2\n",
                                "hosts.deny": "ALL: ALL\n"})
    port = free_port()
    out = {}
    for lib in LIBS:
        argv = ["socat", f"TCP4-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork",
                f"EXEC:{wrapper},nofork"]
        with background(lib, verified_libs, argv, etc_dir=etc) as (proc, logs):
            wait_listening(port, proc)
            allowed = connect_from("127.0.0.2", port)
            result = {}
            t = threading.Thread(target=lambda: result.update(
                refused=connect_from("127.0.0.3", port, timeout=15)))
            start = time.monotonic()
            t.start()
            # refuse() lingers 5 s in clean_exit(): look at the live tcpd meanwhile
            tcpd_pid = find_child(proc.pid, "/usr/sbin/tcpd")
            assert tcpd_pid, f"{lib}: no tcpd process found"
            assert_maps_lib(tcpd_pid, lib, verified_libs)
            t.join(20)
            refused_after = time.monotonic() - start
            time.sleep(0.2)
            msgs = [syslog_text(m, keep_priority=True) for m in logs.messages]
            out[lib] = dict(allowed=allowed, refused=result.get("refused"),
                            lingered=refused_after >= 4, syslog=msgs)
    assert out["debian"]["allowed"] == b"hello from tcpd\n"
    assert out["debian"]["refused"] == b""
    assert out["debian"]["syslog"] == ["<30> echo: connect from 127.0.0.2 (127.0.0.2)",
                                       "<28> echo: refused connect from 127.0.0.3 (127.0.0.3)"]
    assert out["ours"]["allowed"] == out["debian"]["allowed"]
    assert out["ours"]["refused"] == out["debian"]["refused"]
    assert out["ours"]["lingered"] == out["debian"]["lingered"]
    assert out["ours"]["syslog"] == out["debian"]["syslog"]


def test_socat_tcpwrap(verified_libs, tmpdir_safe):
    """socat's own tcpwrap= with allow-table/deny-table, on both libraries;
    /proc/PID/maps proves which library socat runs on."""
    d = tmpdir_safe
    (d / "allow").write_text("twintd: 127.0.0.2\n")
    (d / "deny").write_text("ALL: ALL\n")
    etc = write_etc(d / "etc", dict(BASE_ETC))
    port = free_port()
    out = {}
    for lib in LIBS:
        argv = ["socat", f"TCP4-LISTEN:{port},bind=127.0.0.1,fork,reuseaddr,tcpwrap=twintd,"
                         f"allow-table={d}/allow,deny-table={d}/deny", "SYSTEM:echo ok"]
        with background(lib, verified_libs, argv, etc_dir=etc) as (proc, logs):
            wait_listening(port, proc)
            assert_maps_lib(proc.pid, lib, verified_libs)
            allowed = connect_from("127.0.0.2", port)
            refused = connect_from("127.0.0.3", port)
            allowed2 = connect_from("127.0.0.2", port)
            assert proc.poll() is None, bg_output(proc)
            out[lib] = (allowed, refused, allowed2)
    assert out["debian"] == (b"ok\n", b"", b"ok\n")
    assert out["ours"] == out["debian"]
