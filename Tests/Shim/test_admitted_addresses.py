"""The shim admits a client whose address alone admitted it before by one
lookup (AdmittedAddresses in Hooks.swift), and only while that stays true.

A connection is admitted from the cache only when its earlier verdict
admitted it and asked for nothing but the client's address, and only
while the tables are the versions that gave it. These tests fail if a
refusal is reused, if a verdict that also depended on the server's
endpoint is reused, or if an edit to either table (replaced, or appended
to in place as fail2ban does) is not in force for the next connection
from an address admitted before.
"""

from __future__ import annotations

import time

import pytest

from conftest import hello_server, refused_outcome, shim_env, tcp_exchange


@pytest.fixture
def server(tables, workdir):
    return hello_server(workdir, shim_env(tables, daemon="server"), bind="0.0.0.0")


def rewrite(tables, allow: str, deny: str) -> None:
    """Replaces both tables, and waits out the 1 ms a stat() stands."""
    tables.write(allow, deny)
    time.sleep(0.01)


def admitted(port: int, src: str = "127.0.0.1", dst: str = "127.0.0.1") -> bool:
    status, data = tcp_exchange(src, port, dst=dst)
    if status == "data" and data == b"hello":
        return True
    assert refused_outcome(status, data), (status, data)
    return False


def test_a_refused_address_stays_refused(tables, server):
    # Refused by its address alone, again and again, before and after an
    # admitted one: refusals are never taken from the cache.
    rewrite(tables, "server: 127.0.0.2\n", "ALL: ALL\n")
    for _ in range(3):
        assert not admitted(server, src="127.0.0.3")
        assert admitted(server, src="127.0.0.2")
        assert not admitted(server, src="127.0.0.3")


def test_a_verdict_that_asked_the_server_endpoint_is_not_reused(tables, server):
    # One client address; the server's own address decides.
    rewrite(tables, "server@127.0.0.1: 127.0.0.1\n", "ALL: ALL\n")
    for _ in range(3):
        assert admitted(server, dst="127.0.0.1")
        assert not admitted(server, dst="127.0.0.2")


def test_a_replaced_table_is_in_force_for_an_address_admitted_before(tables, server):
    rewrite(tables, "ALL: 127.0.0.1\n", "ALL: ALL\n")
    assert all(admitted(server) for _ in range(5))
    rewrite(tables, "ALL: 127.0.0.9\n", "ALL: ALL\n")   # renamed over the old one
    assert not admitted(server)
    rewrite(tables, "ALL: 127.0.0.1\n", "ALL: ALL\n")
    assert admitted(server)


def test_a_ban_appended_in_place_refuses_an_address_admitted_before(tables, server):
    # Admitted because no rule matches: both tables were asked.
    rewrite(tables, "", "ALL: 10.9.9.9\n")
    assert all(admitted(server) for _ in range(5))
    with open(tables.deny, "a") as f:                 # as fail2ban bans
        f.write("ALL: 127.0.0.1\n")
    time.sleep(0.01)
    assert not admitted(server)
    assert admitted(server, src="127.0.0.3")
