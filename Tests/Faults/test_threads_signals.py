"""EINTR, pthread_cancel and fork in another thread, under the shim
(faults.c). fork-then-threads, fork while another thread decides through
libwrap.so.0 and dlopen/dlclose of both libraries are in Tests/Runtime
(test_runtime.py); this adds what the shim's hooks do.
"""

from __future__ import annotations

import re

from conftest import ADMITTED, run_case, shim_env


def tables(workdir, allow: str):
    (workdir / "hosts.allow").write_text(allow)
    (workdir / "hosts.deny").write_text("ALL: ALL\n")
    return workdir / "hosts.allow", workdir / "hosts.deny", workdir / "shim.log"


def test_eintr_during_accept_and_receive(cbin, workdir):
    """A signal whose handler has no SA_RESTART ends a blocking accept() or
    recvfrom() with EINTR, refused clients pending or not; with SA_RESTART
    the call goes on and returns the admitted client (or datagram) that
    comes after the signal, with the caller's errno."""
    run_case(cbin, "eintr", shim_env(*tables(workdir, f"ALL: {ADMITTED}\n")))


def test_cancel_threads_blocked_in_hooked_calls(cbin, workdir):
    """pthread_cancel() of threads blocked in accept(), recvfrom() and
    poll() (20 rounds each, and 20 more while refused clients arrive): each
    ends cancelled within 3 s; then another thread still decides (no lock
    left held) and no descriptor is left open."""
    out = run_case(cbin, "cancel", shim_env(*tables(workdir, f"ALL: {ADMITTED}\n")))
    print(re.search(r"FDS .*", out).group(0))


def test_cancel_a_thread_inside_a_decision(cbin, workdir):
    """The thread is cancelled while the shim decides (an aclexec command
    of 1 s runs for the client): the cancel waits until the decision is
    made, the client reaches the daemon (whose cleanup closes it), no
    descriptor leaks and the shim decides afterwards."""
    allow = f"ALL: {ADMITTED}: aclexec /bin/sleep 1\n"
    out = run_case(cbin, "cancel", shim_env(*tables(workdir, allow)), "decision")
    assert out.count("CANCELLED-CLIENT handed out") == 3, out


def test_fork_while_other_threads_decide(cbin, workdir):
    """Two threads accept (and judge) a stream of refused and admitted
    clients while the main thread forks 100 times; each child decides at
    once (an admitted client handed out, a refused one reset)."""
    out = run_case(cbin, "forkdecide", shim_env(*tables(workdir, f"ALL: {ADMITTED}\n")), "100", timeout=300)
    print(re.search(r"RUNS .*", out).group(0))
