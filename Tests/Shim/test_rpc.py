"""5. rpcbind and rpc.mountd under the shim, in a private network and mount
namespace (unshare -n -m): loopback only, /etc/exports and /var/lib/nfs are
private bind mounts, /run is a private tmpfs. Admitted source: 127.0.0.1;
refused: 127.0.0.3.

Raw NULL calls (rpc_probe.py) bind their source address and talk to one
daemon directly. rpcinfo and showmount cannot bind a source address, and the
REFERENCE trick (`ip route replace local 127.0.0.10/32 dev lo src 127.0.0.3
table local`) only covers their first contact: rpcbind answers GETADDR with
127.0.0.1 (the address of lo), so the call to mountd goes to 127.0.0.1. We
therefore switch the source of the `local 127.0.0.1` route itself between
127.0.0.1 (admitted phase) and 127.0.0.3 (refused phase); connections that
are already open are not affected.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import HERE, alive, assert_shim_loaded, free_port, shim_env, spawn

MOUNTPROG, PMAPPROG = 100005, 100000

pytestmark = pytest.mark.skipif(not Path("/usr/sbin/rpc.mountd").exists() or not Path("/usr/sbin/rpcbind").exists(),
                                reason="rpcbind / nfs-kernel-server not installed")


class NS:
    def __init__(self, workdir: Path):
        self.dir = workdir
        (workdir / "nfs").mkdir()
        for f in ("etab", "rmtab"):
            (workdir / "nfs" / f).touch()
        (workdir / "export").mkdir()
        (workdir / "exports").write_text(f"{workdir}/export 127.0.0.0/8(ro,no_subtree_check)\n")
        setup = f"""
            set -e
            ip link set lo up
            ip route replace local 127.0.0.10/32 dev lo src 127.0.0.3 table local
            mount --bind {workdir}/exports /etc/exports
            mount --bind {workdir}/nfs /var/lib/nfs
            mount -t tmpfs tmpfs /run
            mkdir -p /run/rpcbind
            exportfs -ra
            echo ready
            exec sleep 600
        """
        self.holder = spawn(["unshare", "-n", "-m", "--propagation", "private", "sh", "-c", setup],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        line = self.holder.stdout.readline().decode()
        assert line.strip() == "ready", line + self.holder.stdout.read().decode() if self.holder.poll() is not None else line
        self.pid = self.holder.pid

    def argv(self, *cmd):
        return ["nsenter", "-t", str(self.pid), "-n", "-m", *cmd]

    def run(self, *cmd, timeout=10) -> tuple[int | None, str]:
        """Runs a client; (None, output) if it had to be killed at `timeout`."""
        p = spawn(self.argv(*cmd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            out, _ = p.communicate(timeout=timeout)
            return p.returncode, out.decode(errors="replace")
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, 9)
            out, _ = p.communicate(timeout=5)
            return None, out.decode(errors="replace")

    def daemon(self, tables, *cmd, log: str):
        return spawn(self.argv(*cmd), env=shim_env(tables), stdout=open(self.dir / log, "wb"), stderr=subprocess.STDOUT)

    def wait_listen(self, port: int, proto: str = "t", timeout: float = 10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rc, out = self.run("ss", "-Hln" + proto, f"sport = :{port}", timeout=5)
            if out.strip():
                return
            time.sleep(0.1)
        raise AssertionError(f"nothing listens on {port}/{proto} in the namespace")

    def source(self, src: str):
        """The source address of new connections to 127.0.0.1 (and 127.0.0.10)."""
        for dst in ("127.0.0.1", "127.0.0.10"):
            rc, out = self.run("ip", "route", "replace", "local", dst, "dev", "lo", "src", src, "table", "local")
            assert rc == 0, out

    def probe(self, proto, src, port, prog, vers, dst="127.0.0.1", wait=1.5) -> str:
        rc, out = self.run(sys.executable, str(HERE / "rpc_probe.py"), proto, src, dst, str(port), str(prog), str(vers),
                           str(wait), timeout=wait + 8)
        return out.strip() if rc is not None else "KILLED"


def where(pid: int) -> str:
    """What a daemon is blocked in (for failure messages)."""
    try:
        sc = Path(f"/proc/{pid}/syscall").read_text().split()
        wchan = Path(f"/proc/{pid}/wchan").read_text()
        names = {"43": "accept", "288": "accept4", "45": "recvfrom", "47": "recvmsg", "299": "recvmmsg", "7": "poll"}
        return f"pid {pid} in syscall {sc[0]} ({names.get(sc[0], '?')}) fd {int(sc[1], 16)}, wchan {wchan}"
    except (OSError, IndexError):
        return f"pid {pid}: ?"


def start_rpcbind(ns, tables):
    rb = ns.daemon(tables, "rpcbind", "-f", "-w", log="rpcbind.out")
    ns.wait_listen(111, "t")
    ns.wait_listen(111, "u")
    assert_shim_loaded(rb.pid)
    return rb


def test_mountd_each_client_checked(tables, workdir):
    tables.write("rpcbind: ALL\nrpc.mountd mountd: 127.0.0.1\n")
    ns = NS(workdir)
    rb = start_rpcbind(ns, tables)
    mport = free_port()
    md = ns.daemon(tables, "rpc.mountd", "-F", "-p", str(mport), log="mountd.out")
    ns.wait_listen(mport, "t")
    ns.wait_listen(mport, "u")
    assert_shim_loaded(md.pid)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        rc, out = ns.run("rpcinfo", "-p", "127.0.0.1", timeout=10)
        if re.search(rf"100005\s+3\s+tcp\s+{mport}\s+mountd", out):
            break
        time.sleep(0.2)
    assert re.search(rf"100005\s+3\s+udp\s+{mport}\s+mountd", out), out

    # Raw NULL calls straight to mountd, alternating admitted and refused
    # sources, on TCP and UDP: every client is judged on its own.
    results = []
    for src in ("127.0.0.1", "127.0.0.3", "127.0.0.1", "127.0.0.3", "127.0.0.1", "127.0.0.3", "127.0.0.1"):
        for proto in ("tcp", "udp"):
            got = ns.probe(proto, src, mport, MOUNTPROG, 3)
            results.append((src, proto, got))
    bad = [(s, p, g) for s, p, g in results
           if (s == "127.0.0.1") != (g == "OK") or (s == "127.0.0.3" and g not in ("RESET", "EOF", "NOREPLY"))]
    assert not bad, f"wrong outcomes (src, proto, got): {bad}; all: {results}; mountd {where(md.pid)}"

    # rpcinfo and showmount, which cannot bind a source address
    for src in ("127.0.0.1", "127.0.0.3", "127.0.0.1", "127.0.0.3", "127.0.0.1"):
        ns.source(src)
        ok = src == "127.0.0.1"
        for opt in ("-u", "-t"):
            rc, out = ns.run("rpcinfo", opt, "127.0.0.1", "mountd", "3", timeout=5)
            assert (rc == 0 and "ready and waiting" in out) == ok, (src, opt, rc, out, where(md.pid))
        rc, out = ns.run("showmount", "-e", "127.0.0.1", timeout=8)
        assert (rc == 0 and f"{workdir}/export" in out) == ok, (src, "showmount", rc, out, where(md.pid))
    ns.source("127.0.0.1")

    log = tables.log_text()
    refusals = re.findall(rf"\S+\[{md.pid}\]: \w+: refused connect from 127\.0\.0\.3", log)
    assert len(refusals) >= 6, log
    assert not re.search(rf"\S+\[{md.pid}\]: .*refused connect from 127\.0\.0\.1", log), log
    assert alive(md.pid) and alive(rb.pid)


@pytest.mark.parametrize("proto", ["tcp", "udp"])
def test_rpcbind_keeps_serving_after_refusal(proto, tables, workdir):
    """rpcbind serves blocking UDP and TCP sockets from one poll() loop. After a
    refused client on `proto`, an admitted client on the other protocol must
    still be served (a shim that keeps waiting in accept()/recvmsg() for the
    next admitted client on the same socket would block the whole daemon)."""
    tables.write("rpcbind: 127.0.0.1\n")
    ns = NS(workdir)
    rb = start_rpcbind(ns, tables)
    other = "udp" if proto == "tcp" else "tcp"
    steps = [(other, "127.0.0.1"), (proto, "127.0.0.3"), (other, "127.0.0.1"), (proto, "127.0.0.1"),
             (proto, "127.0.0.3"), (proto, "127.0.0.1"), (proto, "127.0.0.3"), (other, "127.0.0.1")]
    results = []
    for p, src in steps:
        got = ns.probe(p, src, 111, PMAPPROG, 2)
        results.append((p, src, got, where(rb.pid)))
    bad = [r for r in results if (r[1] == "127.0.0.1") != (r[2] == "OK")]
    assert not bad, f"rpcbind, refused over {proto}: wrong outcomes (proto, src, got, daemon state after): {bad}; all: {results}"
    # rpcinfo -p (TCP), with the source switched by route
    for src in ("127.0.0.1", "127.0.0.3", "127.0.0.1"):
        ns.source(src)
        rc, out = ns.run("rpcinfo", "-p", "127.0.0.1", timeout=5)
        assert (rc == 0 and "portmapper" in out) == (src == "127.0.0.1"), (src, rc, out, where(rb.pid))
    assert alive(rb.pid)
    assert re.search(rf"\S+\[{rb.pid}\]: \w+: refused connect from 127\.0\.0\.3", tables.log_text())
