"""A slow lookup for one client never delays another.

Client A (127.0.0.3) has a silent identd (it accepts on port 113 and never
answers) or a silent DNS server behind its reverse lookup (a UDP socket that
reads queries and never answers, named in a private /etc/resolv.conf);
client B (127.0.0.2) has neither (no identd: refused at once; its name is in
a private /etc/hosts). A connects first, B 0.2 s later. B must be served
within 0.5 s of connecting, by a single-threaded blocking server and by an
epoll server alike, and A when its lookup times out. The tables and the
resolver files live in a private mount namespace (unshare -m): the real /etc
is never touched.
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time

import pytest

from conftest import ADMITTED, REFUSED, SHIM, preload, free_port, spawn, wait_port

SERVERS = {
    "blocking": """
import socket, sys
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", int(sys.argv[1]))); l.listen(64)
while True:
    c, a = l.accept()
    c.sendall(b"hello " + a[0].encode()); c.close()
""",
    "epoll": """
import selectors, socket, sys
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", int(sys.argv[1]))); l.listen(64); l.setblocking(False)
sel = selectors.EpollSelector(); sel.register(l, selectors.EVENT_READ)
while True:
    for key, _ in sel.select():
        while True:
            try:
                c, a = l.accept()
            except BlockingIOError:
                break
            c.sendall(b"hello " + a[0].encode()); c.close()
""",
    "udp": """
import socket, sys
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("127.0.0.1", int(sys.argv[1])))
while True:
    data, a = u.recvfrom(512)
    u.sendto(b"hello " + a[0].encode(), a)
""",
}


def silent_identd(stop: threading.Event) -> threading.Thread:
    """Listens on 127.0.0.3:113, takes connections and never answers."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((REFUSED, 113))
    s.listen(16)
    s.settimeout(0.2)
    held = []

    def run():
        while not stop.is_set():
            try:
                held.append(s.accept()[0])
            except socket.timeout:
                pass
        for c in held:
            c.close()
        s.close()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def silent_dns(stop: threading.Event, address: str) -> threading.Thread:
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    u.bind((address, 53))
    u.settimeout(0.2)

    def run():
        while not stop.is_set():
            try:
                u.recvfrom(2048)
            except socket.timeout:
                pass
        u.close()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def client(kind: str, src: str, port: int, timeout: float) -> tuple[float | None, bytes]:
    t0 = time.monotonic()
    if kind == "udp":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((src, 0))
        s.settimeout(timeout)
        try:
            s.sendto(b"hi", ("127.0.0.1", port))
            data = s.recvfrom(64)[0]
            return time.monotonic() - t0, data
        except OSError:
            return None, b""
        finally:
            s.close()
    s = socket.socket()
    s.bind((src, 0))
    s.settimeout(timeout)
    try:
        s.connect(("127.0.0.1", port))
        data = s.recv(64)
        return time.monotonic() - t0, data
    except OSError:
        return None, b""
    finally:
        s.close()


@pytest.mark.parametrize("server,lookup", [("blocking", "ident"), ("epoll", "ident"),
                                           ("blocking", "dns"), ("epoll", "dns"), ("udp", "dns")])
def test_slow_lookup_delays_nobody_else(server, lookup, tables, workdir):
    stop = threading.Event()
    dns = "127.0.0.9"
    if lookup == "ident":
        # Every client's user is asked for; nobody is "baduser".
        tables.write("", f"ALL: baduser@ALL\n")
        helper = silent_identd(stop)
    else:
        # A name pattern: every client's name is looked up.
        tables.write("", "ALL: .nowhere.invalid\n")
        helper = silent_dns(stop, dns)
    (workdir / "hosts").write_text(f"127.0.0.1 localhost\n{ADMITTED} b.test\n")
    (workdir / "resolv.conf").write_text(f"nameserver {dns}\noptions timeout:3 attempts:1\n")
    (workdir / "nsswitch.conf").write_text("hosts: files dns\n")
    (workdir / "server.py").write_text(SERVERS[server])
    port = free_port()
    env_vars = [f"LD_PRELOAD={preload(SHIM)}", f"TCPWRAP_HOSTS_ALLOW={tables.allow}", f"TCPWRAP_HOSTS_DENY={tables.deny}",
                f"TCPWRAP_LOG={tables.log}", "TCPWRAP_DAEMON=server"]
    script = (f"mount --bind {workdir}/hosts /etc/hosts && mount --bind {workdir}/resolv.conf /etc/resolv.conf && "
              f"mount --bind {workdir}/nsswitch.conf /etc/nsswitch.conf && "
              f"exec env {' '.join(env_vars)} python3 {workdir}/server.py {port}")
    p = spawn(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        if server == "udp":
            time.sleep(1)
            assert p.poll() is None, p.stderr.read()
        else:
            wait_port(port, proc=p)
        slow: list = []
        t = threading.Thread(target=lambda: slow.append(client(server, REFUSED, port, 20)))
        t.start()
        time.sleep(0.2)
        fast, data = client(server, ADMITTED, port, 5)
        assert fast is not None and data == f"hello {ADMITTED}".encode(), (fast, data)
        assert fast < 0.5, f"the second client waited {fast:.2f} s behind the first one's {lookup} lookup"
        # And another, while the first is still being decided.
        fast2, _ = client(server, ADMITTED, port, 5)
        assert fast2 is not None and fast2 < 0.5, fast2
        t.join(25)
        took, data = slow[0]
        # The slow client is decided when its lookup gives up: admitted
        # (user or name unknown matches no rule).
        assert took is not None and data == f"hello {REFUSED}".encode(), (took, data)
        assert took > 1.0, f"the slow client was decided in {took:.2f} s: was its lookup made at all?"
    finally:
        stop.set()
        helper.join(5)
