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
