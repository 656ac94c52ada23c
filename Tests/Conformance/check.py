#!/usr/bin/env python3
"""Check a libwrap implementation against Debian's recorded behaviour.

    sudo LIBWRAP_DIR=/path/to/dir/with/libwrap.so.0 python3 check.py [options]

Modes:
  (default)            run corpus/cases.tsv + corpus/cases_sin.tsv against the
                       library in $LIBWRAP_DIR (default: the system/Debian one)
                       and compare with corpus/expected*.tsv
  --live --seed S --count K
                       generate a fresh random corpus in a temp dir, run it
                       against BOTH Debian's library and $LIBWRAP_DIR, compare
Options:
  --verdict-only       compare only verdict + matched table:line
  --filter REGEX       only cases whose id matches REGEX
  --max-diffs N        print at most N per-case diffs (default 40; 0 = all)
  --jobs N             parallel harness processes (default min(8, cpus))
  --corpus DIR         corpus directory (default: ./corpus)
  --keep               (live) keep the temp corpus and print its path
The last line of output is always "N passed, M failed"; exit status 1 if M > 0.
"""
import argparse
import os
import re
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tcpw_run  # noqa: E402
from tcpw_run import FIELDS, split_result, split_msgs  # noqa: E402

CASE_COLS = ["id", "mode", "allow", "deny", "daemon", "user", "cname", "caddr", "cport",
             "sname", "saddr", "sport", "dry", "fork"]
PAIRS = [("cases.tsv", "expected.tsv"), ("cases_sin.tsv", "expected_sin.tsv")]


def describe_case(line):
    cols = line.split("\t")
    return " ".join("%s=%s" % (k, v) for k, v in zip(CASE_COLS[1:], cols[1:]) if v != "-")


def compare(case_lines, expected, actual, fields, out, max_diffs, shown):
    passed = failed = 0
    for line in case_lines:
        cid = tcpw_run.case_id(line)
        e = expected.get(cid)
        a = actual.get(cid)
        if e is None:
            out.write("SKIP %s: no expected result recorded\n" % cid)
            failed += 1
            continue
        _, ed = split_result(e)
        if a is None:
            ad = {f: "<no output>" for f in FIELDS}
        else:
            _, ad = split_result(a)
        bad = [f for f in fields if ed.get(f) != ad.get(f)]
        if not bad:
            passed += 1
            continue
        failed += 1
        if max_diffs and shown[0] >= max_diffs:
            continue
        shown[0] += 1
        out.write("FAIL %s  [%s]\n" % (cid, describe_case(line)))
        for f in bad:
            if f == "msgs":
                em, am = split_msgs(ed[f]), split_msgs(ad[f])
                out.write("  msgs differ:\n")
                i = 0
                while i < max(len(em), len(am)):
                    x = em[i] if i < len(em) else None
                    y = am[i] if i < len(am) else None
                    if x == y:
                        out.write("      %s\n" % x)
                    else:
                        if x is not None:
                            out.write("    - %s\n" % x)
                        if y is not None:
                            out.write("    + %s\n" % y)
                    i += 1
            else:
                out.write("  %-15s expected %-24s got %s\n" % (f + ":", ed.get(f), ad.get(f)))
    return passed, failed


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=os.path.join(tcpw_run.HERE, "corpus"))
    ap.add_argument("--verdict-only", action="store_true")
    ap.add_argument("--live", action="store_true")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--index-stress", action="store_true",
                    help="with --live: longer tables built to stress the client-address index")
    ap.add_argument("--filter", default=None)
    ap.add_argument("--max-diffs", type=int, default=40)
    ap.add_argument("--jobs", type=int, default=None)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()

    libdir = os.environ.get("LIBWRAP_DIR") or None
    if libdir:
        libdir = os.path.abspath(libdir)
        if not os.path.exists(os.path.join(libdir, "libwrap.so.0")):
            sys.stderr.write("warning: %s/libwrap.so.0 does not exist; the system "
                             "library will be used\n" % libdir)
    fields = ["verdict", "matched"] if a.verdict_only else FIELDS
    out = sys.stdout
    total_p = total_f = 0
    shown = [0]
    tmp = None
    try:
        if a.live:
            import gen
            seed = a.seed if a.seed is not None else int.from_bytes(os.urandom(3), "big")
            tmp = tempfile.mkdtemp(prefix="tcpw-live-")
            ns, nn = gen.generate(seed, a.count, tmp, index_stress=a.index_stress)
            out.write("live mode: seed %d, %d + %d cases in %s\n" % (seed, ns, nn, tmp))
            corpus = tmp
        else:
            corpus = a.corpus
        for cases, expected_name in PAIRS:
            cpath = os.path.join(corpus, cases)
            if not os.path.exists(cpath):
                continue
            lines = tcpw_run.read_cases(cpath)
            if a.filter:
                rx = re.compile(a.filter)
                lines = [l for l in lines if rx.search(tcpw_run.case_id(l))]
            if not lines:
                continue
            if a.live:
                exp = tcpw_run.run_cases(lines, corpus, None, a.jobs)
                with open(os.path.join(corpus, expected_name), "w", encoding="latin-1") as f:
                    for l in lines:
                        f.write(exp[tcpw_run.case_id(l)] + "\n")
            else:
                exp = {}
                with open(os.path.join(corpus, expected_name), encoding="latin-1") as f:
                    for raw in f:
                        raw = raw.rstrip("\n")
                        if raw:
                            exp[raw.split("\t", 1)[0]] = raw
            act = tcpw_run.run_cases(lines, corpus, libdir, a.jobs)
            p, f_ = compare(lines, exp, act, fields, out, a.max_diffs, shown)
            out.write("%s: %d passed, %d failed\n" % (cases, p, f_))
            total_p += p
            total_f += f_
        if a.max_diffs and total_f > shown[0]:
            out.write("(%d further failures not shown; use --max-diffs 0)\n"
                      % (total_f - shown[0]))
        if a.live and (a.keep or total_f):
            out.write("live corpus (with Debian's expected*.tsv) kept in %s "
                      "(re-run: check.py --corpus %s)\n" % (tmp, tmp))
    finally:
        if tmp and not (a.keep or total_f):
            shutil.rmtree(tmp, ignore_errors=True)
    out.write("%d passed, %d failed\n" % (total_p, total_f))
    out.flush()
    sys.exit(1 if total_f else 0)


if __name__ == "__main__":
    main()
