"""7. Edge cases of the hooks, driven by the C program edge.c under the shim.
Tables: allow 127.0.0.1 and 127.0.0.2, deny ALL: ALL (127.0.0.3 refused)."""

from __future__ import annotations

import subprocess

import pytest

from conftest import REFUSED, free_port, shim_env, spawn

CASES = ["nulladdr", "eagain", "errno", "unix", "flags", "forkexec", "peek", "mmsg", "waits", "udpwaits", "heldfork", "peekrace"]


@pytest.mark.parametrize("case", CASES)
def test_edge(case, tables, workdir, cbuild):
    exe = cbuild("edge")
    port = free_port()
    if case in ("errno", "heldfork"):
        while True:  # it also listens on port + 1
            port2 = free_port()
            if port2 < 32000:
                port = port2
                break
    p = spawn([str(exe), case, str(port), str(workdir)], env=shim_env(tables), stdout=subprocess.PIPE,
              stderr=subprocess.STDOUT)
    try:
        out, _ = p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"edge {case} did not finish in 30 s")
    out = out.decode(errors="replace")
    assert p.returncode == 0 and "FAIL" not in out, out
    assert f"PASS {case}" in out, out
    log = tables.log_text()
    if case == "unix":
        assert "refused" not in log, log
    elif case == "forkexec":
        assert "CHILDMAPS yes" in out, out
        assert tables.refusals(REFUSED) >= 1, log
    elif case == "heldfork":
        assert "refused" not in log, log
    else:
        assert tables.refusals(REFUSED) >= 1, log
