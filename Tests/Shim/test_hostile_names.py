"""Hostile host names through every %-expansion.

The client 127.0.0.3 is given, in a private /etc/hosts (unshare -m), a name
full of shell syntax: quotes, ;, $( ), backquotes, | and &. It verifies
(the same file maps it back); the rules name KNOWN, so the name is looked
up and %h, %n, %c and the banner expand it (as in libwrap, %h is the
address when no rule needed the name). A
spawn command, a twist command and a banner must see only safe bytes (every
other byte is '_', as hosts_access(5) says), no command may run from the
name, and the log line about the client stays one line.
"""

from __future__ import annotations

import socket
import subprocess
import time

from conftest import REFUSED, SHIM, preload, free_port, spawn, wait_port

NAME = "evil;touch${IFS}PWNED`id`$(id)|x&y'q\"z"
SERVER = """
import socket, sys
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", int(sys.argv[1]))); l.listen(8)
while True:
    c, a = l.accept()
    try:
        c.sendall(b"served\\n")
    except OSError:
        pass
    c.close()
"""


def run(tables, workdir, allow: str, deny: str = "") -> bytes:
    tables.write(allow, deny)
    (workdir / "hosts").write_text(f"127.0.0.1 localhost\n127.0.0.3 {NAME}\n")
    (workdir / "server.py").write_text(SERVER)
    port = free_port()
    env_vars = [f"LD_PRELOAD={preload(SHIM)}", f"TCPWRAP_HOSTS_ALLOW={tables.allow}", f"TCPWRAP_HOSTS_DENY={tables.deny}",
                f"TCPWRAP_LOG={tables.log}", "TCPWRAP_DAEMON=server"]
    script = (f"mount --bind {workdir}/hosts /etc/hosts && cd {workdir} && "
              f"exec env {' '.join(env_vars)} python3 {workdir}/server.py {port}")
    p = spawn(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, proc=p)
    c = socket.socket()
    c.bind((REFUSED, 0))
    c.settimeout(5)
    data = b""
    try:
        c.connect(("127.0.0.1", port))
        while True:
            chunk = c.recv(4096)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    finally:
        c.close()
    time.sleep(0.5)
    return data


def safe(text: str) -> bool:
    return not any(ch in text for ch in ";$`|&'\"() ")


def test_spawn_sees_only_safe_bytes(tables, workdir):
    out = workdir / "spawned"
    run(tables, workdir, f"server: KNOWN : spawn /bin/echo %h %n %c >> {out}\n")
    deadline = time.monotonic() + 5
    while not out.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    words = out.read_text().split()
    assert len(words) == 3, words
    for w in words:
        assert safe(w) and "evil_touch" in w, w
    assert not list(workdir.glob("PWNED*")) and not list(workdir.parent.glob("PWNED*"))


def test_twist_sees_only_safe_bytes(tables, workdir):
    data = run(tables, workdir, "server: KNOWN : twist /bin/echo client %h\n").decode()
    assert data.startswith("client evil_touch"), data
    assert safe(data.strip().split(" ", 1)[1]), data
    assert not list(workdir.glob("PWNED*"))


def test_banner_sees_only_safe_bytes(tables, workdir):
    (workdir / "banners").mkdir()
    (workdir / "banners" / "server").write_text("hello %h\n")
    data = run(tables, workdir, f"server: KNOWN : banners {workdir}/banners\n").decode()
    first = data.splitlines()[0]
    assert first.startswith("hello evil_touch") and safe(first[len("hello "):]), data
    assert "served" in data


def test_log_line_of_a_refused_hostile_name_is_one_line(tables, workdir):
    data = run(tables, workdir, "", "server: KNOWN\n")
    assert data == b""
    lines = [l for l in tables.log_text().splitlines() if "refused connect from" in l]
    assert len(lines) == 1, tables.log_text()
    assert "evil;touch" in lines[0] or "evil_touch" in lines[0], lines[0]
