"""Our tcpd and try-from against Debian's, run the way inetd runs them.

socat plays inetd: it accepts (or, for a "wait" UDP service, waits for a
datagram) and runs the wrapper with the connection as descriptors 0-2
(`nofork`), argv[0] naming the real server, as inetd.conf does. Each run
happens in a private mount namespace with its own tables over
/etc/hosts.allow and /etc/hosts.deny and its own /dev/log (a socket this
test reads), so the syslog lines are compared too. Traffic stays on
127.0.0.0/8.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SBIN = Path(os.environ.get("TCPWRAP_SBIN", REPO / ".build/stage/sbin"))
DEBIAN_SBIN = Path("/usr/sbin")


class Syslog:
    """A datagram socket standing in for /dev/log."""

    def __init__(self, path: Path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        os.chmod(path, 0o666)
        self.sock.settimeout(0.1)
        self.lines: list[str] = []
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop:
            try:
                self.lines.append(self.sock.recv(4096).decode("latin-1"))
            except socket.timeout:
                pass

    def close(self):
        self.stop = True
        self.thread.join(2)
        self.sock.close()

    def messages(self) -> list[tuple[int, str]]:
        """(priority, "name[pid]: text" with the pid taken out) per line."""
        out = []
        for line in self.lines:
            pri, _, rest = line.partition(">")
            # Drop the "Mon DD HH:MM:SS " stamp (a day below 10 is padded: "Dec  6").
            body = re.sub(r"^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d ", "", rest)
            name, _, text = body.partition(": ")
            out.append((int(pri.lstrip("<")), name.split("[")[0] + ": " + text))
        return out


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def serve(work: Path, allow: str, deny: str, socat_args: list[str], program: list[str] | None = None,
          finger: Path | None = None) -> tuple[subprocess.Popen, Syslog]:
    (work / "allow").write_text(allow)
    (work / "deny").write_text(deny)
    (work / "log").unlink(missing_ok=True)
    log = Syslog(work / "log")
    # A private /dev (this machine may have no /dev/log) with the few
    # devices the programs use, and the test's socket as /dev/log.
    script = (f"mount --bind {work}/allow /etc/hosts.allow && mount --bind {work}/deny /etc/hosts.deny && "
              "mount -t tmpfs tmpfs /dev && mknod -m 666 /dev/null c 1 3 && mknod -m 666 /dev/zero c 1 5 && "
              "mknod -m 666 /dev/urandom c 1 9 && mknod -m 666 /dev/random c 1 8 && ln -s /proc/self/fd /dev/fd && "
              f"touch /dev/log && mount --bind {work}/log /dev/log && "
              + (f"mount --bind {finger} /usr/bin/finger && " if finger else "") + "exec \"$@\"")
    p = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", *(program or ["socat"]), *socat_args],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    return p, log


def stop(p: subprocess.Popen) -> None:
    try:
        os.killpg(p.pid, 9)
    except ProcessLookupError:
        pass
    p.wait(5)


def wait_listening(port: int, udp: bool = False) -> None:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        out = subprocess.run(["ss", "-Hanu" if udp else "-Hltn", f"sport = :{port}"], capture_output=True, text=True).stdout
        if out.strip():
            return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")


def tcp_talk(src: str, port: int, data: bytes) -> bytes:
    c = socket.socket()
    c.bind((src, 0))
    c.settimeout(5)
    try:
        c.connect(("127.0.0.1", port))
        c.sendall(data)
        c.shutdown(socket.SHUT_WR)
        got = b""
        while True:
            chunk = c.recv(4096)
            if not chunk:
                return got
            got += chunk
    except (ConnectionResetError, socket.timeout):
        return got
    finally:
        c.close()


@pytest.fixture
def work():
    with tempfile.TemporaryDirectory() as d:
        os.chmod(d, 0o755)
        yield Path(d)


def try_from_output(work: Path, sbin: Path, src: str) -> str:
    port = free_port()
    p, log = serve(work, "", "", [f"TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr", f"EXEC:{sbin}/try-from,nofork"])
    try:
        wait_listening(port)
        return tcp_talk(src, port, b"").decode("latin-1")
    finally:
        stop(p)
        log.close()


@pytest.mark.parametrize("src", ["127.0.0.1", "127.0.0.2"])
def test_try_from_matches_debian(work, src):
    assert (SBIN / "try-from").is_file()
    ours = try_from_output(work, SBIN, src)
    debian = try_from_output(work, DEBIAN_SBIN, src)
    assert f"client address  (%a): {src}" in ours, ours
    assert ours == debian, f"ours:\n{ours}\ndebian:\n{debian}"


def wrapper(work: Path, sbin: Path, server: str) -> Path:
    """A script that runs tcpd with argv[0] naming the server, as inetd does."""
    w = work / "run-tcpd"
    w.write_text(f"#!/bin/bash\nexec -a {server} {sbin}/tcpd\n")
    w.chmod(0o755)
    return w


def tcpd_tcp(work: Path, sbin: Path) -> tuple[list[bytes], list[tuple[int, str]]]:
    """An echo service (/bin/cat) behind tcpd: 127.0.0.2 admitted, 127.0.0.3 refused."""
    port = free_port()
    exe = f"EXEC:{wrapper(work, sbin, '/bin/cat')},nofork"
    p, log = serve(work, "cat: 127.0.0.2\n", "ALL: ALL\n", [f"TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork", exe])
    try:
        wait_listening(port)
        answers = [tcp_talk(src, port, b"hello\n") for src in ("127.0.0.2", "127.0.0.3", "127.0.0.2")]
        time.sleep(0.3)
        return answers, log.messages()
    finally:
        stop(p)
        log.close()


def test_tcpd_tcp_service_matches_debian(work):
    ours, ours_log = tcpd_tcp(work, SBIN)
    assert ours == [b"hello\n", b"", b"hello\n"], ours
    debian, debian_log = tcpd_tcp(work, DEBIAN_SBIN)
    assert ours == debian
    assert ours_log == debian_log, f"ours: {ours_log}\ndebian: {debian_log}"
    assert any("connect from 127.0.0.2" in m for _, m in ours_log), ours_log
    assert any("refused connect from 127.0.0.3" in m for _, m in ours_log), ours_log


def tcpd_udp(work: Path, sbin: Path, src: str) -> tuple[bytes | None, float, list[tuple[int, str]]]:
    """A "wait" UDP service: the wrapper gets the socket with the datagram
    still queued; an admitted client gets the server (here a one-shot
    echo), a refused one's datagram is read off and the wrapper exits."""
    port = free_port()
    echo = work / "udpecho"
    echo.write_text("#!/usr/bin/python3\nimport socket\ns = socket.socket(fileno=0)\n"
                    "d, a = s.recvfrom(512)\ns.sendto(d, a)\n")
    echo.chmod(0o755)
    exe = f"EXEC:{wrapper(work, sbin, str(echo))},nofork"
    p, log = serve(work, "udpecho: 127.0.0.2\n", "ALL: ALL\n", [f"UDP-RECV:{port},bind=127.0.0.1", exe])
    try:
        wait_listening(port, udp=True)
        c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        c.bind((src, 0))
        c.settimeout(2)
        t0 = time.monotonic()
        c.sendto(b"ping", ("127.0.0.1", port))
        try:
            got = c.recvfrom(64)[0]
        except socket.timeout:
            got = None
        # The wrapper (or the server) exits: socat with it.
        p.wait(10)
        took = time.monotonic() - t0
        time.sleep(0.2)
        return got, took, log.messages()
    finally:
        stop(p)
        log.close()


@pytest.mark.parametrize("src,admitted", [("127.0.0.2", True), ("127.0.0.3", False)])
def test_tcpd_wait_udp_service_matches_debian(work, src, admitted):
    ours, ours_took, ours_log = tcpd_udp(work, SBIN, src)
    assert (ours == b"ping") == admitted, ours
    debian, debian_took, debian_log = tcpd_udp(work, DEBIAN_SBIN, src)
    assert ours == debian
    assert ours_log == debian_log, f"ours: {ours_log}\ndebian: {debian_log}"
    if not admitted:
        # Both read the datagram off and wait 5 s before exiting (inetd
        # would otherwise start the wrapper again at once).
        assert ours_took > 4 and debian_took > 4, (ours_took, debian_took)


def tcpd_under_inetd(work: Path, sbin: Path) -> tuple[list[bytes], bytes | None, bytes | None, list[tuple[int, str]]]:
    """openbsd-inetd itself: a nowait TCP echo service (/bin/cat) and a
    wait UDP echo service, both through tcpd."""
    tcp, udp = free_port(), free_port()
    echo = work / "udpecho"
    echo.write_text("#!/usr/bin/python3\nimport socket\ns = socket.socket(fileno=0)\n"
                    "d, a = s.recvfrom(512)\ns.sendto(d, a)\n")
    echo.chmod(0o755)
    conf = work / "inetd.conf"
    conf.write_text(f"127.0.0.1:{tcp} stream tcp nowait root {sbin}/tcpd /bin/cat\n"
                    f"127.0.0.1:{udp} dgram udp wait root {sbin}/tcpd {echo}\n")
    p, log = serve(work, "cat: 127.0.0.2\nudpecho: 127.0.0.2\n", "ALL: ALL\n", ["-d", str(conf)], program=["/usr/sbin/inetd"])
    try:
        wait_listening(tcp)
        answers = [tcp_talk(src, tcp, b"hello\n") for src in ("127.0.0.2", "127.0.0.3", "127.0.0.2")]
        def datagram(src):
            c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            c.bind((src, 0))
            c.settimeout(2)
            c.sendto(b"ping", ("127.0.0.1", udp))
            try:
                return c.recvfrom(64)[0]
            except socket.timeout:
                return None
            finally:
                c.close()
        admitted = datagram("127.0.0.2")
        refused = datagram("127.0.0.3")
        time.sleep(0.3)
        # (inetd's own lines name its ports, which differ between runs)
        return answers, admitted, refused, sorted(m for m in log.messages() if not m[1].startswith("inetd:"))
    finally:
        stop(p)
        log.close()


def test_tcpd_under_openbsd_inetd_matches_debian(work):
    if not Path("/usr/sbin/inetd").is_file():
        pytest.fail("openbsd-inetd is not installed (scripts/deps installs it)")
    ours = tcpd_under_inetd(work, SBIN)
    assert ours[0] == [b"hello\n", b"", b"hello\n"] and ours[1] == b"ping" and ours[2] is None, ours[:3]
    debian = tcpd_under_inetd(work, DEBIAN_SBIN)
    assert ours[:3] == debian[:3]
    assert ours[3] == debian[3], f"ours: {ours[3]}\ndebian: {debian[3]}"


def reverse_finger(work: Path, sbin: Path) -> bytes:
    """hosts_access(5)'s booby trap: a refused client is fingered back
    through safe_finger by a spawn option (a finger of the test's own)."""
    finger = work / "finger"
    finger.write_text("#!/bin/sh\necho \"finger $*\"\nprintf 'evil\\033[2J\\n'\n")
    finger.chmod(0o755)
    out = work / "finger.out"
    out.unlink(missing_ok=True)
    port = free_port()
    deny = f"ALL: ALL : spawn ({sbin}/safe_finger -l @%h > {out}) &\n"
    p, log = serve(work, "cat: 127.0.0.2\n", deny, [f"TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork",
                                                   f"EXEC:{wrapper(work, sbin, '/bin/cat')},nofork"], finger=finger)
    try:
        wait_listening(port)
        assert tcp_talk("127.0.0.3", port, b"hello\n") == b""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (out.exists() and out.read_bytes().endswith(b"\n")):
            time.sleep(0.1)
        return out.read_bytes() if out.exists() else b""
    finally:
        stop(p)
        log.close()


def test_reverse_finger_through_spawn_as_the_manual_shows(work):
    ours = reverse_finger(work, SBIN)
    assert ours == b" finger -l @127.0.0.3\n evil\\033[2J\n", ours
    assert ours == reverse_finger(work, DEBIAN_SBIN)
