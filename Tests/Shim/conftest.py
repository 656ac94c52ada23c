"""Shared helpers for the LD_PRELOAD shim integration tests.

Every daemon runs with LD_PRELOAD=$LIBWRAP_DIR/libwrap_preload.so (default
<repo>/.build/stage/lib) and private tables (TCPWRAP_HOSTS_ALLOW/DENY) in a
per-test directory; refusals are logged to TCPWRAP_LOG in that directory.
The real /etc is never touched. Traffic stays on 127.0.0.0/8 (or in private
network namespaces), ports are below 32768, every wait is bounded and every
started process is killed (by process group) at the end of its test.
"""

from __future__ import annotations

import errno as errno_mod
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "Common"))
from tcpw_common import clean_env, free_port, lib_dir, preload, reap_all, spawn, wait_port  # noqa: E402,F401

SHIM = lib_dir() / "libwrap_preload.so"

ADMITTED = "127.0.0.2"
REFUSED = "127.0.0.3"


# --------------------------------------------------------------------------
# processes


@pytest.fixture(autouse=True)
def _reap_everything():
    """Every process spawn() started is killed after its test: SIGTERM, 2 s, SIGKILL."""
    yield
    reap_all()


def shim_env(tables: "Tables", extra: dict | None = None, daemon: str | None = None) -> dict:
    env = clean_env()
    env["LD_PRELOAD"] = preload(SHIM)
    env["TCPWRAP_HOSTS_ALLOW"] = str(tables.allow)
    env["TCPWRAP_HOSTS_DENY"] = str(tables.deny)
    env["TCPWRAP_LOG"] = str(tables.log)
    if daemon:
        env["TCPWRAP_DAEMON"] = daemon
    if extra:
        env.update(extra)
    return env


def has_shim(pid: int) -> bool:
    try:
        return str(SHIM) in Path(f"/proc/{pid}/maps").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False


def assert_shim_loaded(pid: int) -> None:
    maps = Path(f"/proc/{pid}/maps").read_text()
    assert str(SHIM) in maps, f"process {pid} ({Path(f'/proc/{pid}/comm').read_text().strip()}) did not map {SHIM}"


def children_of(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid:
            out.append(int(d.name))
    return out


def proc_state(pid: int) -> str:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2:].split()[0]


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def alive(pid: int) -> bool:
    try:
        return proc_state(pid) not in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError):
        return False


# --------------------------------------------------------------------------
# tables


class Tables:
    def __init__(self, d: Path):
        self.dir = d
        self.allow = d / "hosts.allow"
        self.deny = d / "hosts.deny"
        self.log = d / "shim.log"
        self.log.touch()
        os.chmod(self.log, 0o666)

    def write(self, allow: str, deny: str = "ALL: ALL\n") -> None:
        for path, text in ((self.allow, allow), (self.deny, deny)):
            tmp = path.with_suffix(".tmp")
            tmp.write_text(text)
            os.chmod(tmp, 0o644)
            os.rename(tmp, path)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def refusals(self, addr: str) -> int:
        return sum(1 for line in self.log_text().splitlines()
                   if line.endswith(f"refused connect from {addr}") or f"refused connect from {addr} (" in line)


@pytest.fixture
def workdir():
    d = Path(tempfile.mkdtemp(prefix="shimtest-", dir="/tmp"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def tables(workdir) -> Tables:
    t = Tables(workdir)
    t.write(f"ALL: 127.0.0.1 {ADMITTED}\n")
    return t


@pytest.fixture(scope="session", autouse=True)
def _shim_present():
    assert SHIM.is_file(), f"the shim is not built: {SHIM} (set LIBWRAP_DIR)"


# --------------------------------------------------------------------------
# ports and clients


SO_LINGER_RST = struct.pack("ii", 1, 0)


def tcp_exchange(src: str, port: int, send: bytes = b"", *, dst: str = "127.0.0.1", timeout: float = 5.0,
                 want: int | None = None, shut: bool = False) -> tuple[str, bytes]:
    """Connects from src to dst:port, sends `send`, reads until EOF (or until
    `want` bytes). Returns ("data", bytes), ("reset", partial bytes),
    ("eof", b"") for a close without data, or ("timeout", partial)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    data = b""
    try:
        s.bind((src, 0))
        try:
            s.connect((dst, port))
            if send:
                s.sendall(send)
                if shut:
                    s.shutdown(socket.SHUT_WR)
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
                if want is not None and len(data) >= want:
                    break
        except (ConnectionResetError, ConnectionRefusedError, BrokenPipeError):
            return "reset", data
        except socket.timeout:
            return "timeout", data
        return ("data" if data else "eof"), data
    finally:
        s.close()


def refused_outcome(status: str, data: bytes) -> bool:
    """How a refused client sees its connection: reset or closed, no data."""
    return status in ("reset", "eof") and data == b""


HELLO_SERVER = """
import socket, sys
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((sys.argv[2], int(sys.argv[1]))); l.listen(64)
while True:
    c, a = l.accept()
    c.sendall(b"hello"); c.close()
"""


def hello_server(workdir: Path, env: dict, bind: str = "127.0.0.1") -> int:
    """Starts a blocking Python server on `bind` that says hello to each
    client and closes; returns its port."""
    script = workdir / "hello_server.py"
    script.write_text(HELLO_SERVER)
    port = free_port()
    p = spawn(["python3", str(script), str(port), bind], env=env)
    wait_port(port, proc=p)
    return port


# --------------------------------------------------------------------------
# C helpers


@pytest.fixture(scope="session")
def cbuild(tmp_path_factory):
    """Compiles Tests/Shim/NAME.c into a session directory; returns a function NAME -> path."""
    out = tmp_path_factory.mktemp("cbin")
    os.chmod(out, 0o755)
    built: dict[str, Path] = {}

    def build(name: str) -> Path:
        if name not in built:
            exe = out / name
            r = subprocess.run(["cc", "-O2", "-Wall", "-pthread", "-o", str(exe), str(HERE / f"{name}.c")],
                               capture_output=True, text=True, timeout=120)
            assert r.returncode == 0, r.stderr
            built[name] = exe
        return built[name]

    return build
