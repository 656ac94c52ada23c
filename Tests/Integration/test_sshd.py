"""Debian's sshd (linked with libwrap) run on each library, inside a private
mount namespace with test hosts.allow/hosts.deny: 127.0.0.2 gets the SSH
banner, 127.0.0.3 is disconnected without one."""

import shutil
import subprocess

import pytest

from conftest import (BASE_ETC, LIBS, assert_maps_lib, background, bg_output, free_port,
                      scratch_dir, syslog_text, tcp_exchange, wait_listening, write_etc)

SSHD = "/usr/sbin/sshd"

# sshd needs its privilege-separation directory; if the machine has none,
# give the namespace a private /run instead of creating it on the host.
RUN_SSHD = ("if [ ! -d /run/sshd ]; then mount -t tmpfs -o mode=755 twint-run /run; "
            "mkdir -m 755 /run/sshd; fi")


@pytest.fixture(scope="module")
def sshd_setup():
    d = scratch_dir("twint-sshd-")
    key = d / "host_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True,
                   timeout=60, stdin=subprocess.DEVNULL)
    config = d / "sshd_config"
    config.write_text(f"HostKey {key}\nUsePAM no\nPidFile none\nStrictModes no\n"
                      "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
                      "LogLevel VERBOSE\n")
    etc = write_etc(d / "etc", {**BASE_ETC, "hosts.allow": "sshd: 127.0.0.2\n",
                                "hosts.deny": "ALL: ALL\n"})
    yield config, etc
    shutil.rmtree(d, ignore_errors=True)


@pytest.mark.parametrize("lib", LIBS)
def test_sshd_wrapped(lib, sshd_setup, verified_libs):
    config, etc = sshd_setup
    port = free_port()
    argv = [SSHD, "-D", "-e", "-f", str(config), "-p", str(port),
            "-o", "ListenAddress=127.0.0.1"]
    with background(lib, verified_libs, argv, etc_dir=etc, pre=RUN_SSHD) as (proc, logs):
        wait_listening(port, proc)
        assert_maps_lib(proc.pid, lib, verified_libs)
        admitted = tcp_exchange("127.0.0.2", port, until=b"\n", shut_write=False, timeout=10)
        refused = tcp_exchange("127.0.0.3", port, shut_write=False, timeout=10)
        admitted2 = tcp_exchange("127.0.0.2", port, until=b"\n", shut_write=False, timeout=10)
        assert proc.poll() is None, bg_output(proc)
        log = bg_output(proc)
        syslog = [syslog_text(m) for m in logs.messages]
    assert admitted.startswith(b"SSH-2.0-"), (admitted, log)
    assert admitted2.startswith(b"SSH-2.0-"), (admitted2, log)
    assert refused == b"", (refused, log)
    # sshd logs the refusal to syslog (not to -e's stderr)
    assert [m for m in syslog if m.startswith("refused connect from 127.0.0.3")], (syslog, log)
    assert not any("127.0.0.2" in m for m in syslog), syslog
