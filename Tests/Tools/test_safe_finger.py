"""Our safe_finger against Debian's, with a finger of the test's own.

A private mount namespace puts a script over /usr/bin/finger (safe_finger
runs finger from a fixed PATH) that prints hostile output: control bytes,
escape sequences, bytes above 0x7F, backslashes, text in the first column,
a 300-column line, 150,000 bytes, a non-zero exit. Standard output and exit
status must be Debian's; the finger runs as nobody, never as root.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
OURS = Path(os.environ.get("TCPWRAP_SBIN", REPO / ".build/stage/sbin")) / "safe_finger"
DEBIAN = "/usr/sbin/safe_finger"

FAKES = {
    "text": "printf 'Login: alice\\tName: Alice\\n-rw- first column\\nback\\\\slash\\n'; echo \"args: $*\"",
    "control": "printf '\\001\\033[31mred\\377\\200 ok\\r\\n\\f\\v\\n'",
    "long line": "head -c 300 /dev/zero | tr '\\0' x; echo",
    "flood": "yes 'a line of text' | head -c 150000 2>/dev/null; exit 0",
    "no newline": "printf 'no newline at the end'",
    "failure": "echo 'no such user'; exit 3",
    "identity": "echo uid=$(id -u) gid=$(id -g)",
    "empty": "exit 0",
}


def run(program: str, fake: str, work: Path, *args: str) -> tuple[bytes, int]:
    script = work / "finger"
    script.write_text("#!/bin/sh\n" + fake + "\n")
    script.chmod(0o755)
    cmd = (f"mount --bind {script} /usr/bin/finger && exec \"$@\"")
    p = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", cmd, "sh", program, *args],
                       capture_output=True, timeout=60)
    return p.stdout, p.returncode


@pytest.fixture(scope="module")
def work():
    assert OURS.is_file(), f"{OURS} is not built (scripts/build)"
    assert Path("/usr/bin/finger").exists(), "finger is not installed (scripts/deps installs it)"
    with tempfile.TemporaryDirectory() as d:
        os.chmod(d, 0o755)
        yield Path(d)


@pytest.mark.parametrize("name", list(FAKES))
def test_output_and_status_match_debian(work, name):
    ours = run(str(OURS), FAKES[name], work, "-l", "@192.0.2.1")
    debian = run(DEBIAN, FAKES[name], work, "-l", "@192.0.2.1")
    assert ours == debian, f"{name}:\nours {ours}\ndebian {debian}"


def test_finger_never_runs_as_root(work):
    out, status = run(str(OURS), FAKES["identity"], work)
    nobody = subprocess.run(["id", "-u", "nobody"], capture_output=True, text=True).stdout.strip()
    assert status == 0 and out.decode().strip().startswith(f"uid={nobody} "), out


def test_output_is_filtered(work):
    out, status = run(str(OURS), FAKES["control"], work)
    assert status == 0
    assert out == b" \\001\\033[31mred\\377\\200 ok\r\n \x0c\x0b\n", out
    out, _ = run(str(OURS), FAKES["flood"], work)
    assert out.endswith(b"\n\n Input truncated to 100000 bytes...\n") and len(out) < 120_000, out[-80:]
    assert all(line.startswith(b" ") or line == b"" for line in out.split(b"\n")[:-3])
