"""Real daemons that fork and then start threads, under the shim.

haproxy in master-worker mode forks its worker, which then starts its
threads; memcached -d daemonises (forks) and then starts its worker
threads. Under a shim that carried a Swift runtime, both could hang on
their first connections (a lock or once-flag stranded by the fork). Each is
started many times; every start must serve the admitted client and refuse
the other, with no hang (every connection has a timeout).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from conftest import ADMITTED, REFUSED, free_port, refused_outcome, shim_env, spawn, tcp_exchange, wait_port

RESTARTS = 40


def exchange_both(port: int, request: bytes, ok, *, want=None) -> None:
    for src in (ADMITTED, REFUSED, ADMITTED, REFUSED):
        status, data = tcp_exchange(src, port, request, want=want, timeout=5.0)
        if src == ADMITTED:
            assert status == "data" and ok(data), f"admitted {src}: {status} {data[:200]!r}"
        else:
            assert refused_outcome(status, data), f"refused {src}: {status} {data[:200]!r}"


@pytest.mark.parametrize("threads", [2, 4])
def test_haproxy_master_worker_threads(tables, workdir, threads):
    cfg = workdir / "haproxy.cfg"
    ok = lambda d: d.startswith(b"HTTP/1.1 200") and d.endswith(b"served")
    for restart in range(RESTARTS):
        port = free_port()
        cfg.write_text(f"""
global
    master-worker
    nbthread {threads}
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    http-request return status 200 content-type text/plain string served
""")
        err = open(workdir / "haproxy.err", "wb")
        p = spawn(["haproxy", "-W", "-f", str(cfg)], env=shim_env(tables), stdout=err, stderr=err)
        wait_port(port, proc=p)
        try:
            exchange_both(port, b"GET / HTTP/1.0\r\n\r\n", ok)
        except AssertionError as e:
            raise AssertionError(f"start {restart}: {e}\n{(workdir / 'haproxy.err').read_text()[-2000:]}")
        finally:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=10)
    assert tables.refusals(REFUSED) >= 2 * RESTARTS


@pytest.mark.parametrize("threads", [2, 4])
def test_memcached_daemonised_threads(tables, workdir, threads):
    ok = lambda d: d.startswith(b"VERSION ")
    run = workdir / "run"          # memcached writes its pid file as nobody
    run.mkdir()
    os.chmod(run, 0o777)
    for restart in range(RESTARTS):
        port = free_port()
        pidfile = run / f"memcached-{restart}.pid"
        p = spawn(["memcached", "-d", "-t", str(threads), "-l", "127.0.0.1", "-p", str(port), "-U", "0",
                   "-u", "nobody", "-P", str(pidfile)], env=shim_env(tables))
        assert p.wait(timeout=10) == 0          # the parent returns once the daemon is forked
        deadline = time.monotonic() + 10
        while not (pidfile.exists() and pidfile.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.02)
        pid = int(pidfile.read_text())
        try:
            wait_port(port)
            exchange_both(port, b"version\r\n", ok, want=8)
        except AssertionError as e:
            raise AssertionError(f"start {restart}: {e}")
        finally:
            os.kill(pid, signal.SIGKILL)
    assert tables.refusals(REFUSED) >= 2 * RESTARTS
