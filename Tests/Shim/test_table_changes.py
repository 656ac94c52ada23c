"""A changed large table is compiled off the daemon's thread, and no
client is decided by the version it replaces.

A 4 MiB deny table (fail2ban style, ~250 ms to compile) is in force in a
single-threaded select() server under the shim, which also notes every
time its loop was held longer than 50 ms. The table is edited to ban a
client, as fail2ban does (appended in place). The connections that follow
wait on a judge thread for the new version's compile (the daemon's loop
goes on: no long gap), the banned client is refused by the first of them,
and the admitted client is still served.
"""

from __future__ import annotations

import socket
import subprocess
import time

from conftest import ADMITTED, REFUSED, free_port, shim_env, spawn, wait_port

SERVER = """
import select, socket, sys, time
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", int(sys.argv[1]))); l.listen(64); l.setblocking(False)
gaps, last = open(sys.argv[2], "a", buffering=1), time.monotonic()
while True:
    ready, _, _ = select.select([l], [], [], 0.01)
    now = time.monotonic()
    if now - last > 0.05:
        gaps.write(f"{now - last:.3f}\\n")
    last = now
    if ready:
        try:
            c, a = l.accept()
        except BlockingIOError:
            continue
        c.setblocking(True)
        c.sendall(b"hello"); c.close()
"""


def connect(src: str, port: int) -> tuple[float, bool]:
    t0 = time.monotonic()
    s = socket.socket()
    s.bind((src, 0))
    s.settimeout(10)
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


def test_large_table_edit_holds_neither_the_daemon_nor_a_ban(tables, workdir):
    base = ban_lines(220_000)                       # about 4 MiB
    assert len(base) > 3 << 20
    tables.write("", base)
    time.sleep(0.2)   # older than the racy window: the first compile is trusted (not read again)
    (workdir / "server.py").write_text(SERVER)
    gaps = workdir / "gaps"
    port = free_port()
    p = spawn(["python3", str(workdir / "server.py"), str(port), str(gaps)],
              env=shim_env(tables, daemon="server"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, proc=p)
    first, ok = connect(ADMITTED, port)              # the first compile, on a judge thread
    assert ok
    warm, ok = connect(ADMITTED, port)
    assert ok and warm < 0.05, warm
    assert gaps.read_text() == "", f"the daemon's loop was held before the edit: {gaps.read_text()}"
    # The ban, appended as fail2ban does (the file is written in place).
    with open(tables.deny, "a") as f:
        f.write(f"ALL: {REFUSED}\n")
    time.sleep(0.01)                                 # a stat() stands 1 ms
    noticed, banned_ok = connect(REFUSED, port)
    assert not banned_ok, "the banned client was admitted by the version before the edit"
    later, ok = connect(ADMITTED, port)
    assert ok, "the admitted client was refused after the edit"
    time.sleep(0.3)                                  # past the racy window: compiled once more
    again, ok = connect(ADMITTED, port)
    assert ok
    assert gaps.read_text() == "", (
        f"the daemon's loop was held (s): {gaps.read_text().split()} (first compile {first:.3f} s)")
    assert tables.refusals(REFUSED) >= 1
    print(f"first compile {first * 1000:.0f} ms; after the edit: banned client refused in {noticed * 1000:.0f} ms, "
          f"admitted client served in {later * 1000:.0f} ms, then {again * 1000:.0f} ms")
