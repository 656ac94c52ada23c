"""fix_options(): IP options of an accepted connection, ours against Debian's.

A small server (ip_options/server.c) accepts one connection on 127.0.0.1,
calls fix_options() and prints whether it returned and how many bytes of IP
options the socket has before and after.  It runs in a private network
namespace (`unshare -n`, only lo) where the kernel follows source routes
(accept_source_route, route_localnet, accept_local set there only), and in a
private mount namespace whose /dev/log is read by the test.

Linux keeps on an accepted socket the *echo* of the SYN's options, and a
source route is echoed only when its pointer shows it was followed; a route
of local hops never advances the pointer.  So source-routed SYNs are made by
hand (ip_options/client.py: raw socket SYN whose LSRR/SSRR is spent, the
handshake finished with a raw ACK after the SYN-ACK is read off lo).  The
reply route's next hop is 192.0.2.1 (TEST-NET, no route in the namespace), so
the kernel drops the SYN-ACK there and no packet leaves 127.0.0.0/8.

Debian's fix_options (7.6.q-32, read from its machine code) scans options from
byte 4, the BSD layout that prepends the first-hop address; Linux returns the
options alone, so a source route as first option is not seen: Debian logs it
as ignored options, clears them and returns.  When it does find one, it logs
the refusal, shutdown()s the socket and returns.  Ours scans from byte 0 and
on a source route logs the refusal and exits (clean_exit), like tcp_wrappers
7.6.  These differences are asserted below (SECURITY.md, "IP options").
"""

from __future__ import annotations

import shutil

import pytest

from conftest import (DEBIAN_HEADER_DIR, HERE, LIBS, compile_c, free_port, run,
                      syslog_text)

DATA = HERE / "ip_options"
REFUSED = "refused connect from 127.0.0.2 with IP source routing options"

# Options as the SYN carries them (hex); "raw": sent by hand, "socket": set
# with setsockopt(IP_OPTIONS) on an ordinary client socket.
RECORD_ROUTE = ("socket", "07070400000000")
# Spent LSRR / SSRR: route 192.0.2.1, 127.0.0.4, pointer past the end.
LSRR = ("raw", "830b0cc00002017f00000400")
SSRR = ("raw", "890b0cc00002017f00000400")
# A full record route (127.1.1.1) and then the spent LSRR: Debian's scan,
# from byte 4, reads 01 01 01 (NOPs) and reaches the LSRR.
RR_THEN_LSRR = ("raw", "0707087f010101830b0cc00002017f0000040000")


@pytest.fixture(scope="module")
def server(verified_libs, session_dir):
    return compile_c(DATA / "server.c", session_dir / "ipopts-server", DEBIAN_HEADER_DIR, None)


def run_case(server, lib_dir, lib, case):
    mode, options = case
    argv = ["unshare", "-n", "sh", str(DATA / "netns.sh"), str(server), str(free_port()),
            mode, options]
    r = run(lib, lib_dir, argv, timeout=60)
    lines = r.stdout.splitlines()
    assert "listening" in lines, r.describe()
    assert "options before: 0" not in lines, f"the kernel kept no options\n{r.describe()}"
    return r, lines, [syslog_text(m, keep_priority=True) for m in r.syslog]


def both(server, lib_dir, case):
    return {lib: run_case(server, lib_dir, lib, case) for lib in LIBS}


def test_harmless_option_is_logged_and_cleared(server, verified_libs):
    got = both(server, verified_libs, RECORD_ROUTE)
    for lib, (r, lines, logs) in got.items():
        assert r.rc == 0 and "returned" in lines and "options after: 0" in lines, r.describe()
        assert logs == ["<13> ipopts-server: connect from 127.0.0.1 with IP options "
                        "(ignored): 07 07 08 7f 00 00 01 00"], r.describe()
    # The server's lines in order; the client's line may come anywhere
    # among them (two processes write to one pipe).
    def server_lines(out):
        return [l for l in out.splitlines() if not l.startswith("client:")]
    assert server_lines(got["ours"][0].stdout) == server_lines(got["debian"][0].stdout)
    assert "client: connected" in got["ours"][0].stdout and "client: connected" in got["debian"][0].stdout
    assert got["ours"][2] == got["debian"][2]


@pytest.mark.parametrize("case", [LSRR, SSRR], ids=["lsrr", "ssrr"])
def test_leading_source_route(server, verified_libs, case):
    got = both(server, verified_libs, case)
    r, lines, logs = got["debian"]
    # Debian misses it: logged as ignored options, cleared, the server goes on.
    assert r.rc == 0 and "returned" in lines and "options after: 0" in lines, r.describe()
    assert len(logs) == 1 and logs[0].startswith(
        "<13> ipopts-server: connect from 127.0.0.2 with IP options (ignored): "
        + case[1][:2]), r.describe()
    r, lines, logs = got["ours"]
    # Ours refuses it and exits before fix_options returns.
    assert r.rc == 0 and "returned" not in lines and "options before: 12" in lines, r.describe()
    assert logs == [f"<12> ipopts-server: {REFUSED}"], r.describe()


def test_source_route_after_record_route(server, verified_libs):
    got = both(server, verified_libs, RR_THEN_LSRR)
    for lib, (r, lines, logs) in got.items():
        assert logs == [f"<12> ipopts-server: {REFUSED}"], r.describe()
    # Debian shuts the socket down and returns, options left in place ...
    r, lines, _ = got["debian"]
    assert r.rc == 0 and "returned" in lines and "options after: 20" in lines, r.describe()
    # ... ours exits.
    r, lines, _ = got["ours"]
    assert r.rc == 0 and "returned" not in lines, r.describe()


def test_tools_present():
    for tool in ("unshare", "ip", "sysctl", "timeout", "python3"):
        assert shutil.which(tool), tool
