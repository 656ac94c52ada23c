"""Servers that take a refused client badly, under the shim.

A refused client must be invisible to the daemon: no error it did not ask
for, no wake-up for nothing. Servers that call a blocking accept() without
polling (nc.openbsd -lk, busybox nc -ll, openssl s_server) exit on an error
from accept(): the call must wait for the next admitted client, as the real
one would. PostgreSQL's postmaster select()s its blocking listeners and,
after any accept() error, logs it and sleeps 100 ms: it must never be woken
for a refused client (the wait hooks filter readiness), so it logs nothing
and admitted clients connect at full speed while refused ones keep coming.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import ssl
import struct
import subprocess
import threading
import time

import pytest

from conftest import ADMITTED, REFUSED, alive, free_port, spawn, shim_env, tcp_exchange, wait_port


def refuse_many(port: int, n: int) -> int:
    """n clients from the refused address, one after another: how many were
    reset or closed without a byte."""
    reset = 0
    for _ in range(n):
        c = socket.socket()
        c.bind((REFUSED, 0))
        c.settimeout(3)
        try:
            c.connect(("127.0.0.1", port))
            reset += c.recv(1) == b""
        except (ConnectionResetError, ConnectionRefusedError):
            reset += 1
        except socket.timeout:
            pass
        finally:
            c.close()
    return reset


def admitted_exchange(port: int, data: bytes) -> bytes:
    """What the server answers the admitted client that sent data (and shut its side), read to EOF."""
    status, got = tcp_exchange(ADMITTED, port, data, shut=True)
    assert status in ("data", "eof"), (status, got)
    return got


def test_nc_openbsd_keeps_listening(tables, workdir):
    if not shutil.which("nc.openbsd"):
        pytest.fail("nc.openbsd is not installed (netcat-openbsd; scripts/deps installs it)")
    tables.write(f"nc.openbsd: {ADMITTED}\n")
    port = free_port()
    out = workdir / "nc.out"
    with open(out, "wb") as sink:
        p = spawn(["nc.openbsd", "-lk", "127.0.0.1", str(port)], env=shim_env(tables),
                  stdin=subprocess.PIPE, stdout=sink, stderr=subprocess.STDOUT)
    wait_port(port, proc=p)
    assert refuse_many(port, 200) == 200
    assert alive(p.pid), "nc.openbsd -lk exited after refused clients"
    admitted_exchange(port, b"hello from the admitted client\n")
    deadline = time.monotonic() + 5
    while b"hello from the admitted client" not in out.read_bytes() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert b"hello from the admitted client" in out.read_bytes(), out.read_bytes()
    assert alive(p.pid)
    assert tables.refusals(REFUSED) >= 1


def test_busybox_nc_keeps_listening(tables, workdir):
    if not shutil.which("busybox"):
        pytest.fail("busybox is not installed (scripts/deps installs it)")
    tables.write(f"busybox: {ADMITTED}\n")
    port = free_port()
    p = spawn(["busybox", "nc", "-ll", "-p", str(port), "-e", "/bin/cat"], env=shim_env(tables),
              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, proc=p)
    assert refuse_many(port, 200) == 200
    assert alive(p.pid), "busybox nc -ll exited after refused clients"
    assert admitted_exchange(port, b"ping\n") == b"ping\n"
    assert alive(p.pid)


def test_openssl_s_server_keeps_serving(tables, workdir):
    tables.write(f"openssl: {ADMITTED}\n")
    key, cert = workdir / "key.pem", workdir / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-subj", "/CN=test", "-keyout", str(key), "-out", str(cert), "-days", "2"],
                   check=True, capture_output=True, timeout=30)
    port = free_port()
    p = spawn(["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", str(cert), "-key", str(key),
               "-www", "-quiet"], env=shim_env(tables), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, proc=p)
    assert refuse_many(port, 200) == 200
    assert alive(p.pid), "openssl s_server exited after refused clients"
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    c = socket.socket()
    c.bind((ADMITTED, 0))
    c.settimeout(5)
    c.connect(("127.0.0.1", port))
    with ctx.wrap_socket(c) as s:
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        assert s.recv(64).startswith(b"HTTP/1.0 200 ok")
    assert alive(p.pid)


# --------------------------------------------------------------------------
# PostgreSQL


def postgres_bin() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    if not found:
        pytest.fail("PostgreSQL is not installed (postgresql; scripts/deps installs it)")
    return found[-1]


def ssl_request(port: int) -> float | None:
    """The time an admitted client waits from connect() to the server's
    answer to an SSLRequest (the postmaster's first reply), or None."""
    t0 = time.monotonic()
    c = socket.socket()
    c.bind((ADMITTED, 0))
    c.settimeout(3)
    try:
        c.connect(("127.0.0.1", port))
        c.sendall(struct.pack("!ii", 8, 80877103))
        return time.monotonic() - t0 if c.recv(1) == b"N" else None
    except OSError:
        return None
    finally:
        c.close()


@pytest.fixture
def postgres(tables, workdir):
    binary = postgres_bin()
    initdb = os.path.join(os.path.dirname(binary), "initdb")
    data, sock = workdir / "data", workdir / "sock"
    sock.mkdir()
    shutil.chown(workdir, "postgres")
    shutil.chown(sock, "postgres")
    subprocess.run(["runuser", "-u", "postgres", "--", initdb, "-D", str(data), "-A", "trust", "-U", "postgres"],
                   check=True, capture_output=True, timeout=120)
    port = free_port()
    log = workdir / "postgres.log"
    env = shim_env(tables)
    with open(log, "wb") as sink:
        shutil.chown(log, "postgres")
        p = spawn(["runuser", "-u", "postgres", "--", "env"] + [f"{k}={v}" for k, v in env.items() if k.startswith(("LD_", "TCPWRAP_"))]
                  + [binary, "-D", str(data), "-k", str(sock), "-p", str(port), "-c", "listen_addresses=127.0.0.1"],
                  stdout=sink, stderr=subprocess.STDOUT)
    wait_port(port, proc=p, timeout=30)
    return port, log


def test_postgres_never_sees_a_refused_client(tables, workdir, postgres):
    """Refused clients arrive 50 times a second for 3 s while an admitted
    client connects over and over: the postmaster logs no accept error (it
    would sleep 100 ms after each), and the admitted client is answered as
    fast as with no refused clients at all."""
    tables.write(f"postgres: {ADMITTED}\n")
    port, log = postgres

    def admitted_for(seconds: float) -> list[float]:
        stop = time.monotonic() + seconds
        times = []
        while time.monotonic() < stop:
            t = ssl_request(port)
            assert t is not None, "an admitted client was not answered"
            times.append(t)
        return sorted(times)

    quiet = admitted_for(1.5)
    refused = [0]
    stop = time.monotonic() + 3

    def flood():
        while time.monotonic() < stop:
            refused[0] += refuse_many(port, 1)
            time.sleep(0.02)

    t = threading.Thread(target=flood)
    t.start()
    busy = admitted_for(3)
    t.join()
    assert refused[0] >= 100, refused
    assert tables.refusals(REFUSED) >= 1
    text = log.read_text(errors="replace")
    assert "could not accept" not in text, text
    median_quiet, median_busy = quiet[len(quiet) // 2], busy[len(busy) // 2]
    # Each accept() error would cost the postmaster 100 ms: 50 a second
    # would leave the admitted client waiting most of the time.
    assert busy[-1] < 0.1, f"slowest admitted connection {busy[-1] * 1000:.1f} ms"
    assert median_busy < max(4 * median_quiet, 0.01), (median_quiet, median_busy)
    assert len(busy) >= len(quiet), (len(quiet), len(busy))
