#!/usr/bin/env python3
"""Shared runner for the libwrap conformance kit (used by record.py and check.py).

The harness always runs inside `unshare -m -p -f` (private mount + pid
namespace; needs root):
  * a read-only overlay  lowerdir=CORPUS/etc:/etc  is mounted on /etc, so the
    corpus' hosts, nsswitch.conf (files only: no DNS/NIS), netgroup and the
    tables under /etc/tcpw/ are visible at fixed absolute paths, while the real
    /etc is untouched;
  * the harness is exec'ed as pid 1 of the new pid namespace, so "%p"
    expansions are deterministic ("1").
"""
import os
import subprocess
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.join(HERE, "build")
HARNESS_SRC = os.path.join(HERE, "harness.c")
# what the harness is compiled from: a change to any of them rebuilds it
HARNESS_SOURCES = [HARNESS_SRC, os.path.join(HERE, "..", "Common", "syslog_capture.h")]
HARNESS = os.path.join(BUILD, "harness")

FIELDS = ["verdict", "matched", "dry_run", "allow_severity", "deny_severity",
          "rfc931_timeout", "umask", "msgs"]

NS_SCRIPT = r'''
set -e
mount --make-rprivate /
mount -t overlay tcpw-corpus -o "lowerdir=$1/etc:/etc" /etc
if [ -n "$3" ]; then export LD_LIBRARY_PATH="$3"; else unset LD_LIBRARY_PATH; fi
# scripts/sanitize: the sanitizer's runtime, loaded ahead of our library only
if [ -n "$3" ] && [ -n "${TCPW_PRELOAD_FIRST:-}" ]; then export LD_PRELOAD="$TCPW_PRELOAD_FIRST"; fi
exec "$2"
'''


def build_harness(force=False):
    os.makedirs(BUILD, exist_ok=True)
    if (not force and os.path.exists(HARNESS)
            and os.path.getmtime(HARNESS) >= max(map(os.path.getmtime, HARNESS_SOURCES))):
        return HARNESS
    cmd = ["cc", "-O1", "-Wall", "-o", HARNESS, HARNESS_SRC, "-lwrap", "-rdynamic"]
    subprocess.run(cmd, check=True)
    return HARNESS


def read_cases(path):
    """Return list of raw case lines (without newline), skipping comments."""
    out = []
    with open(path, "rb") as f:
        for raw in f:
            line = raw.decode("latin-1").rstrip("\n")
            if not line or line.startswith("#"):
                continue
            out.append(line)
    return out


def case_id(line):
    return line.split("\t", 1)[0]


def _run_chunk(harness, corpus, lines, libdir, results, timeout):
    """Run a list of case lines; restart after crashes. Fills results[id]."""
    corpus = os.path.abspath(corpus)
    if "," in corpus or ":" in corpus:
        raise SystemExit("corpus path must not contain ',' or ':' (overlay lowerdir): " + corpus)
    pending = list(lines)
    while pending:
        env = dict(os.environ)
        env.pop("LD_LIBRARY_PATH", None)
        p = subprocess.Popen(["unshare", "-m", "-p", "-f", "--kill-child", "sh", "-c",
                              NS_SCRIPT, "sh", corpus, harness, libdir or ""],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=env)
        data = ("\n".join(pending) + "\n").encode("latin-1")
        try:
            out, err = p.communicate(data, timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            err += b"\n[timeout]"
        got = 0
        for raw in out.decode("latin-1").split("\n"):
            if not raw:
                continue
            cid = raw.split("\t", 1)[0]
            results[cid] = raw
            got += 1
        # outputs are in input order; find the first case without output
        rest = [l for l in pending if case_id(l) not in results]
        if not rest:
            break
        if len(rest) == len(pending) and got == 0 and p.returncode == 0:
            raise SystemExit("harness produced no output: " + err.decode("latin-1"))
        msg = err.decode("latin-1").strip().replace("\n", " / ")[-300:]
        if p.returncode == 3 and len(rest) < len(pending):
            # credential change detected after the last printed case
            last = pending[len(pending) - len(rest) - 1]
            results[case_id(last)] = "%s\tCRASH\t%s" % (case_id(last), msg)
            pending = rest
            continue
        # the first missing case crashed/hung the harness: record it and go on
        bad = rest[0]
        results[case_id(bad)] = "%s\tCRASH\trc=%s %s" % (case_id(bad), p.returncode, msg)
        pending = rest[1:]


def run_cases(lines, corpus, libdir=None, jobs=None, timeout=600):
    """Run case lines against the library in libdir (None = system libwrap).

    Returns dict id -> raw output line.
    """
    harness = build_harness()
    if jobs is None:
        jobs = min(8, os.cpu_count() or 1)
    jobs = max(1, min(jobs, len(lines) // 200 + 1))
    results = {}
    chunks = [lines[i::jobs] for i in range(jobs)]
    threads = []
    parts = [dict() for _ in chunks]
    for c, part in zip(chunks, parts):
        t = threading.Thread(target=_run_chunk,
                             args=(harness, corpus, c, libdir, part, timeout))
        t.start()
        threads.append(t)
    for t in threads:
        t.join()
    for part in parts:
        results.update(part)
    return results


def split_result(raw):
    """Split a harness output line into (id, dict of FIELDS)."""
    cols = raw.split("\t")
    cid = cols[0]
    if len(cols) >= 2 and cols[1] == "CRASH":
        d = {f: "CRASH" for f in FIELDS}
        d["msgs"] = "CRASH " + "\t".join(cols[2:])
        return cid, d
    vals = cols[1:] + [""] * (len(FIELDS) - len(cols[1:]))
    if len(cols[1:]) > len(FIELDS):     # cannot happen: msgs escape TABs
        vals = cols[1:len(FIELDS)] + ["\t".join(cols[len(FIELDS):])]
    return cid, dict(zip(FIELDS, vals))


def split_msgs(msgs):
    """Split the msgs field on unescaped ' | '."""
    if msgs == "-":
        return []
    out, cur, i = [], [], 0
    while i < len(msgs):
        if msgs[i] == "\\" and i + 1 < len(msgs):
            cur.append(msgs[i:i + 2])
            i += 2
        elif msgs.startswith(" | ", i):
            out.append("".join(cur))
            cur = []
            i += 3
        else:
            cur.append(msgs[i])
            i += 1
    out.append("".join(cur))
    return out


if __name__ == "__main__":
    # ad-hoc: tcpw_run.py CORPUS CASESFILE [LIBDIR]  -> prints results
    lines = read_cases(sys.argv[2])
    res = run_cases(lines, sys.argv[1], sys.argv[3] if len(sys.argv) > 3 else None)
    for l in lines:
        sys.stdout.write(res[case_id(l)] + "\n")
