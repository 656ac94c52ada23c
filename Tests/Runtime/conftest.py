"""Shared helpers for the runtime tests: the libraries as a guest in any
process (fork, threads, fork-then-threads, dlopen/dlclose, start-up).

The libraries are those scripts/build staged ($LIBWRAP_DIR, default
<repo>/.build/stage/lib). Tables are private files given through the
libraries' own settings (hosts_allow_table, TCPWRAP_HOSTS_*): /etc is never
read or touched. Sockets bind to 127.0.0.1 only; every run is bounded.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "Common"))
from tcpw_common import REPO, PRELOAD_FIRST, lib_dir, preload  # noqa: E402,F401
import tcpw_common  # noqa: E402

LIBWRAP = lib_dir() / "libwrap.so.0"
SHIM = lib_dir() / "libwrap_preload.so"


@pytest.fixture(scope="session")
def tables() -> Path:
    """hosts.allow admits 127.0.0.1 to every daemon; hosts.deny refuses the rest."""
    d = Path(tempfile.mkdtemp(prefix="runtime-", dir="/tmp"))
    os.chmod(d, 0o755)
    (d / "hosts.allow").write_text("ALL: 127.0.0.1\n")
    (d / "hosts.deny").write_text("ALL: ALL\n")
    return d


@pytest.fixture(scope="session")
def harness(tmp_path_factory) -> dict[str, Path]:
    """forkthreads.c built twice: linked with our libwrap.so.0, and without
    libwrap (for the shim, which brings its own)."""
    out = tmp_path_factory.mktemp("bin")
    built = {}
    for name, extra in (("linked", ["-Wl,--no-as-needed", f"-L{lib_dir()}", "-lwrap"]), ("plain", [])):
        exe = out / f"forkthreads-{name}"
        r = subprocess.run(["cc", "-O1", "-Wall", "-pthread", "-I", str(REPO / "Include"), "-o", str(exe),
                            str(HERE / "forkthreads.c"), "-ldl", *extra], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        built[name] = exe
    return built


def clean_env(extra: dict | None = None) -> dict:
    """tcpw_common.clean_env(), with the sanitizer's runtime preloaded if there is one."""
    return tcpw_common.clean_env({**({"LD_PRELOAD": PRELOAD_FIRST} if PRELOAD_FIRST else {}), **(extra or {})})
