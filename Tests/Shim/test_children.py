"""What the programs a protected daemon starts get (TCPWRAP_CHILDREN).

own (the default): each program is judged under its own name - an
inetd-style parent's service is judged as itself, as tcpd would. daemon: a
daemon's helper server is judged under the daemon's name. none: the helper
is not wrapped at all."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ADMITTED, REFUSED, free_port, has_shim, refused_outcome, shim_env, spawn, tcp_exchange, wait_port

PARENT = """
import subprocess, sys, time
child = subprocess.Popen([sys.argv[2], "-m", "http.server", "-b", "127.0.0.1", sys.argv[1]],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(child.pid, flush=True)
child.wait()
"""

REQ = b"GET / HTTP/1.0\r\n\r\n"


def start_parent(tables, workdir, children: str | None):
    port = free_port()
    extra = {"TCPWRAP_CHILDREN": children} if children else {}
    # argv[0] "parentd": the parent's daemon name (no shell in between, which
    # would itself carry the shim and pass on its own name).
    p = subprocess.Popen(["parentd", "-c", PARENT, str(port), sys.executable], executable=sys.executable,
                         env=shim_env(tables, extra), stdout=subprocess.PIPE, start_new_session=True)
    spawn.__globals__["_started"].append(p)
    child = int(p.stdout.readline())
    wait_port(port)
    return p, child, port


@pytest.mark.parametrize("children", [None, "own", "daemon", "none"])
def test_helper_server_started_by_a_protected_daemon(tables, workdir, children):
    tables.write(f"parentd: {ADMITTED}\n")
    p, child, port = start_parent(tables, workdir, children)
    admitted = tcp_exchange(ADMITTED, port, REQ)
    refused = tcp_exchange(REFUSED, port, REQ)
    served = lambda r: r[0] == "data" and r[1].startswith(b"HTTP/1.0 200")
    if children in (None, "own"):
        # Judged as python3, which no rule admits: everyone refused.
        assert has_shim(child)
        assert refused_outcome(*admitted) and refused_outcome(*refused)
    elif children == "daemon":
        assert has_shim(child)
        assert served(admitted) and refused_outcome(*refused)
    else:
        assert not has_shim(child)
        assert served(admitted) and served(refused)


INETDISH = """
import os, select, socket, subprocess, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
print("READY", flush=True)
while True:
    select.select([s], [], [])
    # A "wait" service: the child takes the socket and reads the datagram.
    subprocess.run(["echod", "-c", sys.argv[2], str(s.fileno())], executable=sys.argv[3], pass_fds=[s.fileno()])
"""

ECHOD = """
import socket, sys
s = socket.socket(fileno=int(sys.argv[1]))
s.setblocking(False)
try:
    while True:
        data, peer = s.recvfrom(512)
        s.sendto(data, peer)
except BlockingIOError:
    pass
s.detach()
"""


def test_inetd_style_parent_services_are_judged_as_themselves(tables, workdir):
    tables.write(f"echod: {ADMITTED}\n")
    port = free_port(kind=socket.SOCK_DGRAM)
    p = subprocess.Popen(["inetdish", "-c", INETDISH, str(port), ECHOD, sys.executable], executable=sys.executable,
                         env=shim_env(tables), stdout=subprocess.PIPE, start_new_session=True)
    spawn.__globals__["_started"].append(p)
    assert p.stdout.readline().startswith(b"READY")
    for src, expect in ((ADMITTED, True), (REFUSED, False), (ADMITTED, True)):
        c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        c.bind((src, 0))
        c.settimeout(2)
        c.sendto(b"hi", ("127.0.0.1", port))
        try:
            got = c.recvfrom(16)[0] == b"hi"
        except socket.timeout:
            got = False
        assert got == expect, (src, got)
    assert "refused connect from 127.0.0.3" in tables.log_text()
    assert "echod[" in tables.log_text()
