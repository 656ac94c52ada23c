"""A table or /file list that is a directory, a symbolic link loop,
/dev/zero, a FIFO or unreadable, through both products.

libwrap.so.0: ours gives Debian's verdict and diagnostic wherever Debian
answers at all (Debian hangs on /dev/zero and FIFOs: there ours refuses
to read and says so); nothing on stdout/stderr; no descriptor left open.
The shim: the same verdicts through a real accept(), the diagnostic in its
log, a bounded answer, no descriptor leak, nothing on the daemon's
stdout/stderr. (Tests/Differences already shows a FIFO deny table, FIFO
and /dev/zero /file lists and a self-naming list on libwrap.so.0.)

The rules of the contract (Debian's library): a hosts.deny that cannot be
opened refuses everyone ("cannot open ...: %m"); a hosts.allow that cannot
be opened matches nobody; a /file list that cannot be opened matches
nothing ("open ...: %m"); a directory reads as an empty file, silently.
"""

from __future__ import annotations

import os
import time

import pytest

from conftest import ADMITTED, REFUSED, Server, decide

KINDS = ["directory", "symlink loop", "unreadable", "/dev/zero", "fifo"]
# Debian hangs reading these; ours refuses them.
HANGS_DEBIAN = {"/dev/zero", "fifo"}
DIAGNOSTIC = {"symlink loop": "Too many levels of symbolic links", "unreadable": "Permission denied",
              "/dev/zero": "not a regular file", "fifo": "not a regular file"}


def make(kind: str, d) -> str:
    if kind == "directory":
        (d / "adir").mkdir()
        return str(d / "adir")
    if kind == "symlink loop":
        os.symlink(d / "loop2", d / "loop1")
        os.symlink(d / "loop1", d / "loop2")
        return str(d / "loop1")
    if kind == "unreadable":
        (d / "secret").write_text("ALL: ALL\n")
        os.chmod(d / "secret", 0)
        return str(d / "secret")
    if kind == "fifo":
        os.mkfifo(d / "fifo")
        return str(d / "fifo")
    return "/dev/zero"


def write(d, name: str, text: str) -> str:
    (d / name).write_text(text)
    os.chmod(d / name, 0o644)
    return str(d / name)


def layouts(bad: str, d, client_rule: str) -> dict[str, tuple[str, str]]:
    """Where the bad file goes: (allow, deny) for each place."""
    return {
        "deny table": (write(d, "empty", ""), bad),
        "allow table": (bad, write(d, "denyall", "ALL: ALL\n")),
        "list in allow": (write(d, "allowlist", f"ALL: {bad}\n"), write(d, "denyall", "ALL: ALL\n")),
        "list in deny": (write(d, "empty", ""), write(d, "denylist", f"ALL: {bad} {client_rule}\n")),
    }


PLACES = ["deny table", "allow table", "list in allow", "list in deny"]


@pytest.mark.parametrize("place", PLACES)
@pytest.mark.parametrize("kind", KINDS)
def test_libwrap(cbin, workdir, kind, place):
    # "list in deny" also names the client after the bad list, so a list
    # that silently ended the rule would show as an admission.
    allow, deny = layouts(make(kind, workdir), workdir, "192.0.2.7")[place]
    ours = decide(cbin, "ours", allow, deny, user="nobody", tmp=workdir)
    assert ours.rc == 0 and ours.parsed, ours
    assert ours.err == "", "nothing may reach stderr"
    assert ours.leaked == 0, f"{ours.leaked} descriptors left open"
    assert ours.ms < 3000, f"{ours.ms} ms for one decision"
    if kind in HANGS_DEBIAN:
        # A deny table that cannot be read refuses; in the other places the
        # file matches nothing, and nothing else admits the client.
        assert ours.admitted == 0, ours
        assert any(DIAGNOSTIC[kind] in line for line in ours.log), ours.log
        debian = decide(cbin, "debian", allow, deny, user="nobody", tmp=workdir, timeout=3)
        assert debian.rc is None or debian.rc < 0, f"Debian was expected to hang: {debian}"
        return
    debian = decide(cbin, "debian", allow, deny, user="nobody", tmp=workdir)
    assert debian.parsed, debian
    assert (ours.admitted, ours.refused) == (debian.admitted, debian.refused), (ours, debian)
    assert ours.log == debian.log, "diagnostics differ"
    if kind in DIAGNOSTIC:
        assert any(DIAGNOSTIC[kind] in line for line in ours.log), ours.log
    if place == "deny table" and kind != "directory":
        assert ours.admitted == 0, "a hosts.deny that cannot be read must refuse"


@pytest.mark.parametrize("place", PLACES)
@pytest.mark.parametrize("kind", KINDS)
def test_shim(cbin, workdir, kind, place):
    bad = make(kind, workdir)
    allow, deny = layouts(bad, workdir, REFUSED)[place]
    log = workdir / "shim.log"
    log.touch()
    os.chmod(log, 0o666)
    server = Server(cbin, allow, deny, log, user="nobody")
    before = server.fds()
    t0 = time.monotonic()
    verdicts = {src: server.verdict(src) for src in (ADMITTED, REFUSED, ADMITTED)}
    seconds = time.monotonic() - t0
    assert seconds < 10, f"{seconds:.1f} s for three connections"
    text = log.read_text(errors="replace")
    if kind == "directory":
        # An empty table, silently, as in Debian: no rule, no diagnostic.
        want = {"deny table": "admitted", "allow table": "refused", "list in allow": "refused",
                "list in deny": None}[place]
        assert "cannot open" not in text and "open " + bad not in text, text
    else:
        want = "refused"
        assert DIAGNOSTIC[kind] in text, text
    if place == "list in deny":
        # The list matches nothing; the rule's next word (127.0.0.3) still does.
        assert verdicts[REFUSED] == "refused" and verdicts[ADMITTED] == "admitted", verdicts
    else:
        assert set(verdicts.values()) == {want}, verdicts
    assert server.fds(before) == before, "descriptors leaked"
    out, err = server.output()
    assert out == b"" and err == b"", (out, err)
