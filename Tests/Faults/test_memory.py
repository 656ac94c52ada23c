"""Allocation failures (ENOMEM) in libwrap.so.0.

inject.c makes every allocation fail from the Nth one after the first
hosts_ctl() call on, for N = 0, 10, ..., 790 (three decisions make a few
hundred); and an address-space limit (RLIMIT_AS) is set just above what
the process needs before it reads an 8 MiB table (the largest that is
compiled and kept). The client is refused by the table: whatever happens,
it must never be admitted (fail closed). What was seen: where an
allocation fails the process is killed by a trap (SIGILL: Embedded Swift
stops on an allocation that fails; SIGSEGV for N = 0, the request's own
buffer), where Debian's library more often survives (it is killed by
SIGSEGV for small N); under RLIMIT_AS the verdict was right (a refusal). Never crashing would need every allocation in
the engine to be fallible: the strict xfail below records it.
"""

from __future__ import annotations

import collections
import resource
import subprocess

import pytest

from conftest import clean_env, decide, LIBS


def outcome(r) -> str:
    if r.rc is None:
        return "hang"
    if r.rc < 0:
        return f"signal {-r.rc}"
    return f"admitted {r.admitted}" if r.parsed else f"exit {r.rc}"


def sweep(cbin, workdir, lib: str) -> collections.Counter:
    (workdir / "allow").write_text("sshd: 10.0.0.1\n")
    (workdir / "deny").write_text("sshd: 10.0.0.2 192.0.2.7\nALL: ALL\n")
    seen = collections.Counter()
    for n in range(0, 800, 10):
        r = decide(cbin, lib, workdir / "allow", workdir / "deny", mode="loop", count=3, tmp=workdir, timeout=20,
                   env={"LD_PRELOAD": str(cbin["inject.so"]), "FAULT_MALLOC_AFTER": str(n)})
        seen[outcome(r)] += 1
        assert r.rc is not None, f"hung with allocations failing after {n}"
        assert not (r.parsed and r.admitted), f"the refused client was admitted with allocations failing after {n}"
        assert r.err == "" or r.rc != 0, r
    return seen


def test_failing_allocations_never_admit(cbin, workdir):
    seen = sweep(cbin, workdir, "ours")
    print("ours:", dict(seen), " debian:", dict(sweep(cbin, workdir, "debian")))
    assert seen["admitted 0"] > 0, "no run got far enough to decide: the sweep is too short"


@pytest.mark.xfail(strict=True, reason="Embedded Swift traps when an allocation fails; the engine allocates "
                   "(arrays) on every decision, so ENOMEM kills the process instead of refusing")
def test_failing_allocations_do_not_crash(cbin, workdir):
    seen = sweep(cbin, workdir, "ours")
    assert all(not k.startswith("signal") for k in seen), dict(seen)


LIMITED = """
import ctypes, resource, sys
lib = ctypes.CDLL(sys.argv[1])
allow = ctypes.create_string_buffer(b"/nonexistent")
deny = ctypes.create_string_buffer(sys.argv[2].encode())
ctypes.c_void_p.in_dll(lib, "hosts_allow_table").value = ctypes.addressof(allow)
ctypes.c_void_p.in_dll(lib, "hosts_deny_table").value = ctypes.addressof(deny)
ctl = lib.hosts_ctl
ctl.argtypes = [ctypes.c_char_p] * 4
ctl(b"sshd", b"10.9.9.9", b"10.9.9.9", b"")    # warm: everything but the big table's compile
vm = int([l for l in open("/proc/self/status") if l.startswith("VmSize")][0].split()[1]) * 1024
resource.setrlimit(resource.RLIMIT_AS, (vm + int(sys.argv[3]) * 1024 * 1024,) * 2)
print(ctl(b"sshd", b"10.0.0.7", b"10.0.0.7", b""), flush=True)
"""


@pytest.mark.parametrize("headroom_mb", [4, 16, 64])
def test_address_space_limit_with_a_large_table(workdir, headroom_mb):
    """An 8 MiB deny table (10.0.0.7 on its first line) read with only a few
    MB of address space to spare: the verdict is a refusal or the process
    dies; never an admission, never a hang."""
    table = workdir / "deny"
    with open(table, "w") as f:
        i = 7
        while f.tell() < 8 * 1024 * 1024 - 64:
            f.write(f"ALL: 10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}\n")
            i += 1
    p = subprocess.run(["python3", "-c", LIMITED, f"{LIBS['ours']}/libwrap.so.0", str(table), str(headroom_mb)],
                       capture_output=True, text=True, timeout=120, env=clean_env())
    print(f"headroom {headroom_mb} MB: rc {p.returncode}, verdict {p.stdout.strip()!r}")
    assert p.stdout.strip() != "1", "admitted under memory pressure"
    assert p.returncode != 0 or p.stdout.strip() == "0", (p.returncode, p.stdout, p.stderr[-500:])
