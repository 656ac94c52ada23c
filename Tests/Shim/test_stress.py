"""6. Stress: 8 threads blocking in accept() on one listener, >= 50,000
connections from 127.0.0.2 and 127.0.0.3 while the allow table is flipped
(atomically, by rename) between admitting one and the other.

A connection is judged only if it began and ended within one table version's
window (after the rename that installed the version completed, before the
rename that replaced it started), with a small margin on both sides: the
verdict for such a connection cannot depend on the race with a flip.
"""

from __future__ import annotations

import bisect
import os
import subprocess
import sys
import threading
import time
from collections import Counter

from conftest import HERE, alive, assert_shim_loaded, fd_count, free_port, shim_env, spawn

TOTAL = 120_000
CLIENTS = 4
FLIP_EVERY = 0.05
MARGIN = 0.002
SRCS = ("127.0.0.2", "127.0.0.3")


def test_stress_flipping_tables(tables, workdir, cbuild):
    exe = cbuild("stress_server")
    port = free_port()
    tables.write("ALL: 127.0.0.2\n")
    p = spawn([str(exe), str(port), "8"], env=shim_env(tables), stdout=subprocess.PIPE,
              stderr=open(workdir / "server.err", "wb"))
    line = p.stdout.readline().decode()
    assert line.startswith("READY"), line
    assert_shim_loaded(p.pid)

    # warm up (the shim's first use), then the descriptor baseline
    from conftest import tcp_exchange
    for _ in range(3):
        assert tcp_exchange("127.0.0.2", port) == ("data", b"ok 127.0.0.2\n")
        assert tcp_exchange("127.0.0.3", port)[1] == b""
    time.sleep(0.2)
    fds_before = fd_count(p.pid)

    # flipper: versions[i] = (allowed source, rename-start, rename-end)
    versions = [("127.0.0.2", 0.0, time.monotonic())]
    stop = threading.Event()

    def flipper():
        k = 0
        while not stop.wait(FLIP_EVERY):
            k += 1
            allowed = SRCS[k % 2]
            tmp = tables.allow.with_name("hosts.allow.new")
            tmp.write_text(f"ALL: {allowed}\n")
            t_start = time.monotonic()
            os.rename(tmp, tables.allow)
            t_end = time.monotonic()
            versions.append((allowed, t_start, t_end))

    th = threading.Thread(target=flipper, daemon=True)
    t_run = time.monotonic()
    th.start()
    clients = []
    for c in range(CLIENTS):
        # each client alternates sources, starting with a different one
        srcs = SRCS if c % 2 == 0 else SRCS[::-1]
        clients.append(spawn([sys.executable, str(HERE / "stress_client.py"), str(port),
                              str(TOTAL // CLIENTS), "100", *srcs], stdout=subprocess.PIPE))
    outputs = []
    for cp in clients:
        out, _ = cp.communicate(timeout=150)
        outputs.append(out.decode())
    stop.set()
    th.join(5)
    elapsed = time.monotonic() - t_run

    records = []
    for out in outputs:
        for l in out.splitlines():
            t0, t1, src, outcome = l.split(" ", 3)
            records.append((float(t0), float(t1), src, outcome))
    assert len(records) >= 50_000, f"only {len(records)} connections in {elapsed:.1f}s"

    others = Counter(r[3] for r in records if r[3].startswith("other"))
    assert not others, f"connections neither served nor refused: {others.most_common(10)}"

    starts = [v[1] for v in versions]
    judged = wrong = 0
    wrong_examples = []
    tally = Counter()
    for t0, t1, src, outcome in records:
        i = bisect.bisect_right(starts, t0) - 1  # last version whose rename began before t0
        allowed, _, ready = versions[i]
        nxt = starts[i + 1] if i + 1 < len(starts) else float("inf")
        if not (t0 >= ready + MARGIN and t1 <= nxt - MARGIN):
            continue
        judged += 1
        expected = "ok" if src == allowed else "refused"
        tally[(src == allowed, outcome)] += 1
        if outcome != expected:
            wrong += 1
            if len(wrong_examples) < 10:
                wrong_examples.append((t0 - ready, nxt - t1, src, allowed, outcome))
    assert len(versions) >= 5, f"only {len(versions)} table versions"
    assert judged >= 0.8 * len(records), (judged, len(records))
    assert tally[(True, "ok")] > 1000 and tally[(False, "refused")] > 1000, tally
    assert wrong == 0, f"{wrong}/{judged} connections judged against the wrong table: {wrong_examples}"

    # no descriptor leak, server alive, no accept errors
    time.sleep(0.5)
    assert alive(p.pid), "stress server died"
    fds_after = fd_count(p.pid)
    assert fds_after == fds_before, f"descriptors: {fds_before} before, {fds_after} after"
    err = (workdir / "server.err").read_text()
    assert "accept:" not in err, err[:2000]
    print(f"\nstress: {len(records)} connections in {elapsed:.1f}s, {len(versions)} versions, "
          f"{judged} judged, tally {dict(tally)}")
