"""Unmodified daemons under the shim: only admitted clients are served, and
the daemon keeps serving after refusals.

Admitted: 127.0.0.2 (and 127.0.0.1); refused: 127.0.0.3 (deny ALL: ALL).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from conftest import (ADMITTED, REFUSED, assert_shim_loaded, children_of, free_port, refused_outcome, shim_env,
                      spawn, tcp_exchange, wait_port)

ROUNDS = 15  # alternating admitted/refused pairs per daemon


def alternate(port, request, check_ok, *, rounds=ROUNDS, want=None, shut=False):
    """Alternating admitted/refused connections; returns (served, refused) counts."""
    served = refused = 0
    for i in range(rounds):
        for src in (ADMITTED, REFUSED):
            status, data = tcp_exchange(src, port, request, want=want, shut=shut)
            if src == ADMITTED:
                assert status == "data" and check_ok(data), \
                    f"round {i}: admitted {src} not served: {status} {data[:200]!r}"
                served += 1
            else:
                assert refused_outcome(status, data), \
                    f"round {i}: refused {src} got {status} {data[:200]!r} (expected reset/close, no data)"
                refused += 1
    return served, refused


# --------------------------------------------------------------------------
# 1. python3 -m http.server (blocking accept4)


def test_python_http_server(tables, workdir):
    port = free_port()
    (workdir / "www").mkdir()
    (workdir / "www" / "index.html").write_text("hello from python\n")
    err = open(workdir / "server.err", "wb")
    p = spawn(["python3", "-u", "-m", "http.server", "-b", "127.0.0.1", "-d", str(workdir / "www"), str(port)],
              env=shim_env(tables), stdout=err, stderr=err)
    wait_port(port, proc=p)
    assert_shim_loaded(p.pid)

    req = b"GET /index.html HTTP/1.0\r\n\r\n"
    ok = lambda d: d.startswith(b"HTTP/1.0 200") and d.endswith(b"hello from python\n")
    served, refused = alternate(port, req, ok)

    # still serving
    status, data = tcp_exchange(ADMITTED, port, req)
    assert status == "data" and ok(data)
    assert p.poll() is None

    time.sleep(0.3)
    access = (workdir / "server.err").read_text()
    assert access.count(f"{ADMITTED} - - [") == served + 1, access
    assert f"{REFUSED} - - [" not in access, "the daemon saw a refused client"
    assert tables.refusals(REFUSED) == refused, tables.log_text()
    assert tables.refusals(ADMITTED) == 0


# --------------------------------------------------------------------------
# 2. nginx: epoll, non-blocking accept4, 2 workers


NGINX_CONF = """\
{envlines}user nobody nogroup;
worker_processes 2;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    default_type text/plain;
    server {{
        listen 127.0.0.1:{port};
        location / {{ return 200 "hello from nginx\\n"; }}
    }}
}}
"""


# nginx clears the environment of its worker processes (all but TZ, unless
# kept with `env NAME;`). The shim reads TCPWRAP_* on first use, which in
# nginx happens in a worker, after the environment was cleared: "plain" is
# the configuration a user would write; "env-kept" adds `env TCPWRAP_...;`
# so that the accept path is tested even if "plain" fails on that.
@pytest.mark.skipif(not shutil.which("nginx"), reason="nginx not installed (see APT_PACKAGES)")
@pytest.mark.parametrize("keep_env", [False, True], ids=["plain", "env-kept"])
def test_nginx_workers(tables, workdir, keep_env):
    import concurrent.futures as cf

    port = free_port()
    (workdir / "tmp").mkdir()
    conf = workdir / "nginx.conf"
    envlines = "".join(f"env {v};\n" for v in ("TCPWRAP_HOSTS_ALLOW", "TCPWRAP_HOSTS_DENY", "TCPWRAP_LOG")) if keep_env else ""
    conf.write_text(NGINX_CONF.format(d=workdir, port=port, envlines=envlines))
    p = spawn(["nginx", "-c", str(conf), "-p", str(workdir), "-g", "daemon off;"], env=shim_env(tables),
              stdout=subprocess.DEVNULL, stderr=open(workdir / "stderr", "wb"))
    wait_port(port, proc=p)
    deadline = time.monotonic() + 10
    while len(children_of(p.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    workers = children_of(p.pid)
    assert len(workers) >= 2, f"nginx workers: {workers}"
    for pid in [p.pid] + workers:
        assert_shim_loaded(pid)

    req = b"GET / HTTP/1.0\r\n\r\n"
    ok = lambda d: d.startswith(b"HTTP/1.1 200") and d.endswith(b"hello from nginx\n")
    served, refused = alternate(port, req, ok)

    # Concurrent bursts: refused and admitted clients at the same time, so
    # that a worker finds several pending connections, refused ones among
    # them. Every refused one must be reset promptly (no worker may block).
    srcs = [ADMITTED if i % 3 == 0 else REFUSED for i in range(60)]
    with cf.ThreadPoolExecutor(12) as ex:
        results = list(ex.map(lambda s: (s, tcp_exchange(s, port, req, timeout=5)), srcs))
    for src, (status, data) in results:
        if src == ADMITTED:
            assert status == "data" and ok(data), (src, status, data[:200])
            served += 1
        else:
            assert refused_outcome(status, data), (src, status, data[:200])
            refused += 1

    status, data = tcp_exchange(ADMITTED, port, req)
    assert status == "data" and ok(data), "nginx stopped serving"
    served += 1
    assert p.poll() is None and all(Path(f"/proc/{w}").exists() for w in workers)

    time.sleep(0.3)
    access = (workdir / "access.log").read_text()
    assert sum(1 for l in access.splitlines() if l.startswith(ADMITTED + " ")) == served, access
    assert REFUSED not in access
    # at least one refusal per worker pid? at least: all refusals are logged by the workers
    log = tables.log_text()
    pids = set(int(m) for m in re.findall(r"\S+\[(\d+)\]: \w+: refused connect from 127\.0\.0\.3", log))
    assert pids and pids <= set(workers), (pids, workers)
    errlog = (workdir / "error.log").read_text()
    assert "accept4() failed" not in errlog and "accept() failed" not in errlog, errlog


# --------------------------------------------------------------------------
# 3. redis-server: PING/PONG


@pytest.mark.skipif(not shutil.which("redis-server"), reason="redis-server not installed")
def test_redis(tables, workdir):
    port = free_port()
    p = spawn(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--protected-mode", "no",
               "--save", "", "--appendonly", "no", "--dir", str(workdir), "--logfile", str(workdir / "redis.log")],
              env=shim_env(tables), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, proc=p)
    assert_shim_loaded(p.pid)

    ping = b"PING\r\n"
    served, refused = alternate(port, ping, lambda d: d == b"+PONG\r\n", want=7)

    # refused clients never became redis clients: count accepted connections
    status, data = tcp_exchange(ADMITTED, port, b"INFO stats\r\nQUIT\r\n")
    assert status == "data", (status, data)
    stats = dict(l.split(":", 1) for l in data.decode().splitlines() if ":" in l)
    assert int(stats["total_connections_received"]) == served + 1, stats
    assert int(stats["rejected_connections"]) == 0
    assert tables.refusals(REFUSED) == refused
    assert p.poll() is None


# --------------------------------------------------------------------------
# 4. socat fork (plain accept)


def test_socat_fork(tables, workdir):
    port = free_port()
    p = spawn(["socat", f"TCP4-LISTEN:{port},bind=127.0.0.1,fork,reuseaddr", "SYSTEM:echo ok"],
              env=shim_env(tables), stdout=subprocess.DEVNULL, stderr=open(workdir / "socat.err", "wb"))
    wait_port(port, proc=p)
    assert_shim_loaded(p.pid)

    served, refused = alternate(port, b"", lambda d: d == b"ok\n")
    status, data = tcp_exchange(ADMITTED, port)
    assert (status, data) == ("data", b"ok\n")
    assert p.poll() is None
    assert tables.refusals(REFUSED) == refused
