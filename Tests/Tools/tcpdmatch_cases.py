"""tcpdmatch cases: Debian's tcpdmatch against ours, same tables, same arguments.

Each case is (hosts.allow text, hosts.deny text, argv). Both programs run in
a private mount namespace (unshare -m) with the tables bind-mounted over
/etc/hosts.allow and /etc/hosts.deny and a resolver that answers nothing
(nameserver 127.0.0.9), so that no name lookup waits; stdout and the exit
status must be equal.

    python3 Tests/Tools/tcpdmatch_cases.py --record   # re-record the corpus from Debian's tcpdmatch
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "tcpdmatch_corpus.json"
DEBIAN = "/usr/sbin/tcpdmatch"

DAEMON_ARGS = ["sshd", "in.ftpd", "sshd@127.0.0.1", "sshd@unknown", "/usr/sbin/sshd", "portmap", "in.ftpd@10.9.9.9",
               "sshd@::1", "sshd@localhost", "vsftpd"]
CLIENT_ARGS = ["127.0.0.1", "10.1.2.3", "bob@127.0.0.1", "unknown", "paranoid", "::1", "1.2.3", "localhost",
               "@10.0.0.1", "root@10.1.2.3", "192.168.7.7", "fe80::1", "0x7f.1", "vm", "1.2.3.4.5", "nosuch.invalid"]
DAEMON_LISTS = ["ALL", "sshd", "in.ftpd", "ALL EXCEPT sshd", "sshd@127.0.0.1", "sshd, in.ftpd", "vsftpd", "portmap",
                "sshd@10.9.9.9", "ALL EXCEPT in.ftpd, vsftpd"]
CLIENT_LISTS = ["ALL", "LOCAL", "KNOWN", "UNKNOWN", "PARANOID", "127.0.0.1", "10.0.0.0/255.0.0.0", "10.0.0.0/8", "10.",
                ".example.com", "localhost", "bob@ALL", "ALL EXCEPT 10.1.2.3", "[::1]", "[fe80::]/10", "192.168.",
                "ALL EXCEPT LOCAL", "root@10.1.2.3", "127.0.0.1 EXCEPT 127.0.0.1", "vm"]
OPTIONS = ["", ": deny", ": allow", ": twist /bin/echo x", ": spawn /bin/echo %h", ": severity auth.info", ": rfc931",
           ": banners /nonexistent", ": bogus", ": setenv X y", ": nice 5", ": umask 022", ": keepalive",
           ": linger 5", ": rfc931 3 : deny", ": severity local0.notice : allow", ": twist", ": allow : deny"]


def random_table(rng: random.Random) -> str:
    lines = []
    for _ in range(rng.randint(0, 5)):
        roll = rng.random()
        if roll < 0.05:
            lines.append(f"{rng.choice(DAEMON_LISTS)} {rng.choice(CLIENT_LISTS)}")         # no colon
        elif roll < 0.08:
            lines.append("# a comment")
        else:
            lines.append(f"{rng.choice(DAEMON_LISTS)}: {rng.choice(CLIENT_LISTS)} {rng.choice(OPTIONS)}".rstrip())
    text = "\n".join(lines)
    if lines and rng.random() < 0.9:
        text += "\n"                       # (else: no final newline)
    return text


def random_case(rng: random.Random) -> dict:
    args = [rng.choice(DAEMON_ARGS), rng.choice(CLIENT_ARGS)]
    if rng.random() < 0.05:
        args = args[:1]                    # usage error
    return {"allow": random_table(rng), "deny": random_table(rng) if rng.random() < 0.8 else "ALL: ALL\n", "args": args}


def run(program: str, case: dict, work: Path) -> dict:
    (work / "allow").write_text(case["allow"])
    (work / "deny").write_text(case["deny"])
    (work / "resolv.conf").write_text("nameserver 127.0.0.9\noptions timeout:1 attempts:1\n")
    script = (f"mount --bind {work}/allow /etc/hosts.allow && mount --bind {work}/deny /etc/hosts.deny && "
              f"mount --bind {work}/resolv.conf /etc/resolv.conf && cd {work} && exec \"$@\"")
    p = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", program, *case["args"]],
                       capture_output=True, timeout=30)
    return {"stdout": p.stdout.decode("latin-1"), "status": p.returncode}


def fixed_cases() -> list[dict]:
    """Hand-written cases: every argument form once, option lines, broken lines."""
    cases = []
    for d in DAEMON_ARGS:
        cases.append({"allow": "", "deny": "ALL: ALL\n", "args": [d, "127.0.0.1"]})
    for c in CLIENT_ARGS:
        cases.append({"allow": "sshd: 127.0.0.1 10. [::1] LOCAL\n", "deny": "ALL: ALL\n", "args": ["sshd", c]})
    for o in OPTIONS:
        cases.append({"allow": f"sshd: ALL {o}\n", "deny": "ALL: ALL\n", "args": ["sshd", "10.1.2.3"]})
    cases += [
        {"allow": "sshd 127.0.0.1\n", "deny": "ALL: ALL\n", "args": ["sshd", "127.0.0.1"]},
        {"allow": "sshd: 127.0.0.1", "deny": "ALL: ALL\n", "args": ["sshd", "127.0.0.1"]},
        {"allow": "", "deny": "ALL: ALL", "args": ["sshd", "127.0.0.1"]},
        {"allow": "", "deny": "", "args": ["-d", "sshd", "127.0.0.1"]},
        {"allow": "", "deny": "", "args": ["-x", "sshd", "127.0.0.1"]},
        {"allow": "", "deny": "", "args": ["sshd"]},
        {"allow": "", "deny": "", "args": ["-i", "/nonexistent", "sshd", "127.0.0.1"]},
        {"allow": "", "deny": "", "args": ["sshd", "127.0.0.1", "-d"]},
        {"allow": "ALL: .example.com\n", "deny": "ALL: ALL\n", "args": ["sshd", "www.example.com"]},
    ]
    return cases


def record() -> None:
    rng = random.Random(20261130)
    cases = fixed_cases() + [random_case(rng) for _ in range(300)]
    with tempfile.TemporaryDirectory() as d:
        for c in cases:
            c["debian"] = run(DEBIAN, c, Path(d))
    CORPUS.write_text(json.dumps(cases, indent=1) + "\n")
    print(f"recorded {len(cases)} cases from {DEBIAN} into {CORPUS}")


if __name__ == "__main__":
    if sys.argv[1:] == ["--record"]:
        record()
    else:
        print(__doc__)
