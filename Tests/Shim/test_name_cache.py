"""In a daemon under the shim, a client's name is looked up once per 30
seconds, not once per connection: 20 connections from 127.0.0.1 against a
name rule (`KNOWN`) make one reverse and one forward lookup (each reads
/etc/hosts), not 20 of each. (Only 127.0.0.1 is used: /etc/hosts answers
for it, so no lookup leaves the machine.)"""

from __future__ import annotations

import subprocess

from conftest import free_port, shim_env, spawn, tcp_exchange, wait_port


def test_client_names_are_looked_up_once_not_per_connection(tables, workdir):
    tables.write("demo: KNOWN\n")   # any name 127.0.0.1 has (localhost): needs the lookup
    (workdir / "www").mkdir()
    (workdir / "www" / "index.html").write_text("hello\n")
    port = free_port()
    trace = workdir / "trace"
    p = spawn(["strace", "-f", "-qq", "-e", "trace=openat", "-o", str(trace), "python3", "-m", "http.server",
               "-b", "127.0.0.1", "-d", str(workdir / "www"), str(port)],
              env=shim_env(tables, daemon="demo"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, proc=p, timeout=20)
    for i in range(20):
        status, data = tcp_exchange("127.0.0.1", port, b"GET /index.html HTTP/1.0\r\n\r\n")
        assert status == "data" and data.endswith(b"hello\n"), (i, status, data)
    reads = sum(1 for line in trace.read_text().splitlines() if '"/etc/hosts"' in line)
    assert 1 <= reads <= 4, f"/etc/hosts read {reads} times for 20 connections"
