"""The shim finds the functions it stands in front of as dlsym(RTLD_NEXT)
would: when another preload comes after it and stands in front of the same
functions, the shim's calls go through that preload, not around it.

The shim resolves them itself, in the loaded objects' hash tables, when it
is loaded with the program (Real.swift, NextDefinitions); a lookup that
skipped the objects after it, or took the C library's definition first,
fails here: behind.c (loaded after the shim) notes every accept4() and
close() that reaches it.
"""

from __future__ import annotations

import subprocess

from conftest import ADMITTED, HERE, REFUSED, SHIM, hello_server, preload, refused_outcome, shim_env, tcp_exchange

def test_a_preload_after_the_shim_sees_its_calls(tables, workdir):
    behind = workdir / "behind.so"
    r = subprocess.run(["cc", "-O2", "-Wall", "-shared", "-fPIC", "-o", str(behind), str(HERE / "behind.c"), "-ldl"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    log = workdir / "behind.log"
    env = shim_env(tables, {"BEHIND_LOG": str(log)}, daemon="server")
    env["LD_PRELOAD"] = preload(SHIM, behind)
    tables.write(f"server: {ADMITTED}\n", "ALL: ALL\n")
    port = hello_server(workdir, env)
    assert tcp_exchange(ADMITTED, port) == ("data", b"hello")
    assert refused_outcome(*tcp_exchange(REFUSED, port))
    assert tcp_exchange(ADMITTED, port) == ("data", b"hello")
    calls = log.read_text().split()
    # Every connection was accepted through behind.so (the refused one
    # by the shim itself), and the shim's reset of the refused one went
    # through its close().
    assert calls.count("accept4") >= 3, calls
    assert "close" in calls, calls
