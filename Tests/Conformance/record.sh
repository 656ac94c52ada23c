#!/bin/sh
# Build the harness against Debian's libwrap and record the expected results.
# Usage: sudo ./record.sh [--verify] [--regen [--seed N --count K]]
cd "$(dirname "$0")" && exec python3 record.py "$@"
