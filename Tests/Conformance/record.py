#!/usr/bin/env python3
"""Record Debian's results for the committed corpus.

    sudo python3 record.py [--corpus DIR] [--regen] [--seed N --count K] [--verify]

--regen        regenerate the corpus with gen.py first (default seed 20240601,
               count 7000) -- this replaces corpus/etc and corpus/cases*.tsv
--verify       record twice and fail if the two recordings differ
Writes DIR/expected.tsv (for cases.tsv) and DIR/expected_sin.tsv (for
cases_sin.tsv). Always runs against the SYSTEM libwrap (LD_LIBRARY_PATH unset),
i.e. Debian's /lib/x86_64-linux-gnu/libwrap.so.0.
"""
import argparse
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tcpw_run  # noqa: E402
import gen       # noqa: E402

PAIRS = [("cases.tsv", "expected.tsv"), ("cases_sin.tsv", "expected_sin.tsv")]


def record(corpus):
    out = {}
    for cases, expected in PAIRS:
        lines = tcpw_run.read_cases(os.path.join(corpus, cases))
        res = tcpw_run.run_cases(lines, corpus, libdir=None)
        out[expected] = "".join(res[tcpw_run.case_id(l)] + "\n" for l in lines)
        bad = [l for l in out[expected].splitlines() if "\tCRASH\t" in l]
        if bad:
            sys.exit("Debian's library crashed on: " + "; ".join(bad[:5]))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default=os.path.join(tcpw_run.HERE, "corpus"))
    ap.add_argument("--regen", action="store_true")
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--count", type=int, default=7000)
    ap.add_argument("--verify", action="store_true")
    a = ap.parse_args()
    if a.regen:
        for sub in ("etc",):
            shutil.rmtree(os.path.join(a.corpus, sub), ignore_errors=True)
        os.makedirs(a.corpus, exist_ok=True)
        ns, nn = gen.generate(a.seed, a.count, a.corpus)
        print("generated %d + %d cases (seed %d)" % (ns, nn, a.seed))
    tcpw_run.build_harness(force=True)
    first = record(a.corpus)
    if a.verify:
        second = record(a.corpus)
        for k in first:
            if first[k] != second[k]:
                a1, b1 = first[k].splitlines(), second[k].splitlines()
                diff = [(x, y) for x, y in zip(a1, b1) if x != y]
                sys.exit("NON-DETERMINISTIC recording in %s: %d lines differ, e.g.\n%s\n%s"
                         % (k, len(diff), diff[0][0], diff[0][1]))
        print("verified: two recordings are identical")
    for k, v in first.items():
        with open(os.path.join(a.corpus, k), "w", encoding="latin-1") as f:
            f.write(v)
        print("wrote %s (%d cases)" % (os.path.join(a.corpus, k), v.count("\n")))


if __name__ == "__main__":
    main()
