"""memory.py - what the libraries cost in resident memory (scripts/bench).

1. An 8 MiB fail2ban table (`ALL: <address>` lines) in hosts.deny: the
   resident memory hosts_ctl() adds in a fresh process, with Debian's
   libwrap.so.0 and with ours, and the time of the first call (ours compiles
   the table then) and of a later one.
2. An idle process (sleep) with and without our shim preloaded.

Usage: python3 memory.py OUR_LIB_DIR
"""

import ctypes
import os
import subprocess
import sys
import tempfile
import time

DEBIAN = "/lib/x86_64-linux-gnu/libwrap.so.0"

MEASURE = r"""
import ctypes, sys, time
def rss_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1])
lib = ctypes.CDLL(sys.argv[1])
allow = ctypes.create_string_buffer(b"/nonexistent/hosts.allow")
deny = ctypes.create_string_buffer(sys.argv[2].encode())
ctypes.c_void_p.in_dll(lib, "hosts_allow_table").value = ctypes.addressof(allow)
ctypes.c_void_p.in_dll(lib, "hosts_deny_table").value = ctypes.addressof(deny)
ctl = lib.hosts_ctl
ctl.argtypes = [ctypes.c_char_p] * 4
def ask(a):
    return ctl(b"sshd", a.encode(), a.encode(), b"")
before = rss_kb()
t0 = time.perf_counter(); verdicts = [ask(sys.argv[3])]; t1 = time.perf_counter()
verdicts.append(ask(sys.argv[4])); t2 = time.perf_counter()
verdicts += [ask(a) for a in sys.argv[5:]]
print(rss_kb() - before, (t1 - t0) * 1e3, (t2 - t1) * 1e3, *verdicts)
"""
# (Also Tests/Runtime/test_memory.py's: ADDRESSES... are asked in turn, the
# first two timed; it prints +RSS kB, both times in ms, then each verdict.)


def fail2ban_table(path, size_wanted=8 * 1024 * 1024):
    """Writes `ALL: <address>` lines up to about size_wanted bytes: (size, lines, last address)."""
    size, i, last = 0, 0, ""
    with open(path, "w") as f:
        while size < size_wanted - 64:
            last = f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"
            line = f"ALL: {last}\n"
            f.write(line)
            size += len(line)
            i += 1
    return size, i, last


def rss_of_sleeper(env):
    p = subprocess.Popen(["sleep", "5"], env=env)
    try:
        time.sleep(0.5)
        with open(f"/proc/{p.pid}/status") as f:
            return next(int(l.split()[1]) for l in f if l.startswith("VmRSS"))
    finally:
        p.kill()
        p.wait()


def main():
    ours = os.path.join(sys.argv[1], "libwrap.so.0")
    shim = os.path.join(sys.argv[1], "libwrap_preload.so")
    with tempfile.TemporaryDirectory() as work:
        table = os.path.join(work, "hosts.deny")
        size, i, last = fail2ban_table(table)
        print(f"{'8 MiB fail2ban table (' + format(i, ',') + ' lines) in hosts.deny':62} {'+RSS MB':>9} {'x file':>7} {'1st call ms':>12} {'call ms':>9}")
        for label, lib in (("Debian's libwrap.so.0", DEBIAN), ("our libwrap.so.0", ours)):
            out = subprocess.run([sys.executable, "-c", MEASURE, lib, table, "192.0.2.1", "192.0.2.2", last],
                                 capture_output=True, text=True, timeout=600, check=True).stdout.split()
            added_kb, first_ms, later_ms = int(out[0]), float(out[1]), float(out[2])
            verdicts = out[3:]
            if verdicts != ["1", "1", "0"]:
                print(f"  (!) {label}: unexpected verdicts {verdicts}")
            print(f"{label:62} {added_kb / 1024:9.1f} {added_kb * 1024 / size:7.2f} {first_ms:12.1f} {later_ms:9.2f}")
    base = dict(os.environ)
    base.pop("LD_PRELOAD", None)
    bare = rss_of_sleeper(base)
    with_shim = rss_of_sleeper(dict(base, LD_PRELOAD=shim))
    print(f"{'idle process (sleep): resident memory the shim adds':62} {(with_shim - bare) / 1024:9.1f} MB")


if __name__ == "__main__":
    main()
