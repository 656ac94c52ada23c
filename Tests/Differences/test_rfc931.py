"""user@host rules look the user up with the client's ident server (RFC 931),
bounded by rfc931_timeout: the same result on Debian's library and ours.
Everything runs in a private network namespace (port 113 on 127.0.0.2)."""
import os
import subprocess
import sys
import textwrap

import pytest

from conftest import DEBIAN_LIB, REPO, library_env, our_lib_dir

IDENTD = textwrap.dedent("""
    import socket, sys, threading
    mode = sys.argv[1]
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.2", 113)); s.listen(5)
    print("ready", flush=True)
    while True:
        c, _ = s.accept()
        q = c.recv(100).decode().strip()
        if mode == "answer":
            c.sendall(f"{q} : USERID : UNIX : bob\\r\\n".encode()); c.close()
        elif mode == "silent":
            threading.Timer(30, c.close).start()       # never answers in time
""")


@pytest.fixture(scope="module")
def ident_probe(tmp_path_factory):
    out = tmp_path_factory.mktemp("ident") / "ident_probe"
    subprocess.run(["cc", "-O1", "-I", str(REPO / "Include"), "-o", str(out),
                    str(REPO / "Tests/Differences/ident_probe.c"), f"-L{DEBIAN_LIB}", "-l:libwrap.so.0"], check=True)
    return out


def run_in_netns(probe, lib, allow, deny, identd_mode, timeout_s):
    script = textwrap.dedent(f"""
        ip link set lo up
        ip addr add 127.0.0.2/8 dev lo 2>/dev/null || true
        {sys.executable} -c '{IDENTD}' {identd_mode} > $T/identd.out 2>&1 &
        IDENTD=$!
        for i in $(seq 50); do grep -q ready $T/identd.out 2>/dev/null && break; sleep 0.1; done
        {' '.join(f"{k}={v}" for k, v in library_env(lib).items())} {probe} {allow} {deny} 2100 {timeout_s} || status=$?
        kill $IDENTD
        exit ${{status:-0}}
    """)
    env = dict(os.environ, T=str(allow.parent))
    p = subprocess.run(["unshare", "-n", "sh", "-c", script], capture_output=True, text=True, timeout=60, env=env)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root for a network namespace and port 113")
@pytest.mark.parametrize("identd,expected", [
    ("answer", "verdict=1 user=bob"),
    ("silent", "verdict=0 user=unknown"),
])
def test_ident_lookup(ident_probe, tmp_path, identd, expected):
    allow, deny = tmp_path / "allow", tmp_path / "deny"
    allow.write_text("sshd: bob@127.0.0.2\n")
    deny.write_text("ALL: ALL\n")
    results = {}
    for name, lib in (("debian", DEBIAN_LIB), ("ours", our_lib_dir())):
        out = run_in_netns(ident_probe, lib, allow, deny, identd, 2)
        verdict_user, seconds = out.rsplit(" seconds=", 1)
        results[name] = verdict_user
        if identd == "silent":
            assert 1 <= float(seconds) <= 4, f"{name}: lookup not bounded by rfc931_timeout: {out}"
    assert results["ours"] == results["debian"] == expected
