"""A 100 MB table and a 100 MB /file list, through both products.

A decision must complete in bounded time and memory: both files are over
the 8 MiB mark, so they are read on each use in blocks, not compiled and
kept. The client is named on the files' last line (refused by the table,
admitted by the list), so the whole file is read. Figures (time per
decision, peak RSS) are printed; the bounds are generous (a shared
machine): 60 s a decision and 64 MB of peak RSS, where a naive reader
would hold the 100 MB file (or several times it) in memory.
"""

from __future__ import annotations

import os
import time

import pytest

from conftest import ADMITTED, REFUSED, Server, decide

SIZE = 100 * 1024 * 1024
RSS_BOUND_KB = 64 * 1024


def write_big(path, line, last: str) -> None:
    with open(path, "w") as f:
        i = 0
        block = []
        while f.tell() < SIZE:
            block = [line(i + k) for k in range(20_000)]
            f.write("".join(block))
            i += 20_000
        f.write(last)


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    d = tmp_path_factory.mktemp("big")
    os.chmod(d, 0o755)
    table, listing = d / "hosts.deny", d / "clients.list"
    write_big(table, lambda i: f"daemon{i}: 10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256} .example{i}.com\n",
              f"ALL: 192.0.2.7 {REFUSED}\n")
    write_big(listing, lambda i: f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}\n", f"192.0.2.8 {ADMITTED}\n")
    (d / "empty").write_text("")
    (d / "listed").write_text(f"ALL: {listing}\n")
    (d / "denyall").write_text("ALL: ALL\n")
    yield d
    for p in (table, listing):
        p.unlink()


@pytest.mark.parametrize("what", ["table", "list"])
def test_libwrap(cbin, big, what):
    if what == "table":
        allow, deny, addr, want = big / "empty", big / "hosts.deny", "192.0.2.7", 0
    else:
        allow, deny, addr, want = big / "listed", big / "denyall", "192.0.2.8", 1
    r = decide(cbin, "ours", allow, deny, addr=addr, mode="loop", count=3, timeout=120)
    assert r.rc == 0 and r.parsed and r.err == "" and r.log == [], r
    assert r.admitted == 3 * want and r.leaked == 0, r
    per = r.ms / 3
    print(f"libwrap.so.0, 100 MB {what}: {per:.0f} ms a decision, peak RSS {r.maxrss_kb / 1024:.1f} MB")
    assert per < 60_000
    assert r.maxrss_kb < RSS_BOUND_KB, f"peak RSS {r.maxrss_kb} kB for a 100 MB {what}"


@pytest.mark.parametrize("what", ["table", "list"])
def test_shim(cbin, big, workdir, what):
    if what == "table":
        allow, deny = big / "empty", big / "hosts.deny"
    else:
        allow, deny = big / "listed", big / "denyall"
    server = Server(cbin, allow, deny, workdir / "shim.log")
    before = server.rss_kb("VmRSS")
    times = []
    # The table refuses 127.0.0.3 on its last line and nobody else; the list
    # admits 127.0.0.2 on its last line and nobody else.
    other = "admitted" if what == "table" else "refused"
    for src, want in ((REFUSED, "refused"), (ADMITTED, "admitted"), (REFUSED, "refused"), ("127.0.0.4", other)):
        t0 = time.monotonic()
        got = server.verdict(src, timeout=90)
        times.append(time.monotonic() - t0)
        assert got == want, (src, got)
    peak = server.rss_kb("VmHWM")
    print(f"shim, 100 MB {what}: {max(times) * 1000:.0f} ms the slowest connection "
          f"(mean {sum(times) / len(times) * 1000:.0f} ms), peak RSS {peak / 1024:.1f} MB "
          f"(at start {before / 1024:.1f} MB)")
    assert max(times) < 60
    assert peak < RSS_BOUND_KB, f"peak RSS {peak} kB for a 100 MB {what}"
    out, err = server.output()
    assert out == b"" and err == b""
