"""A large table costs memory in proportion to its file.

fail2ban appends one `ALL: <address>` line per banned host. An 8 MiB list
(about 490,000 lines) is compiled once and kept; it must cost at most a few
times its file's size (the first compiled form, a tree of Swift values, cost
23 times: +192 MB), and still decide correctly: a banned address refused, the
last one too, any other admitted.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import LIBWRAP, clean_env

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "Bench"))
from memory import MEASURE, fail2ban_table  # noqa: E402  (the benchmark's own measurement)


def test_an_8_mib_fail2ban_table_costs_a_few_times_its_size(tmp_path):
    table = tmp_path / "hosts.deny"
    size, _, last = fail2ban_table(table)
    r = subprocess.run([sys.executable, "-c", MEASURE, str(LIBWRAP), str(table),
                        "192.0.2.1", "10.0.0.7", last, "10.0.0.07"], capture_output=True,
                       text=True, timeout=300, env=clean_env())
    assert r.returncode == 0, r.stderr
    fields = r.stdout.split()
    added_kb, verdicts = int(fields[0]), [int(v) for v in fields[3:]]
    # 192.0.2.1 admitted; 10.0.0.7 and the last line's address banned; "10.0.0.07"
    # is another text (libwrap compares address words as text): admitted.
    assert verdicts == [1, 0, 0, 1], verdicts
    assert added_kb * 1024 <= 3 * size, f"{added_kb / 1024:.1f} MB for a {size / 2**20:.1f} MiB table"
