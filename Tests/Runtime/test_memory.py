"""A large table costs memory in proportion to its file.

fail2ban appends one `ALL: <address>` line per banned host. An 8 MiB list
(about 490,000 lines) is compiled once and kept; it must cost at most a few
times its file's size (the first compiled form, a tree of Swift values, cost
23 times: +192 MB), and still decide correctly: a banned address refused, the
last one too, any other admitted.

And memory is given back when it should be: a dlopen()/dlclose() cycle keeps
no more than Debian's does (the globals, caches and buffers made at load or
by a decision are freed at dlclose()), and exit() frees nothing that
another thread, still deciding, uses.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import HERE, LIBWRAP, clean_env, preload

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


DLOPEN_CYCLES = """
import ctypes, _ctypes, sys
class Mallinfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Mallinfo2
path, decide = sys.argv[1], sys.argv[2] == "decide"
allow, deny = (ctypes.create_string_buffer(a.encode()) for a in sys.argv[3:5])
def in_use():
    m = libc.mallinfo2()
    return m.uordblks + m.hblkhd
def cycle():
    lib = ctypes.CDLL(path)
    if decide:      # the tables compiled and cached, a ring of endpoints taken
        ctypes.c_void_p.in_dll(lib, "hosts_allow_table").value = ctypes.addressof(allow)
        ctypes.c_void_p.in_dll(lib, "hosts_deny_table").value = ctypes.addressof(deny)
        ctl = lib.hosts_ctl
        ctl.argtypes = [ctypes.c_char_p] * 4
        assert ctl(b"d", b"127.0.0.1", b"127.0.0.1", b"") == 1
        assert ctl(b"d", b"192.0.2.1", b"192.0.2.1", b"") == 0
        del ctl
    _ctypes.dlclose(lib._handle)
for _ in range(5):
    cycle()
before = in_use()
for _ in range(200):
    cycle()
print((in_use() - before) // 200)
"""


def bytes_kept_per_dlopen_cycle(library, how: str, tables: Path) -> int:
    r = subprocess.run([sys.executable, "-c", DLOPEN_CYCLES, str(library), how, str(tables / "hosts.allow"),
                        str(tables / "hosts.deny")], capture_output=True, text=True,
                       timeout=120, env=clean_env({"TCPWRAP_HOSTS_ALLOW": "/nonexistent"}))
    assert r.returncode == 0, r.stderr
    return int(r.stdout)


# Before: libwrap.so.0 kept about 1.6 KB a cycle, the shim about 79 KB (its
# datagram buffer, its held-clients list, ...); each global is now given back
# at dlclose() (Sources/CWrap/tcpd_abi.c, "Unloading").
@pytest.mark.parametrize("how", ["load", "decide"])
@pytest.mark.parametrize("name", ["libwrap.so.0", "libwrap_preload.so"])
def test_dlclose_gives_back_what_loading_allocated(tables, name, how):
    # Debian's library is the baseline: what ctypes and the loader keep per cycle.
    baseline = bytes_kept_per_dlopen_cycle("/lib/x86_64-linux-gnu/libwrap.so.0", how, tables)
    ours = bytes_kept_per_dlopen_cycle(LIBWRAP.parent / name, how, tables)
    print(f"{name} {how}: {ours} bytes a cycle (Debian's: {baseline})")
    assert ours <= baseline + 512, f"{name} keeps {ours} bytes a dlopen/dlclose cycle (Debian's: {baseline})"


@pytest.fixture(scope="module")
def exit_harness(tmp_path_factory) -> dict[str, Path]:
    """exitdeciding.c: the program, and the library that lingers after ours."""
    out = tmp_path_factory.mktemp("exit")
    built = {"program": out / "exitdeciding", "linger": out / "linger.so"}
    for target, flags in (("program", ["-pthread"]), ("linger", ["-DLINGER", "-shared", "-fPIC"])):
        r = subprocess.run(["cc", "-O1", "-Wall", *flags, "-o", str(built[target]), str(HERE / "exitdeciding.c"),
                            "-ldl"], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
    return built


# exit() runs the same destructors as dlclose(), while the host's other
# threads may still be inside the library: nothing may be freed then, for a
# library loaded at start-up (linked, LD_PRELOAD) or by dlopen(). Freed
# memory is overwritten (malloc.perturb, no per-thread cache to keep it
# intact) and the threads decide for 100 ms after the library's destructor:
# a build that frees at exit crashes here every time.
@pytest.mark.parametrize("loaded", ["start-up", "dlopen"])
@pytest.mark.parametrize("name", ["libwrap.so.0", "libwrap_preload.so"])
def test_exit_frees_nothing_a_deciding_thread_uses(exit_harness, tables, name, loaded):
    library, linger = LIBWRAP.parent / name, exit_harness["linger"]
    env = {"GLIBC_TUNABLES": "glibc.malloc.tcache_count=0:glibc.malloc.perturb=165"}
    args = [str(exit_harness["program"]), str(library), str(tables / "hosts.allow"), str(tables / "hosts.deny")]
    if loaded == "start-up":
        env["LD_PRELOAD"] = preload(library, linger)   # finalized in this order
    else:
        args.append(str(linger))
    for _ in range(5):
        r = subprocess.run(args, capture_output=True, text=True, timeout=60, env=clean_env(env))
        assert r.returncode == 0, f"status {r.returncode}: {r.stderr}"
