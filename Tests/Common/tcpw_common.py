"""tcpw_common - what the pytest suites (Faults, Shim, Runtime) share: where
the staged libraries are, the environment a test program starts with, the
processes a test starts (each in its own session, all killed when the test
ends) and free ports on 127.0.0.1.

A conftest.py imports it with

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "Common"))
    from tcpw_common import ...

and keeps its own fixtures: an autouse fixture calls reap_all() after each
test.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent


def lib_dir() -> Path:
    """Where scripts/build staged the libraries ($LIBWRAP_DIR selects another build)."""
    return Path(os.environ.get("LIBWRAP_DIR", REPO / ".build" / "stage" / "lib")).resolve()


# scripts/sanitize runs the tests over libraries built with a sanitizer,
# whose runtime must be loaded ahead of them in every process that loads
# them: TCPW_PRELOAD_FIRST names it (unset in a plain run).
PRELOAD_FIRST = os.environ.get("TCPW_PRELOAD_FIRST", "")


def preload(*libs) -> str:
    """The LD_PRELOAD value that loads libs (behind the sanitizer's runtime, if any)."""
    return ":".join(str(l) for l in (PRELOAD_FIRST, *libs) if l)


def clean_env(extra: dict | None = None) -> dict:
    """This process's environment without LD_* and TCPWRAP_* settings, in the C locale, plus extra."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LD_") and not k.startswith("TCPWRAP_")}
    env["LC_ALL"] = "C"
    env.update(extra or {})
    return env


# --------------------------------------------------------------------------
# processes


_started: list[subprocess.Popen] = []


def spawn(argv, **kw) -> subprocess.Popen:
    """subprocess.Popen in a new session (stdin /dev/null unless given), killed by reap_all()."""
    kw.setdefault("stdin", subprocess.DEVNULL)
    p = subprocess.Popen(argv, start_new_session=True, **kw)
    _started.append(p)
    return p


def kill_group(p: subprocess.Popen, grace: float = 2.0, term: bool = True) -> None:
    """Kills the process group of p (it was started in a new session): with
    term, SIGTERM first and `grace` seconds to end; then SIGKILL, and waits
    for p at most `grace` seconds."""
    if term and p.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(p.pid, signal.SIGTERM)
        try:
            p.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(p.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        p.wait(timeout=grace)


def reap_all(grace: float = 2.0, term: bool = True) -> None:
    """kill_group() for every process spawn() started, the last first."""
    while _started:
        kill_group(_started.pop(), grace, term)


# --------------------------------------------------------------------------
# ports


def free_port(host: str = "127.0.0.1", kind=socket.SOCK_STREAM, span: int = 1) -> int:
    """A port below 32768 (no ephemeral port) where `span` ports from it are
    free for TCP and UDP alike on host (kind: said by callers for the
    reader; both kinds are checked)."""
    for _ in range(200):
        port = random.randint(20000, 32000)
        ok = True
        for k in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
            for p in range(port, port + span):
                s = socket.socket(socket.AF_INET, k)
                try:
                    s.bind((host, p))
                except OSError:
                    ok = False
                finally:
                    s.close()
        if ok:
            return port
    raise RuntimeError("no free port")


def wait_port(port: int, host: str = "127.0.0.1", timeout: float = 10.0, proc: subprocess.Popen | None = None) -> None:
    """Waits until something listens on host:port (checked with ss, so that
    no probe connection is made that the shim would judge)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"daemon exited with {proc.returncode} before listening on {port}")
        out = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True, timeout=5).stdout
        if out.strip():
            return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on {host}:{port} after {timeout}s")
