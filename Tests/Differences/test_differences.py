"""Each deliberate difference from Debian's libwrap (README, "Deliberate
differences") shown on both libraries: Debian is unsafe, ours is not."""
import os
import signal

import pytest


def test_fifo_table_fails_closed_instead_of_hanging(runner, tables, tmp_path):
    fifo = tmp_path / "deny.fifo"
    os.mkfifo(fifo)
    allow, _ = tables("", "")
    rc, out, err, log, secs = runner.run("ours", "ctl", allow, fifo)
    assert rc == 0 and out == "verdict=0\n" and err == ""
    assert secs < 3
    assert any(f"cannot open {fifo}: not a regular file" in l for l in log), log
    rc, *_ = runner.run("debian", "ctl", allow, fifo, timeout=3)
    assert rc is None, "Debian was expected to hang on a FIFO table"


def test_fifo_file_list_is_refused_not_read(runner, tables, tmp_path):
    fifo = tmp_path / "list.fifo"
    os.mkfifo(fifo)
    allow, deny = tables("", f"ALL: {fifo}\n")
    rc, out, err, log, secs = runner.run("ours", "ctl", allow, deny)
    assert rc == 0 and out == "verdict=1\n" and err == "" and secs < 3
    assert any(f"open {fifo}: not a regular file" in l for l in log), log
    rc, *_ = runner.run("debian", "ctl", allow, deny, timeout=3)
    assert rc is None, "Debian was expected to hang opening a FIFO /file list"


def test_dev_zero_file_list_is_refused_not_read(runner, tables):
    allow, deny = tables("", "ALL: /dev/zero\n")
    rc, out, err, log, secs = runner.run("ours", "ctl", allow, deny)
    assert rc == 0 and out == "verdict=1\n" and err == "" and secs < 3
    assert any("open /dev/zero: not a regular file" in l for l in log), log
    rc, *_ = runner.run("debian", "ctl", allow, deny, timeout=5)
    assert rc is None or rc < 0, f"Debian was expected to crash or hang on /dev/zero, got {rc}"


def test_overlong_expansion_denies_instead_of_exiting(runner, tables):
    allow, deny = tables("ALL: ALL: spawn " + "%u" * 900 + "\n", "")
    user = "u" * 120
    rc, out, err, log, secs = runner.run("ours", "user", allow, deny, user)
    assert rc == 0 and out == "verdict=0\n" and err == ""
    assert any("percent_x: expansion too long" in l for l in log), log
    rc, out, *_ = runner.run("debian", "user", allow, deny, user, timeout=15)
    assert rc == 0 and out == "", "Debian was expected to exit(0) inside hosts_access()"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to change ids")
def test_user_option_changes_ids_in_a_real_run(runner, tables):
    allow, deny = tables("ALL: ALL: user nobody\n", "")
    rc, out, *_ = runner.run("ours", "live", allow, deny)
    assert out == "verdict=1 uid=65534\n"
    rc, out, *_ = runner.run("debian", "live", allow, deny)
    assert out == "verdict=1 uid=0\n", "Debian's inverted test was expected to skip setuid()"


def test_threads_get_their_own_verdicts(runner, tables):
    allow, deny = tables("sshd: 10.0.0.1\n", "ALL: ALL\n")
    rc, out, err, log, secs = runner.run("ours", "threads", allow, deny, "20000", timeout=120)
    assert rc == 0 and out.startswith("verdict=done wrong=0 of 160000"), out


def test_threads_with_real_connections(runner, tables):
    """fromhost() + hosts_access() from 8 threads. Debian keeps the endpoint
    addresses in static storage: some threads judge another thread's client
    (measured here: about 5% wrong verdicts). Ours must make no mistake."""
    allow, deny = tables("sshd: 127.0.0.2\n", "ALL: ALL\n")
    rc, out, *_ = runner.run("ours", "sockets", allow, deny, "800", timeout=120)
    assert rc == 0 and out.startswith("verdict=done wrong=0 of 6400"), out
    # Debian's run must complete in the same harness (the race it has does
    # not show every time, so its count of wrong verdicts is only reported).
    rc, out, *_ = runner.run("debian", "sockets", allow, deny, "800", timeout=120)
    assert rc == 0 and out.startswith("verdict=done wrong=") and out.strip().endswith("of 6400"), out
    print("Debian:", out.strip())


def test_aclexec_reaps_only_its_own_child(runner, tables):
    allow, deny = tables("ALL: ALL: aclexec /bin/sleep 0.3\n", "")
    rc, out, *_ = runner.run("ours", "reap", allow, deny)
    assert out == "verdict=1 waitpid=ok status=7\n", out
    rc, out, *_ = runner.run("debian", "reap", allow, deny)
    assert "waitpid=No child processes" in out, "Debian's wait() loop was expected to reap our child"


@pytest.mark.parametrize("status", [0, 3])
def test_aclexec_in_a_process_that_ignores_sigchld(runner, tables, status):
    # hosts.deny: "deny when the command succeeds". With SIGCHLD ignored the
    # kernel reaps the command, waitpid() fails, and Debian takes that for a
    # failure: the rule does not match and everyone is admitted (fail open).
    # Ours learns the status through a pipe.
    allow, deny = tables("", f"ALL: ALL: aclexec exit {status}\n")
    rc, out, *_ = runner.run("ours", "nochild", allow, deny)
    assert out == f"verdict={0 if status == 0 else 1}\n", out
    rc, out, *_ = runner.run("debian", "nochild", allow, deny)
    assert out == "verdict=1\n", f"Debian was expected to admit (fail open): {out}"


def test_spawn_leaves_other_children_alone(runner, tables):
    allow, deny = tables("ALL: ALL: spawn /bin/sleep 0.3\n", "")
    for lib in ("ours", "debian"):
        rc, out, *_ = runner.run(lib, "reap", allow, deny)
        assert out == "verdict=1 waitpid=ok status=7\n", (lib, out)


@pytest.mark.parametrize("table", ["allow", "deny"])
def test_failed_aclexec_makes_the_rule_not_match(runner, tables, table):
    rule = "ALL: ALL: aclexec exit 3\n"
    allow, deny = tables(rule if table == "allow" else "", rule if table == "deny" else "ALL: ALL\n")
    results = [runner.run(lib, "live", allow, deny) for lib in ("ours", "debian")]
    assert results[0][1] == results[1][1]
    assert results[0][3] == results[1][3] == ["6 aclexec returned 1"]


def test_percent_in_a_table_path_is_text(runner, tmp_path):
    odd = tmp_path / "x%s%s%s%n"
    odd.mkdir()
    allow = odd / "allow"
    allow.write_text("sshd: 192.0.2.7")        # no final newline: a warning names the file
    deny = tmp_path / "deny"
    deny.write_text("")
    rc, out, err, log, _ = runner.run("ours", "ctl", allow, deny)
    assert rc == 0 and out == "verdict=1\n"
    assert any(f"warning: {allow}, line 0: missing newline or line too long" in l for l in log), log


def test_null_strings_are_ignored_not_dereferenced(runner, tables):
    allow, deny = tables("sshd: 192.0.2.7\n", "ALL: ALL\n")
    rc, out, err, *_ = runner.run("ours", "nulls", allow, deny)
    assert rc == 0 and out == "verdict=1\n" and err == ""
    rc, *_ = runner.run("debian", "nulls", allow, deny)
    assert rc == -signal.SIGSEGV, f"Debian was expected to crash, got {rc}"


def test_file_list_that_names_itself(runner, tables, tmp_path):
    """Debian recurses until the stack overflows; ours stops at a depth of 16."""
    lst = tmp_path / "self.list"
    lst.write_text(f"10.0.0.9 {lst}\n")
    allow, deny = tables(f"ALL: {lst}\n", "ALL: ALL\n")
    rc, out, err, log, _ = runner.run("ours", "ctl", allow, deny)
    assert rc == 0 and out == "verdict=0\n" and err == ""
    assert any("nested too deep" in l for l in log), log
    rc, *_ = runner.run("debian", "ctl", allow, deny, timeout=20)
    assert rc is not None and rc < 0, f"Debian was expected to crash, got {rc}"


def test_many_stars_answer_at_once_instead_of_backtracking(runner, tables):
    """A wildcard pattern with 40 '*' that does not match (found by the
    differential fuzz target): Debian's match backtracks through every way
    of giving the name's characters to the stars (exponential: no answer in
    5 s); ours answers at once, and the same: the rule does not match."""
    allow, deny = tables("", "ALL: " + "*" * 40 + "x\n")
    rc, out, err, log, secs = runner.run("ours", "ctl", allow, deny)
    assert rc == 0 and out == "verdict=1\n" and err == "" and secs < 3, (rc, out, secs)
    rc, *_ = runner.run("debian", "ctl", allow, deny, timeout=5)
    assert rc is None, f"Debian was expected to hang, got {rc}"
    # with 3 stars, as the fuzz target allows, Debian answers, the same
    allow, deny = tables("", "ALL: ***x\n", name="three")
    for lib in ("ours", "debian"):
        rc, out, *_ = runner.run(lib, "ctl", allow, deny, timeout=20)
        assert rc == 0 and out == "verdict=1\n", (lib, rc, out)
