"""Settings from the environment are ignored in setuid and setgid programs.

A shim listed in /etc/ld.so.preload is loaded into setuid programs too
(a user's LD_PRELOAD is not). There the TCPWRAP_* variables are the
caller's, not the administrator's: a user must not point a setuid daemon at
tables of their own, nor make it write a log where they choose. The test
runs in a private mount namespace with a copy of /etc that lists the shim in
ld.so.preload (the real /etc is untouched): the same small server, run by
the user nobody, once setuid root and once not, with TCPWRAP_HOSTS_DENY and
TCPWRAP_LOG naming the user's files. Not setuid: the user's table refuses
127.0.0.3 and the log records it. Setuid: both are ignored (the copy's empty
tables admit everyone) and no log is written.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from conftest import REFUSED, SHIM, free_port

SERVER = r"""
#include <arpa/inet.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
int main(int argc, char **argv) {
    int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[1])) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(l, (void *) &a, sizeof a) || listen(l, 8)) return 3;
    alarm(10);
    int c = accept(l, 0, 0);
    if (c >= 0) { (void) write(c, "ok", 2); close(c); }
    return 0;
}
"""


def served(work: Path, exe: Path, port: int) -> bytes:
    user_deny = work / "user" / "deny"
    user_log = work / "user" / "log"
    script = (f"mount --bind {work}/etc /etc && "
              f"exec setpriv --reuid=nobody --regid=nogroup --clear-groups "
              f"env TCPWRAP_HOSTS_DENY={user_deny} TCPWRAP_LOG={user_log} {exe} {port}")
    p = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True).stdout.strip():
                break
            time.sleep(0.05)
        c = socket.socket()
        c.bind((REFUSED, 0))
        c.settimeout(3)
        try:
            c.connect(("127.0.0.1", port))
            return c.recv(8)
        except OSError:
            return b""
        finally:
            c.close()
    finally:
        p.wait(10)


def test_setuid_program_ignores_the_callers_settings(workdir):
    work = workdir   # (reachable by the user nobody, unlike pytest's tmp_path)
    src = work / "server.c"
    src.write_text(SERVER)
    exe = work / "server"
    subprocess.run(["cc", "-O1", "-o", str(exe), str(src)], check=True, timeout=60)
    # A copy of /etc whose ld.so.preload names the shim, with empty tables.
    shutil.copytree("/etc", work / "etc", symlinks=True, ignore_dangling_symlinks=True,
                    ignore=shutil.ignore_patterns("ld.so.preload", "hosts.allow", "hosts.deny"))
    (work / "etc" / "ld.so.preload").write_text(f"{SHIM}\n")
    (work / "etc" / "hosts.allow").write_text("")
    (work / "etc" / "hosts.deny").write_text("")
    user = work / "user"
    user.mkdir()
    os.chmod(user, 0o777)
    (user / "deny").write_text(f"ALL: {REFUSED}\n")
    os.chmod(user / "deny", 0o644)

    # Not setuid: the caller's settings are in force.
    os.chmod(exe, 0o755)
    assert served(work, exe, free_port()) == b""
    assert (user / "log").exists() and f"refused connect from {REFUSED}" in (user / "log").read_text()
    (user / "log").unlink()

    # Setuid root: ignored.
    os.chown(exe, 0, 0)
    os.chmod(exe, 0o4755)
    assert served(work, exe, free_port()) == b"ok"
    assert not (user / "log").exists(), (user / "log").read_text()
