"""What the shim learns once per datagram socket is forgotten with it.

The shim keeps a datagram socket's cookie and local address per descriptor
(SocketFacts), so that it asks the kernel nothing per datagram. A rule that
names the server address (`daemon@host`) shows whether a descriptor number
that is reused - by a new socket after close(), or by dup2() over it -
is judged by the new socket's address, never the old one's.
"""

from __future__ import annotations

import socket
import subprocess
import time

from conftest import free_port, shim_env, spawn

# Each step: a socket bound to HOST:PORT on the same descriptor number as the
# last (close() then socket(), or dup2() of a new socket over it), then one
# datagram received and answered (or, if refused, none: the read times out).
SERVER = r"""
import os, select, socket, sys
port = int(sys.argv[1])
fd_number = None
def bound(host):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    return s
def serve(s):
    print(f"READY {s.fileno()}", flush=True)
    r, _, _ = select.select([s], [], [], 3)
    s.setblocking(False)
    try:
        data, peer = s.recvfrom(64)
        s.sendto(data, peer)
        print("served", flush=True)
    except BlockingIOError:
        print("nothing", flush=True)
    s.setblocking(True)
first = bound("127.0.0.1"); serve(first)
number = first.fileno()
first.close()
second = bound("127.0.0.3")                 # the same number, another address
assert second.fileno() == number, (second.fileno(), number)
serve(second)
third = bound("127.0.0.1")                  # dup2() over the second socket
os.dup2(third.fileno(), number)
third.close()
again = socket.socket(fileno=number)
serve(again)
"""


def ask(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
        c.settimeout(1.0)
        c.sendto(b"ping", (host, port))
        try:
            return c.recvfrom(64)[0] == b"ping"
        except OSError:
            return False


def test_a_reused_descriptor_is_judged_by_its_new_socket(tables, workdir):
    tables.write("server@127.0.0.1: ALL\n", "ALL: ALL\n")
    (workdir / "server.py").write_text(SERVER)
    port = free_port(kind=socket.SOCK_DGRAM)
    p = spawn(["python3", str(workdir / "server.py"), str(port)], env=shim_env(tables, daemon="server"),
              stdout=subprocess.PIPE, stderr=subprocess.PIPE, )
    got = []
    for host in ("127.0.0.1", "127.0.0.3", "127.0.0.1"):
        line = p.stdout.readline().decode()
        assert line.startswith("READY"), (line, p.stderr.read().decode() if p.poll() is not None else "")
        time.sleep(0.05)
        answered = ask(host, port)
        got.append((host, answered, p.stdout.readline().decode().strip()))
    p.wait(timeout=10)
    # 127.0.0.1 is the server address the rule names; 127.0.0.3 is not.
    assert got == [("127.0.0.1", True, "served"), ("127.0.0.3", False, "nothing"),
                   ("127.0.0.1", True, "served")], got
    assert tables.refusals("127.0.0.1") >= 1
