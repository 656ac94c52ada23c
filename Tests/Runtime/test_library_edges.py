"""sock_host() as a daemon uses it, where our library differs from a
naive one: its own peek at a datagram bypasses the shim's hook, and the
endpoints it records stay valid when the request is judged on another
thread (or after the thread that filled it is gone). Also the shim's log
file: never through a symbolic link, lines in the usual syslog shape."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import HERE, LIBWRAP, REPO, SHIM, clean_env, lib_dir, preload


@pytest.fixture(scope="module")
def endpoints(tmp_path_factory) -> Path:
    exe = tmp_path_factory.mktemp("bin") / "endpoints"
    r = subprocess.run(["cc", "-O1", "-Wall", "-pthread", "-I", str(REPO / "Include"), "-o", str(exe),
                        str(HERE / "endpoints.c"), "-Wl,--no-as-needed", f"-L{lib_dir()}", "-lwrap"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return exe


def start(exe: Path, mode: str, tmp_path: Path, env: dict) -> tuple[subprocess.Popen, int]:
    portfile = tmp_path / "port"
    p = subprocess.Popen([str(exe), mode, str(portfile)], env=env, stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 10
    while not (portfile.exists() and portfile.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.02)
    return p, int(portfile.read_text())


def shim_env(tmp_path: Path, allow: str) -> dict:
    (tmp_path / "hosts.allow").write_text(allow)
    (tmp_path / "hosts.deny").write_text("ALL: ALL\n")
    return clean_env({"LD_LIBRARY_PATH": str(lib_dir()), "LD_PRELOAD": preload(SHIM),
                      "TCPWRAP_HOSTS_ALLOW": str(tmp_path / "hosts.allow"),
                      "TCPWRAP_HOSTS_DENY": str(tmp_path / "hosts.deny"), "TCPWRAP_LOG": str(tmp_path / "log")})


def test_fromhost_peek_bypasses_the_shim(endpoints, tmp_path):
    # The shim refuses 127.0.0.3; the daemon's own fromhost() must still see
    # that datagram (its own hosts_access() then decides), not have it dropped.
    p, port = start(endpoints, "peek", tmp_path, shim_env(tmp_path, "ALL: 127.0.0.2\n"))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.3", 0))
    s.sendto(b"hello", ("127.0.0.1", port))
    out, _ = p.communicate(timeout=15)
    assert out.strip() == "addr=127.0.0.3 queued=1", out


def test_endpoints_outlive_the_thread_that_recorded_them(endpoints, tmp_path):
    p, port = start(endpoints, "threads", tmp_path, clean_env({"LD_LIBRARY_PATH": str(lib_dir())}))
    for src in ("127.0.0.2", "127.0.0.3"):
        c = socket.socket()
        c.bind((src, 0))
        c.connect(("127.0.0.1", port))
        time.sleep(0.2)
        c.close()
    out, _ = p.communicate(timeout=15)
    assert out.strip() == "first=127.0.0.2 second=127.0.0.3", out


def test_log_file_is_not_followed_through_a_symlink_and_has_syslog_shape(endpoints, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("")
    os.symlink(victim, tmp_path / "log")
    p, port = start(endpoints, "peek", tmp_path, shim_env(tmp_path, "ALL: 127.0.0.2\n"))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.3", 0))
    s.sendto(b"x", ("127.0.0.1", port))
    p.communicate(timeout=15)
    assert victim.read_text() == "", "the log was written through a symbolic link"
    assert (tmp_path / "log").is_symlink()
    # A plain file: lines like "2026-11-29T22:30:00Z endpoints[123]: warning: refused connect from ..."
    os.unlink(tmp_path / "log")
    (tmp_path / "port").unlink()   # the first run's port: wait for the new one
    p, port = start(endpoints, "peek", tmp_path, shim_env(tmp_path, "ALL: 127.0.0.2\n"))
    s.sendto(b"x", ("127.0.0.1", port))
    p.communicate(timeout=15)
    text = (tmp_path / "log").read_text()
    assert re.search(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ endpoints\[\d+\]: warning: refused connect from 127\.0\.0\.3$",
                     text, re.M), text
