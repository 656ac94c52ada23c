"""tcpwrap, the launcher: puts an unmodified daemon under the shim with the
settings given on its command line, and warns about programs the shim
cannot see."""

from __future__ import annotations

import subprocess
from pathlib import Path

from conftest import ADMITTED, REFUSED, assert_shim_loaded, free_port, lib_dir, refused_outcome, spawn, tcp_exchange, wait_port

TCPWRAP = lib_dir().parent / "bin" / "tcpwrap"


def test_launcher_protects_a_daemon(tables, workdir):
    tables.write(f"demo: {ADMITTED}\n")
    (workdir / "www").mkdir()
    (workdir / "www" / "index.html").write_text("hello\n")
    port = free_port()
    p = spawn([str(TCPWRAP), "--daemon", "demo", "--allow", str(tables.allow), "--deny", str(tables.deny),
               "--log", str(tables.log), "--", "python3", "-m", "http.server", "-b", "127.0.0.1",
               "-d", str(workdir / "www"), str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, proc=p)
    assert_shim_loaded(p.pid)        # tcpwrap replaced itself with the daemon
    status, data = tcp_exchange(ADMITTED, port, b"GET /index.html HTTP/1.0\r\n\r\n")
    assert status == "data" and data.endswith(b"hello\n"), (status, data)
    assert refused_outcome(*tcp_exchange(REFUSED, port, b"GET / HTTP/1.0\r\n\r\n"))
    # (127.0.0.2 was admitted by the rule for "demo": the name was applied.)
    assert f"python3[{p.pid}]: warning: refused connect from {REFUSED}" in tables.log_text()


def test_launcher_warns_about_a_static_program(tmp_path):
    src = tmp_path / "static.c"
    src.write_text("int main(void) { return 3; }\n")
    exe = tmp_path / "static"
    subprocess.run(["cc", "-static", "-o", str(exe), str(src)], check=True, timeout=120)
    r = subprocess.run([str(TCPWRAP), str(exe)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 3                      # the program ran, its status passed on
    assert "statically linked" in r.stderr and "not filtered" in r.stderr, r.stderr


def test_launcher_rejects_bad_arguments(tmp_path):
    for argv, message in ((["--children", "all", "true"], "own, daemon or none"),
                          (["--bogus", "true"], "unknown option"),
                          (["--daemon"], "needs a value"),
                          ([], "no command"),
                          (["no-such-command-here"], "command not found")):
        r = subprocess.run([str(TCPWRAP), *argv], capture_output=True, text=True, timeout=30)
        assert r.returncode == 2 and message in r.stderr, (argv, r.returncode, r.stderr)


def test_launcher_check_stops_on_broken_tables(tmp_path):
    """--check runs tcpdchk on the tables the daemon would get: broken ones
    (here a rule without its final newline in hosts.deny, which would refuse
    everyone) stop the launch with tcpdchk's findings; clean ones go on."""
    allow, deny = tmp_path / "allow", tmp_path / "deny"
    allow.write_text("demo: 127.0.0.2\n")
    deny.write_text("ALL: 10.0.0.1")
    marker = tmp_path / "ran"
    r = subprocess.run([str(TCPWRAP), "--check", "--allow", str(allow), "--deny", str(deny), "--",
                        "touch", str(marker)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1, r
    assert f"{deny}:1: error: missing newline" in r.stderr and "not started" in r.stderr, r.stderr
    assert not marker.exists()
    deny.write_text("ALL: 10.0.0.1\n")
    r = subprocess.run([str(TCPWRAP), "--check", "--allow", str(allow), "--deny", str(deny), "--",
                        "touch", str(marker)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stderr == "", r    # (--check does not ask inetd.conf about the daemon)
    assert marker.exists()
