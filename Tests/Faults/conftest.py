"""Helpers for the fault-injection tests (README.md lists the tests).

Both products are driven: libwrap.so.0 through decide.c (hosts_ctl(); ours
or Debian's, chosen with LD_LIBRARY_PATH) and the shim through faults.c, a
small C server run with LD_PRELOAD=libwrap_preload.so and private tables
(TCPWRAP_HOSTS_ALLOW/DENY, refusals logged to TCPWRAP_LOG). inject.c is an
LD_PRELOAD library that makes chosen calls fail (malloc, open, accept).
The libraries are those scripts/build staged ($LIBWRAP_DIR). /etc is never
touched; traffic stays on 127.0.0.0/8; every wait is bounded and every
started process is killed (by process group) at the end of its test.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "Common"))
from tcpw_common import clean_env, lib_dir, reap_all, spawn, wait_port  # noqa: E402,F401
import tcpw_common  # noqa: E402

DEBIAN_LIB = "/lib/x86_64-linux-gnu"
ADMITTED, REFUSED = "127.0.0.2", "127.0.0.3"

LIBWRAP = lib_dir() / "libwrap.so.0"
SHIM = lib_dir() / "libwrap_preload.so"
LIBS = {"ours": str(lib_dir()), "debian": DEBIAN_LIB}


@pytest.fixture(scope="session", autouse=True)
def _built():
    assert LIBWRAP.is_file() and SHIM.is_file(), f"the libraries are not built in {lib_dir()} (run scripts/build)"


@pytest.fixture(scope="session")
def cbin() -> dict[str, Path]:
    """decide (linked with libwrap.so.0), faults and inject.so, compiled once
    (where nobody can run them: some tests drop to nobody)."""
    out = Path(tempfile.mkdtemp(prefix="faults-bin-", dir="/tmp"))
    os.chmod(out, 0o755)
    builds = {
        "decide": ["-O1", "decide.c", "-ldl", "-Wl,--no-as-needed", f"-L{lib_dir()}", "-l:libwrap.so.0"],
        "faults": ["-O2", "faults.c"],
        "inject.so": ["-O2", "-shared", "-fPIC", "inject.c", "-ldl"],
    }
    built = {}
    for name, args in builds.items():
        r = subprocess.run(["cc", "-Wall", "-pthread", "-o", str(out / name), *args], cwd=HERE,
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        built[name] = out / name
    yield built
    shutil.rmtree(out, ignore_errors=True)


@pytest.fixture
def workdir():
    d = Path(tempfile.mkdtemp(prefix="faults-", dir="/tmp"))
    os.chmod(d, 0o777)        # some daemons run as nobody
    yield d
    shutil.rmtree(d, ignore_errors=True)


def as_nobody() -> None:
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)


class Decision:
    """One run of decide.c: returncode, the counts, figures, stdout, stderr, log lines."""

    def __init__(self, rc, out, err, log):
        self.rc, self.out, self.err, self.log = rc, out, err, log
        m = re.fullmatch(r"admitted=(\d+) refused=(\d+) ms=(\d+) maxrss_kb=(\d+) leaked=(-?\d+) after=(\d+)\n", out)
        self.parsed = m is not None
        self.admitted, self.refused, self.ms, self.maxrss_kb, self.leaked, self.after = (
            map(int, m.groups()) if m else (None,) * 6)

    def __repr__(self):
        return f"Decision(rc={self.rc}, out={self.out!r}, err={self.err!r}, log={self.log[:4]})"


def decide(cbin, lib: str, allow, deny, addr: str = "192.0.2.7", mode: str = "once", count: int = 1,
           timeout: float = 30, env: dict | None = None, user: str = "root", tmp: Path | None = None) -> Decision:
    """Runs decide.c with our library (lib="ours") or Debian's. None as rc: it hung (killed)."""
    tmp = tmp or Path(tempfile.mkdtemp(prefix="decide-", dir="/tmp"))
    os.chmod(tmp, 0o777)
    log = tmp / f"log-{random.randrange(1 << 30)}"
    e = clean_env({"PROBE_LOG": str(log), "LD_LIBRARY_PATH": LIBS[lib], **(env or {})})
    argv = [str(cbin["decide"]), mode, str(allow), str(deny), addr, str(count)]
    try:
        p = subprocess.run(argv, env=e, capture_output=True, text=True, timeout=timeout,
                           preexec_fn=as_nobody if user == "nobody" else None)
        rc, out, err = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired:
        rc, out, err = None, "", ""
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    return Decision(rc, out, err, lines)


# --------------------------------------------------------------------------
# the shim


@pytest.fixture(autouse=True)
def _reap_everything():
    """Every process spawn() started is killed after its test, at once (SIGKILL)."""
    yield
    reap_all(grace=5, term=False)


def free_port() -> int:
    """A port free on 127.0.0.1, for TCP and UDP, and the next one too."""
    return tcpw_common.free_port(span=2)


def shim_env(allow, deny, log, extra: dict | None = None) -> dict:
    return clean_env({"LD_PRELOAD": str(SHIM), "TCPWRAP_HOSTS_ALLOW": str(allow),
                      "TCPWRAP_HOSTS_DENY": str(deny), "TCPWRAP_LOG": str(log), **(extra or {})})


def run_case(cbin, case: str, env: dict, *args: str, timeout: float = 90) -> str:
    """Runs one faults.c case under the shim; its output (PASS/FAIL lines)."""
    p = spawn([str(cbin["faults"]), case, str(free_port()), *args], env=env, stdout=subprocess.PIPE,
              stderr=subprocess.STDOUT)
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"faults {case} did not finish in {timeout} s")
    out = out.decode(errors="replace")
    assert p.returncode == 0 and "FAIL" not in out and f"PASS {case}" in out, out
    return out


class Server:
    """faults.c `serve` under the shim: each admitted client gets "ok"."""

    def __init__(self, cbin, allow, deny, log, user: str = "root"):
        self.port = free_port()
        self.log = Path(log)
        self.proc = spawn([str(cbin["faults"]), "serve", str(self.port)], env=shim_env(allow, deny, log),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          preexec_fn=as_nobody if user == "nobody" else None)
        wait_port(self.port, proc=self.proc)

    def verdict(self, src: str, timeout: float = 30) -> str:
        """"admitted" (it got "ok"), "refused" (reset or closed with no data) or "timeout"."""
        s = socket.socket()
        s.bind((src, 0))
        s.settimeout(timeout)
        try:
            s.connect(("127.0.0.1", self.port))
            data = s.recv(16)
            return "admitted" if data == b"ok" else "refused"
        except (ConnectionResetError, ConnectionRefusedError, BrokenPipeError):
            return "refused"
        except socket.timeout:
            return "timeout"
        finally:
            s.close()

    def fds(self, want: int | None = None) -> int:
        """Its open descriptors; with `want`, waits (2 s at most) for that
        count (the server closes a client just after the client read "ok")."""
        deadline = time.monotonic() + 2
        while True:
            n = len(os.listdir(f"/proc/{self.proc.pid}/fd"))
            if want is None or n == want or time.monotonic() > deadline:
                return n
            time.sleep(0.01)

    def rss_kb(self, field: str = "VmHWM") -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
        raise AssertionError(field)

    def output(self) -> tuple[bytes, bytes]:
        """Stops the server; what it wrote on stdout and stderr (nothing, from the shim)."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        return self.proc.communicate(timeout=10)
