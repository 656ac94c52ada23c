"""Shared fixtures for the libwrap integration tests.

Every program under test is run twice: once on Debian's libwrap
(/lib/x86_64-linux-gnu/libwrap.so.0, LD_LIBRARY_PATH unset) and once on ours
(LD_LIBRARY_PATH=$LIBWRAP_DIR, default <repo>/.build/stage/lib, the directory
that scripts/build stages into).

Anything that must see test tables under /etc runs in a private mount
namespace (`unshare -m --propagation private`) in which

  * /etc is a read-only overlay: a per-test directory on top of the real /etc
    (so hosts.allow, hosts.deny, hosts, nsswitch.conf... come from the test,
    and the real /etc is never touched, even when it has no hosts.allow);
  * /dev is a read-only overlay whose only addition is `log`, a symlink to a
    datagram socket that the test reads: whatever goes to the real syslog
    (glibc's syslog()/__syslog_chk()) is captured as `Result.syslog`.

Only loopback traffic (127.0.0.0/8) is used, ports are below 32768, every
command has a timeout and every started process is killed at the end.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
DEBIAN_LIB = Path("/lib/x86_64-linux-gnu/libwrap.so.0")
DEBIAN_HEADER_DIR = Path("/usr/include")
OUR_HEADER_DIR = REPO / "Include"
LIBS = ("debian", "ours")

# Lines that the library itself emits through syslog(): in Debian's tools
# (tcpdmatch, tcpdchk) the *program* defines syslog()/vsyslog() printing to
# stdout, so a library that calls the interposable syslog() makes them appear
# on stdout, while one that calls glibc's fortified __syslog_chk() sends them
# to the real syslog.
LIB_SYSLOG_LINE = re.compile(r"^(warning|error|matched|option): ")


def lib_dir_path() -> Path:
    return Path(os.environ.get("LIBWRAP_DIR", REPO / ".build" / "stage" / "lib")).resolve()


# --------------------------------------------------------------------------
# small utilities


def scratch_dir(prefix: str = "twint-") -> Path:
    """A fresh directory whose path is safe in overlay mount options."""
    d = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    os.chmod(d, 0o755)
    assert not set(str(d)) & set(",:= \\"), d
    return d


def env_for(lib: str, lib_dir: Path, extra: dict | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LD_")}
    env["LC_ALL"] = "C"
    env["TZ"] = "UTC"
    if lib == "ours":
        env["LD_LIBRARY_PATH"] = str(lib_dir)
        # scripts/sanitize: the sanitizer's runtime, loaded ahead of our library
        if os.environ.get("TCPW_PRELOAD_FIRST"):
            env["LD_PRELOAD"] = os.environ["TCPW_PRELOAD_FIRST"]
    elif lib != "debian":
        raise ValueError(lib)
    if extra:
        env.update(extra)
    return env


def wrap_namespace(argv: list[str], etc_dir: Path | None, dev_dir: Path | None,
                   pre: str = "") -> list[str]:
    """argv run in a private mount namespace with the test /etc and /dev."""
    setup = ["set -e", "mount --make-rprivate / 2>/dev/null || true"]
    if etc_dir is not None:
        e = shlex.quote(str(etc_dir))
        # Overlay first; fall back to bind mounts over existing files.
        setup.append(
            f"if ! mount -t overlay twint-etc -o lowerdir={e}:/etc /etc 2>/dev/null; then "
            f"for f in {e}/*; do b=$(basename \"$f\"); "
            f"if [ -e \"/etc/$b\" ]; then mount --bind \"$f\" \"/etc/$b\"; "
            f"else echo \"cannot provide /etc/$b\" >&2; exit 97; fi; done; fi"
        )
    if dev_dir is not None:
        d = shlex.quote(str(dev_dir))
        setup.append(f"mount -t overlay twint-dev -o lowerdir={d}:/dev /dev")
    if pre:
        setup.append(pre)
    script = "; ".join(setup) + '; exec "$@"'
    return ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", *argv]


class SyslogCollector:
    """A datagram socket standing in for /dev/log."""

    def __init__(self, directory: Path):
        self.dev_dir = directory / "dev"
        self.dev_dir.mkdir()
        self.path = directory / "log.sock"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.path))
        os.chmod(self.path, 0o666)
        (self.dev_dir / "log").symlink_to(self.path)
        self.sock.settimeout(0.1)
        self.messages: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self):
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            self.messages.append(data.decode("utf-8", "replace").rstrip("\n\0"))

    def close(self) -> list[str]:
        time.sleep(0.05)
        self._stop.set()
        self._thread.join(2)
        # drain what is left
        self.sock.setblocking(False)
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                break
            self.messages.append(data.decode("utf-8", "replace").rstrip("\n\0"))
        self.sock.close()
        return self.messages


_SYSLOG_HDR = re.compile(r"^<(\d+)>(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d )?([^:\[]*)(?:\[\d+\])?: ?(.*)$", re.S)


def syslog_text(raw: str, keep_priority: bool = False) -> str:
    """'<11>Nov 26 23:39:10 tcpdchk[12]: warning: x' -> 'warning: x'."""
    m = _SYSLOG_HDR.match(raw)
    if not m:
        return raw
    pri, ident, msg = m.groups()
    return f"<{pri}> {ident}: {msg}" if keep_priority else msg


@dataclass
class Result:
    lib: str
    argv: list
    rc: int
    stdout: str
    stderr: str
    syslog: list = field(default_factory=list)

    def triple(self):
        return (self.stdout, self.stderr, self.rc)

    def describe(self) -> str:
        return (f"[{self.lib}] rc={self.rc}\n--- stdout\n{self.stdout}--- stderr\n"
                f"{self.stderr}--- syslog\n" + "\n".join(self.syslog))


def run(lib: str, lib_dir: Path, argv: list[str], *, etc_dir: Path | None = None,
        cwd: Path | None = None, timeout: float = 30, stdin: bytes | None = None,
        namespace: bool = True, extra_env: dict | None = None, pre: str = "") -> Result:
    """Run argv on one library; stdout, stderr, exit status and syslog."""
    work = scratch_dir("twint-run-")
    collector = SyslogCollector(work) if namespace else None
    try:
        full = wrap_namespace(argv, etc_dir, collector.dev_dir, pre) if namespace else list(argv)
        proc = subprocess.Popen(full, cwd=cwd, env=env_for(lib, lib_dir, extra_env),
                                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
        try:
            out, err = proc.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(proc)
            out, err = proc.communicate()
            raise AssertionError(f"[{lib}] timed out after {timeout}s: {argv}\n"
                                 f"stdout={out!r}\nstderr={err!r}")
        finally:
            kill_group(proc)
        logs = collector.close() if collector else []
        return Result(lib, argv, proc.returncode, out.decode("utf-8", "replace"),
                      err.decode("utf-8", "replace"), logs)
    finally:
        if collector and collector.sock.fileno() != -1:
            collector.close()
        shutil.rmtree(work, ignore_errors=True)


def kill_group(proc: subprocess.Popen):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def mapped_libwrap(pid: int) -> set[str]:
    """Paths of the libwrap images mapped by a process."""
    paths = set()
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            parts = line.split(None, 5)
            if len(parts) == 6 and "libwrap" in parts[5]:
                paths.add(os.path.realpath(parts[5].strip().removesuffix(" (deleted)")))
    return paths


def expected_image(lib: str, lib_dir: Path) -> str:
    return os.path.realpath(lib_dir / "libwrap.so.0" if lib == "ours" else DEBIAN_LIB)


def assert_maps_lib(pid: int, lib: str, lib_dir: Path, settle: float = 3.0):
    # A process found right after exec() may not have its libraries mapped
    # yet: give the dynamic loader a moment before judging.
    deadline = time.monotonic() + settle
    got = mapped_libwrap(pid)
    while not got and time.monotonic() < deadline:
        time.sleep(0.02)
        got = mapped_libwrap(pid)
    want = expected_image(lib, lib_dir)
    assert got == {want}, f"pid {pid} ({lib}) maps {got}, expected {want}"


# --------------------------------------------------------------------------
# networking helpers (loopback only)


def listening(port: int, host: str = "127.0.0.1") -> bool:
    want = "%08X:%04X" % (int.from_bytes(socket.inet_aton(host), "little"), port)
    try:
        with open("/proc/net/tcp") as f:
            for line in f.readlines()[1:]:
                cols = line.split()
                if cols[1] == want and cols[3] == "0A":
                    return True
    except OSError:
        pass
    return False


def wait_listening(port: int, proc: subprocess.Popen | None = None, timeout: float = 15,
                   host: str = "127.0.0.1"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if listening(port, host):
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"server exited early with {proc.returncode}")
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on {host}:{port} after {timeout}s")


_used_ports: set[int] = set()


def free_port() -> int:
    """A currently unused TCP port in 20000..32000 (below the ephemeral range)."""
    rnd = random.Random()
    for _ in range(200):
        p = rnd.randrange(20000, 32000)
        if p in _used_ports:
            continue
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", p))
        except OSError:
            continue
        finally:
            s.close()
        _used_ports.add(p)
        return p
    raise AssertionError("no free port")


def tcp_exchange(src: str, port: int, *, dst: str = "127.0.0.1", send: bytes = b"",
                 timeout: float = 10, until: bytes | None = None, shut_write: bool = True) -> bytes:
    """Connect from src (bound) to dst:port, send, read until EOF/`until`/timeout."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.settimeout(timeout)
    data = b""
    try:
        s.bind((src, 0))
        s.connect((dst, port))
        if send:
            s.sendall(send)
        if shut_write:
            s.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(4096)
            except socket.timeout:
                break
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
            if until is not None and until in data:
                break
    finally:
        s.close()
    return data


@contextlib.contextmanager
def background(lib: str, lib_dir: Path, argv: list[str], *, etc_dir: Path | None = None,
               cwd: Path | None = None, namespace: bool = True, pre: str = "",
               extra_env: dict | None = None):
    """Start a server; yields (proc, collector); always kills its process group."""
    work = scratch_dir("twint-bg-")
    collector = SyslogCollector(work) if namespace else None
    full = wrap_namespace(argv, etc_dir, collector.dev_dir, pre) if namespace else argv
    log = open(work / "output", "w+b")
    proc = subprocess.Popen(full, cwd=cwd, env=env_for(lib, lib_dir, extra_env),
                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    proc.output_file = log
    try:
        yield proc, collector
    finally:
        kill_group(proc)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        if collector:
            collector.close()
        log.close()
        shutil.rmtree(work, ignore_errors=True)


def bg_output(proc) -> str:
    f = proc.output_file
    f.flush()
    f.seek(0)
    return f.read().decode("utf-8", "replace")


def compile_c(source: Path | str, out: Path, include_dir: Path, lib_dir: Path | None,
              extra: list[str] | None = None) -> Path:
    """cc -I include_dir source -o out, linked with the libwrap in lib_dir."""
    link_dir = out.parent / (out.name + ".linkdir")
    link_dir.mkdir(exist_ok=True)
    src_lib = (lib_dir / "libwrap.so.0") if lib_dir else DEBIAN_LIB
    link = link_dir / "libwrap.so"
    if link.exists() or link.is_symlink():
        link.unlink()
    link.symlink_to(src_lib)
    cmd = ["cc", "-std=gnu99", "-Wall", "-O1", "-I", str(include_dir), str(source),
           "-o", str(out), "-L", str(link_dir), "-lwrap", *(extra or [])]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, f"compile failed: {' '.join(cmd)}\n{p.stdout}{p.stderr}"
    return out


# --------------------------------------------------------------------------
# fixtures


WHICHLIB_C = r"""
#include <stdio.h>
#include <string.h>
#include <tcpd.h>
int main(void) {
    char line[4096]; FILE *f = fopen("/proc/self/maps", "r");
    /* use a symbol so that the library is really needed */
    printf("allow=%s\n", hosts_allow_table);
    while (f && fgets(line, sizeof line, f))
        if (strstr(line, "libwrap")) fputs(strchr(line, '/'), stdout);
    return 0;
}
"""


@pytest.fixture(scope="session")
def lib_dir() -> Path:
    d = lib_dir_path()
    so = d / "libwrap.so.0"
    if not so.is_file():
        pytest.fail(f"our library is not built: {so} missing (run scripts/build "
                    f"or set LIBWRAP_DIR)")
    assert DEBIAN_LIB.is_file(), "Debian's libwrap0 is not installed"
    assert os.path.realpath(so) != os.path.realpath(DEBIAN_LIB), \
        "LIBWRAP_DIR points at Debian's library"
    return d


@pytest.fixture(scope="session")
def session_dir():
    d = scratch_dir("twint-session-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def verified_libs(lib_dir, session_dir):
    """Check once that LD_LIBRARY_PATH really selects our library (and that
    without it Debian's is used): via ldd and via /proc/self/maps."""
    src = session_dir / "whichlib.c"
    src.write_text(WHICHLIB_C)
    exe = compile_c(src, session_dir / "whichlib", DEBIAN_HEADER_DIR, None)
    for lib in LIBS:
        env = env_for(lib, lib_dir)
        want = expected_image(lib, lib_dir)
        p = subprocess.run([str(exe)], env=env, capture_output=True, text=True, timeout=20)
        assert p.returncode == 0, p.stderr
        maps = {os.path.realpath(l.strip()) for l in p.stdout.splitlines()[1:]}
        assert maps == {want}, f"{lib}: /proc/self/maps shows {maps}, expected {want}"
        for tool in ("/usr/sbin/tcpdmatch", "/usr/sbin/sshd", shutil.which("socat")):
            p = subprocess.run(["ldd", tool], env=env, capture_output=True, text=True, timeout=20)
            m = re.search(r"libwrap\.so\.0 => (\S+)", p.stdout)
            assert m and os.path.realpath(m.group(1)) == want, f"ldd {tool} ({lib}): {p.stdout}"
    return lib_dir


@pytest.fixture
def tmpdir_safe():
    d = scratch_dir()
    yield d
    shutil.rmtree(d, ignore_errors=True)


def write_etc(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        p = directory / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        os.chmod(p, 0o644)
    return directory


BASE_ETC = {
    "hosts": "127.0.0.1\tlocalhost server.test\n"
             "127.0.0.2\tclient.test client\n"
             "127.0.0.3\tbad.test\n"
             "::1\tlocalhost ip6-localhost\n",
    "nsswitch.conf": "passwd: files\ngroup: files\nshadow: files\nhosts: files\n"
                     "networks: files\nprotocols: files\nservices: files\nnetgroup: files\n",
}
