"""dnsmasq as a forwarder under the shim: the upstream's answers are not
requests (they are not judged, so not refused), admitted clients get their
answers, refused clients get nothing, and the refusal log never names the
upstream."""

from __future__ import annotations

import socket
import struct
import subprocess
import time

from conftest import ADMITTED, REFUSED, free_port, shim_env, spawn

UPSTREAM = "127.0.0.5"

FAKE_UPSTREAM = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
print("READY", flush=True)
while True:
    q, peer = s.recvfrom(512)
    end = 12
    while q[end] != 0:
        end += q[end] + 1
    question = q[12:end + 5]
    answer = b"\\xc0\\x0c" + b"\\x00\\x01\\x00\\x01" + b"\\x00\\x00\\x00\\x3c" + b"\\x00\\x04" + bytes([192, 0, 2, 1])
    s.sendto(q[:2] + b"\\x81\\x80" + b"\\x00\\x01\\x00\\x01\\x00\\x00\\x00\\x00" + question + answer, peer)
"""


def query(src: str, port: int, qid: int) -> bytes | None:
    name = b"".join(bytes([len(p)]) + p for p in b"www.example.test".split(b".")) + b"\x00"
    packet = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + name + b"\x00\x01\x00\x01"
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, 0))
    s.settimeout(1.5)
    try:
        s.sendto(packet, ("127.0.0.1", port))
        data, _ = s.recvfrom(512)
        return data
    except socket.timeout:
        return None
    finally:
        s.close()


def test_dnsmasq_forwarder(tables, workdir):
    tables.write(f"dnsmasq: {ADMITTED}\n")
    up_port = free_port(UPSTREAM, kind=socket.SOCK_DGRAM)
    up = spawn(["python3", "-u", "-c", FAKE_UPSTREAM, UPSTREAM, str(up_port)], stdout=subprocess.PIPE)
    assert up.stdout.readline().startswith(b"READY")
    port = free_port(kind=socket.SOCK_DGRAM)
    err = open(workdir / "dnsmasq.err", "wb")
    dm = spawn(["dnsmasq", "-k", "--conf-file=/dev/null", f"--port={port}", "--listen-address=127.0.0.1",
                "--bind-interfaces", "--no-resolv", "--no-hosts", f"--server={UPSTREAM}#{up_port}",
                "--cache-size=0", "--user=root", "--pid-file="], env=shim_env(tables), stdout=err, stderr=err)
    deadline = time.monotonic() + 10
    answer = None
    while answer is None and time.monotonic() < deadline:
        assert dm.poll() is None, (workdir / "dnsmasq.err").read_text()
        answer = query(ADMITTED, port, 1)
    for qid in range(2, 7):
        a = query(ADMITTED, port, qid)
        assert a is not None and a[:2] == struct.pack(">H", qid) and a.endswith(bytes([192, 0, 2, 1])), a
        assert query(REFUSED, port, 100 + qid) is None
    log = tables.log_text()
    assert f"refused connect from {REFUSED}" in log, log
    assert f"refused connect from {UPSTREAM}" not in log, log
    assert dm.poll() is None
