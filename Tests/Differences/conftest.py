"""Fixtures for the tests of deliberate differences and of bad input.

`run(lib, mode, allow, deny, arg)` runs probe.c with Debian's library
(lib="debian") or ours (lib="ours"), returning (returncode, stdout, stderr,
log lines, seconds). A run that exceeds its timeout returns returncode None.
"""
import os
import pathlib
import subprocess
import time

import pytest

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent.parent
DEBIAN_LIB = "/lib/x86_64-linux-gnu"
# scripts/sanitize runs the tests over our libraries built with a sanitizer,
# whose runtime must be loaded ahead of them: TCPW_PRELOAD_FIRST names it.
PRELOAD_FIRST = os.environ.get("TCPW_PRELOAD_FIRST", "")


def library_env(lib_dir: str) -> dict:
    """The settings that make a probe load the libwrap.so.0 in lib_dir
    (ours behind the sanitizer's runtime, when there is one)."""
    env = {"LD_LIBRARY_PATH": lib_dir}
    if PRELOAD_FIRST and lib_dir != DEBIAN_LIB:
        env["LD_PRELOAD"] = PRELOAD_FIRST
    return env


def our_lib_dir():
    d = os.environ.get("LIBWRAP_DIR", str(REPO / ".build" / "stage" / "lib"))
    assert (pathlib.Path(d) / "libwrap.so.0").exists(), f"our libwrap.so.0 is not in {d} (run scripts/build)"
    return d


@pytest.fixture(scope="session")
def probe(tmp_path_factory):
    out = tmp_path_factory.mktemp("probe") / "probe"
    subprocess.run(["cc", "-O1", "-pthread", "-I", str(REPO / "Include"), "-o", str(out),
                    str(HERE / "probe.c"), f"-L{DEBIAN_LIB}", "-l:libwrap.so.0"], check=True)
    return out


class Runner:
    def __init__(self, probe, tmp):
        self.probe, self.tmp = probe, tmp
        self.count = 0

    def run(self, lib, mode, allow, deny, arg=None, timeout=20):
        self.count += 1
        log = self.tmp / f"log{self.count}"
        env = dict(os.environ, PROBE_LOG=str(log), **library_env(our_lib_dir() if lib == "ours" else DEBIAN_LIB))
        argv = [str(self.probe), mode, str(allow), str(deny)] + ([arg] if arg is not None else [])
        start = time.monotonic()
        try:
            p = subprocess.run(argv, env=env, capture_output=True, timeout=timeout)
            rc, out, err = p.returncode, p.stdout.decode("latin-1"), p.stderr.decode("latin-1")
        except subprocess.TimeoutExpired:
            rc, out, err = None, "", ""
        seconds = time.monotonic() - start
        lines = log.read_text("latin-1").splitlines() if log.exists() else []
        return rc, out, err, lines, seconds


@pytest.fixture
def runner(probe, tmp_path):
    return Runner(probe, tmp_path)


@pytest.fixture
def tables(tmp_path):
    """tables(allow_text, deny_text) -> (allow_path, deny_path); bytes or str."""
    def make(allow, deny, name="t"):
        a, d = tmp_path / f"{name}.allow", tmp_path / f"{name}.deny"
        for path, text in ((a, allow), (d, deny)):
            path.write_bytes(text if isinstance(text, bytes) else text.encode())
        return a, d
    return make
