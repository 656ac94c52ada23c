"""Edge-triggered loops (accept or read until EAGAIN on each EPOLLET edge)
must see an admitted client queued behind refused ones: the shim may not
answer EAGAIN while an admitted client is still waiting. 20 refused clients
queue up ahead of one admitted client before the server starts its loop;
the admitted one must be served (it once was not: one call gave up after 16
refusals, and no new edge ever came)."""

from __future__ import annotations

import socket
import subprocess
import time

import pytest

from conftest import ADMITTED, REFUSED, free_port, shim_env, spawn

AHEAD = 20


def start(cbuild, tables, kind: str) -> tuple[subprocess.Popen, int]:
    port = free_port(kind=socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM)
    p = spawn([str(cbuild("epollet")), kind, str(port)], env=shim_env(tables), stdout=subprocess.PIPE,
              stdin=subprocess.PIPE)
    assert p.stdout.readline().startswith(b"READY")
    return p, port


def test_accept_until_eagain_serves_the_admitted_client_behind_refused_ones(cbuild, tables):
    p, port = start(cbuild, tables, "tcp")
    queued = []
    for src in [REFUSED] * AHEAD + [ADMITTED]:
        s = socket.socket()
        s.bind((src, 0))
        s.settimeout(5)
        s.connect(("127.0.0.1", port))     # completes in the backlog: nobody accepts yet
        queued.append(s)
    p.stdin.write(b"go\n")
    p.stdin.flush()
    admitted = queued[-1]
    assert admitted.recv(16) == b"ok\n"
    for s in queued[:-1]:
        try:
            data = s.recv(16)
        except (ConnectionResetError, socket.timeout):
            data = b""
        assert data == b"", "a refused client was served"
    assert p.poll() is None


def test_read_until_eagain_answers_the_admitted_source_behind_refused_ones(cbuild, tables):
    p, port = start(cbuild, tables, "udp")
    refused = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    refused.bind((REFUSED, 0))
    for i in range(AHEAD):
        refused.sendto(f"no {i}".encode(), ("127.0.0.1", port))
    admitted = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    admitted.bind((ADMITTED, 0))
    admitted.settimeout(5)
    admitted.sendto(b"yes", ("127.0.0.1", port))
    time.sleep(0.2)
    p.stdin.write(b"go\n")
    p.stdin.flush()
    assert admitted.recvfrom(16)[0] == b"yes"
    refused.settimeout(0.5)
    with pytest.raises(socket.timeout):
        refused.recvfrom(16)
    assert p.poll() is None


NGINX = """\
user nobody nogroup;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 256; multi_accept on; }}
http {{
    access_log off;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    server {{
        listen 127.0.0.1:{port};
        location / {{ return 200 "hello\\n"; }}
    }}
}}
"""


def test_nginx_multi_accept_with_refused_clients_queued_ahead(tables, workdir):
    """nginx with multi_accept (accept until EAGAIN on each event): its
    worker is stopped while 20 refused clients and then an admitted one
    queue up; once it runs again it serves the admitted one and keeps
    serving."""
    import os
    import signal

    from conftest import children_of, tcp_exchange, wait_port

    port = free_port()
    (workdir / "tmp").mkdir()
    conf = workdir / "nginx.conf"
    conf.write_text(NGINX.format(d=workdir, port=port))
    p = spawn(["nginx", "-c", str(conf), "-p", str(workdir), "-g", "daemon off;"], env=shim_env(tables),
              stdout=subprocess.DEVNULL, stderr=open(workdir / "stderr", "wb"))
    wait_port(port, proc=p)
    deadline = time.monotonic() + 10
    while not children_of(p.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    worker = children_of(p.pid)[0]
    os.kill(worker, signal.SIGSTOP)
    queued = []
    try:
        for src in [REFUSED] * AHEAD + [ADMITTED]:
            s = socket.socket()
            s.bind((src, 0))
            s.settimeout(5)
            s.connect(("127.0.0.1", port))
            queued.append(s)
        queued[-1].sendall(b"GET / HTTP/1.0\r\n\r\n")
    finally:
        os.kill(worker, signal.SIGCONT)
    data = b""
    while True:
        chunk = queued[-1].recv(4096)
        if not chunk:
            break
        data += chunk
    assert data.startswith(b"HTTP/1.1 200") and data.endswith(b"hello\n"), data
    status, data = tcp_exchange(ADMITTED, port, b"GET / HTTP/1.0\r\n\r\n")
    assert status == "data" and data.endswith(b"hello\n")
    assert p.poll() is None
