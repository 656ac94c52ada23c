"""8. Rule options under the shim, in python3 -m http.server (threads, no
children of its own): spawn, twist, banners, umask (ignored with a warning)."""

from __future__ import annotations

import time
from pathlib import Path

from conftest import (ADMITTED, REFUSED, alive, assert_shim_loaded, children_of, free_port, proc_state,
                      refused_outcome, shim_env, spawn, tcp_exchange, wait_port)

REQ = b"GET /index.html HTTP/1.0\r\n\r\n"


def served(data: bytes) -> bool:
    return data.startswith(b"HTTP/1.0 200") and data.endswith(b"hello options\n")


def start(tables, workdir, allow):
    (workdir / "www").mkdir(exist_ok=True)
    (workdir / "www" / "index.html").write_text("hello options\n")
    tables.write(allow)
    port = free_port()
    err = open(workdir / "server.err", "wb")
    p = spawn(["python3", "-u", "-m", "http.server", "-b", "127.0.0.1", "-d", str(workdir / "www"), str(port)],
              env=shim_env(tables, daemon="shimd"), stdout=err, stderr=err)
    wait_port(port, proc=p)
    assert_shim_loaded(p.pid)
    return p, port


def zombies_of(pid):
    out = []
    for c in children_of(pid):
        try:
            if proc_state(c) == "Z":
                out.append(c)
        except OSError:
            pass
    return out


def test_spawn_runs_and_leaves_no_zombie(tables, workdir):
    marker = workdir / "spawned"
    p, port = start(tables, workdir, f"shimd: {ADMITTED}: spawn (echo %a %d >> {marker})\n")
    for i in range(5):
        status, data = tcp_exchange(ADMITTED, port, REQ)
        assert status == "data" and served(data), (i, status, data[:200])
        assert refused_outcome(*tcp_exchange(REFUSED, port, REQ))
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and (not marker.exists() or len(marker.read_text().splitlines()) < 5):
        time.sleep(0.05)
    assert marker.exists(), "spawn command did not run"
    assert marker.read_text().splitlines() == [f"{ADMITTED} shimd"] * 5
    time.sleep(0.5)
    assert zombies_of(p.pid) == [], f"zombie children of the daemon: {zombies_of(p.pid)}"
    assert children_of(p.pid) == [], f"children left: {children_of(p.pid)}"
    assert alive(p.pid)


def test_twist_serves_that_connection(tables, workdir):
    twisted = "127.0.0.4"
    p, port = start(tables, workdir, f"shimd: {twisted}: twist /bin/echo twisted %a\nshimd: {ADMITTED}\n")
    for i in range(5):
        # no request is sent: echo does not read it, and unread data at close means a reset
        status, data = tcp_exchange(twisted, port)
        assert (status, data) == ("data", f"twisted {twisted}\n".encode()), (i, status, data[:200])
        status, data = tcp_exchange(ADMITTED, port, REQ)
        assert status == "data" and served(data), (i, status, data[:200])
        assert refused_outcome(*tcp_exchange(REFUSED, port, REQ))
    time.sleep(0.5)
    access = (workdir / "server.err").read_text()
    assert f"{twisted} - - [" not in access, "the daemon itself served the twisted connection"
    assert access.count(f"{ADMITTED} - - [") == 5
    assert zombies_of(p.pid) == [], f"zombie children: {zombies_of(p.pid)}"
    assert alive(p.pid)
    assert f"twist {twisted} to /bin/echo twisted" in tables.log_text(), tables.log_text()


def test_banners_before_daemon_data(tables, workdir):
    bdir = workdir / "banners"
    bdir.mkdir()
    (bdir / "shimd").write_text("Welcome %a to %d\nsecond line\n")
    p, port = start(tables, workdir, f"shimd: {ADMITTED}: banners {bdir}\nshimd: 127.0.0.1\n")
    status, data = tcp_exchange(ADMITTED, port, REQ)
    banner = f"Welcome {ADMITTED} to shimd\r\nsecond line\r\n".encode()
    assert status == "data" and data.startswith(banner), data[:300]
    assert served(data[len(banner):]), data[:300]
    # a client without the banners option gets none
    status, data = tcp_exchange("127.0.0.1", port, REQ)
    assert status == "data" and served(data), data[:300]
    assert refused_outcome(*tcp_exchange(REFUSED, port, REQ))
    assert alive(p.pid)


def umask_of(pid):
    for l in Path(f"/proc/{pid}/status").read_text().splitlines():
        if l.startswith("Umask:"):
            return l.split()[1]
    raise AssertionError("no Umask line")


def test_umask_ignored_with_warning(tables, workdir):
    p, port = start(tables, workdir, f"shimd: {ADMITTED}: umask 077\n")
    before = umask_of(p.pid)
    assert before != "0077"
    status, data = tcp_exchange(ADMITTED, port, REQ)
    assert status == "data" and served(data), data[:200]
    assert umask_of(p.pid) == before, "umask option changed the whole daemon's umask"
    log = tables.log_text()
    assert 'option "umask" ignored' in log, log
    assert refused_outcome(*tcp_exchange(REFUSED, port, REQ))
    status, data = tcp_exchange(ADMITTED, port, REQ)
    assert status == "data" and served(data)


# --------------------------------------------------------------------------
# aclexec in a resident daemon: counted with spawn and twist, only
# descriptors 0-2, and an exit status known even when SIGCHLD is ignored.

# Exits 0 only when the shell running the command has no descriptor but 0,
# 1 and 2 (the glob's own directory descriptor is closed again by the time
# the loop tests each entry).
ONLY_STDIO = 'for f in /proc/$$/fd/*; do case ${f##*/} in 0|1|2) ;; *) [ -e "$f" ] && exit 1;; esac; done; exit 0'


def test_aclexec_command_sees_only_stdio(tables, workdir):
    p, port = start(tables, workdir, f"shimd: {ADMITTED}: aclexec {ONLY_STDIO}\n")
    for i in range(3):
        status, data = tcp_exchange(ADMITTED, port, REQ)
        assert status == "data" and served(data), \
            f"aclexec saw descriptors beyond 0-2 (or did not run): {status} {tables.log_text()[-500:]}"
    assert alive(p.pid)


def test_aclexec_is_counted_with_spawn_and_twist(tables, workdir):
    marker = workdir / "aclexec-runs"
    p, port = start(tables, workdir, f"shimd: {ADMITTED}: aclexec echo run >> {marker}\n")
    t0 = time.monotonic()
    outcomes = [tcp_exchange(ADMITTED, port, REQ, timeout=5.0) for _ in range(60)]
    elapsed = time.monotonic() - t0
    runs = len(marker.read_text().splitlines()) if marker.exists() else 0
    admitted = sum(1 for s, d in outcomes if s == "data" and served(d))
    # 20 at once, then 10 a second; past that the request is denied (fail closed).
    assert runs == admitted, (runs, admitted)
    assert 15 <= runs <= 20 + 10 * elapsed + 1, (runs, elapsed)
    assert admitted < 60 and all(refused_outcome(s, d) for s, d in outcomes if not (s == "data" and served(d)))
    assert "aclexec refused: more than 10 commands a second" in tables.log_text()
    assert alive(p.pid)


def test_aclexec_status_is_known_when_sigchld_is_ignored(tables, workdir):
    (workdir / "www").mkdir(exist_ok=True)
    (workdir / "www" / "index.html").write_text("hello options\n")
    tables.write(f"shimd: {ADMITTED}: aclexec exit 0\nshimd: 127.0.0.1: aclexec exit 3\n")
    port = free_port()
    server = ("import runpy, signal, sys; signal.signal(signal.SIGCHLD, signal.SIG_IGN); "
              f"sys.argv = ['http.server', '-b', '127.0.0.1', '-d', {str(workdir / 'www')!r}, '{port}']; "
              "runpy.run_module('http.server', run_name='__main__')")
    err = open(workdir / "server.err", "wb")
    p = spawn(["python3", "-u", "-c", server], env=shim_env(tables, daemon="shimd"), stdout=err, stderr=err)
    wait_port(port, proc=p)
    # exit 0: the rule matches and admits. (The kernel reaps the shell of a
    # daemon that ignores SIGCHLD: the old shim took "status unknown" for a
    # failure and refused.)
    for _ in range(3):
        status, data = tcp_exchange(ADMITTED, port, REQ)
        assert status == "data" and served(data), (status, tables.log_text()[-500:])
    # exit 3: the rule does not match (the table says no, as in libwrap):
    # hosts.deny refuses.
    assert refused_outcome(*tcp_exchange("127.0.0.1", port, REQ))
    assert "aclexec returned 1" in tables.log_text()
    assert "exit status is unknown" not in tables.log_text()
    assert alive(p.pid)
