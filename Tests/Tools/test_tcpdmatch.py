"""Our tcpdmatch against Debian's: the recorded corpus (353 cases: every
argument form, option lines, broken lines, random tables) and a fresh random
set run live against Debian's tcpdmatch. Stdout and exit status must be
equal. Then what Debian's cannot do: --json, and warnings on stderr."""

from __future__ import annotations

import json
import os
import random
import tempfile
import time
from pathlib import Path

import pytest

from tcpdmatch_cases import CORPUS, DEBIAN, random_case, run

REPO = Path(__file__).resolve().parents[2]
OURS = Path(os.environ.get("TCPWRAP_SBIN", REPO / ".build/stage/sbin")) / "tcpdmatch"


@pytest.fixture(scope="module")
def work():
    assert OURS.is_file(), f"{OURS} is not built (scripts/build)"
    with tempfile.TemporaryDirectory() as d:
        yield Path(d)


def differences(cases, work, expected):
    bad = []
    for c in cases:
        got = run(str(OURS), c, work)
        want = expected(c)
        if got != want:
            bad.append({"case": c, "debian": want, "ours": got})
    return bad


def test_recorded_corpus(work):
    cases = json.loads(CORPUS.read_text())
    assert len(cases) >= 300
    bad = differences(cases, work, lambda c: c["debian"])
    assert not bad, f"{len(bad)} of {len(cases)} differ; first: {json.dumps(bad[:3], indent=1)}"


def test_live_random_against_debian(work):
    assert Path(DEBIAN).is_file(), "Debian's tcpd package is not installed (scripts/deps installs it)"
    seed = int(os.environ.get("TCPW_SEED", time.time()))
    rng = random.Random(seed)
    cases = [random_case(rng) for _ in range(200)]
    bad = differences(cases, work, lambda c: run(DEBIAN, c, work))
    assert not bad, f"seed {seed}: {len(bad)} of {len(cases)} differ; first: {json.dumps(bad[:3], indent=1)}"


def test_json_explains_the_verdict(work):
    case = {"allow": "sshd: 10.0.0.0/8 : spawn /bin/echo %h\n", "deny": "ALL: ALL\n", "args": ["--json", "sshd", "bob@10.1.2.3"]}
    out = run(str(OURS), case, work)
    assert out["status"] == 0, out
    doc = json.loads(out["stdout"])
    assert doc["client_address"] == "10.1.2.3" and doc["client_username"] == "bob" and doc["server_process"] == "sshd"
    assert doc["access"] == "granted"
    assert doc["tables"] == [{"table": "/etc/hosts.allow", "matched_line": 1, "options": "spawn /bin/echo %h"}]
    case["args"] = ["--json", "sshd", "192.168.1.1"]
    doc = json.loads(run(str(OURS), case, work)["stdout"])
    assert doc["access"] == "denied"
    assert doc["tables"] == [{"table": "/etc/hosts.allow", "matched_line": None},
                             {"table": "/etc/hosts.deny", "matched_line": 1, "options": None}]


def test_warnings_reach_stderr(work):
    """Debian's library sends these to syslog, where tcpdmatch never shows
    them; ours prints them."""
    import subprocess
    (work / "allow").write_text("sshd: 127.0.0.1 : bogus\n")
    (work / "deny").write_text("")
    p = subprocess.run([str(OURS), "-d", "sshd", "127.0.0.1"], cwd=work, capture_output=True, text=True,
                       env={**os.environ, "PATH": "/usr/bin:/bin"})
    (work / "hosts.allow").write_text("sshd: 127.0.0.1 : bogus\n")
    (work / "hosts.deny").write_text("")
    p = subprocess.run([str(OURS), "-d", "sshd", "127.0.0.1"], cwd=work, capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout.endswith("access:   denied\n"), p
    assert "bad option name" in p.stderr and "hosts.allow, line 1" in p.stderr, p.stderr
