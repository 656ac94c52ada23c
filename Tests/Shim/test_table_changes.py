"""A changed large table is compiled off the daemon's path.

A 4 MiB deny table (fail2ban style, ~250 ms to compile) is in force in a
single-threaded blocking server under the shim. It is edited to ban a
client: the connection that notices the change is not held for the compile
(the previous version decides for it), and the ban is in force moments
later, as soon as the new version is compiled.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time

from conftest import ADMITTED, REFUSED, free_port, shim_env, spawn, wait_port

SERVER = """
import socket, sys
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", int(sys.argv[1]))); l.listen(64)
while True:
    c, a = l.accept()
    c.sendall(b"hello"); c.close()
"""


def connect(src: str, port: int) -> tuple[float, bool]:
    t0 = time.monotonic()
    s = socket.socket()
    s.bind((src, 0))
    s.settimeout(5)
    try:
        s.connect(("127.0.0.1", port))
        ok = s.recv(16) == b"hello"
    except OSError:
        ok = False
    finally:
        s.close()
    return time.monotonic() - t0, ok


def ban_lines(n: int) -> str:
    return "".join(f"ALL: 10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}\n" for i in range(n))


def test_large_table_edit_does_not_hold_the_daemon(tables, workdir):
    base = ban_lines(220_000)                       # about 4 MiB
    assert len(base) > 3 << 20
    tables.write("", base)
    (workdir / "server.py").write_text(SERVER)
    port = free_port()
    p = spawn(["python3", str(workdir / "server.py"), str(port)], env=shim_env(tables, daemon="server"),
              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, proc=p)
    first, ok = connect(ADMITTED, port)              # compiles it, on the daemon's path
    assert ok
    warm, ok = connect(ADMITTED, port)
    assert ok and warm < 0.05, warm
    # The ban, appended as fail2ban does (the file is rewritten in place).
    with open(tables.deny, "a") as f:
        f.write(f"ALL: {REFUSED}\n")
    noticed, ok = connect(ADMITTED, port)
    assert ok
    assert noticed < max(first / 3, 0.05), (
        f"the connection that noticed the edit waited {noticed * 1000:.0f} ms (first compile {first * 1000:.0f} ms)")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        _, ok = connect(REFUSED, port)
        if not ok:
            break
        time.sleep(0.05)
    assert not ok, "the ban was not in force 5 s after the edit"
    assert connect(ADMITTED, port)[1]
    assert tables.refusals(REFUSED) >= 1
