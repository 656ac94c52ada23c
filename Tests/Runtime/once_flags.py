"""once_flags.py LIBRARY - loads LIBRARY (its constructors run) and checks
every one-time-initialisation flag its code consults.

Swift guards a lazily built global with a once-flag (a symbol ending in
"_Wz"); Embedded Swift spins on a flag it finds "in progress". A flag the
code can reach must already be done (-1) once the library is loaded, or a
fork can strand it and a hot path does one-time work. The flags the code
consults are those named in its instructions (objdump); each is read from
the loaded image. Prints one line per flag and "checked N, unset M".
"""

import ctypes
import os
import re
import subprocess
import sys

path = os.path.realpath(sys.argv[1])
ctypes.CDLL(path)
base = None
with open("/proc/self/maps") as maps:
    for line in maps:
        f = line.split()
        if len(f) >= 6 and f[5] == path and int(f[2], 16) == 0:
            base = int(f[0].split("-")[0], 16)
            break
if base is None:
    sys.exit(f"{path} is not mapped")

symbols = {}
for line in subprocess.run(["nm", path], capture_output=True, text=True, check=True).stdout.splitlines():
    parts = line.split()
    if len(parts) == 3 and parts[2].endswith("_Wz"):
        symbols[parts[2]] = int(parts[0], 16)
code = subprocess.run(["objdump", "-d", "--no-show-raw-insn", path], capture_output=True, text=True,
                      check=True).stdout
consulted = sorted(set(re.findall(r"<([^<>+]*_Wz)(?:\+0x[0-9a-f]+)?>", code)))
unset = 0
for name in consulted:
    value = ctypes.c_int64.from_address(base + symbols[name]).value
    ok = value == -1
    unset += not ok
    print(f"{'ok   ' if ok else 'UNSET'} {name} = {value}")
print(f"checked {len(consulted)}, unset {unset}")
