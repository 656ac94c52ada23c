"""ABI: exported symbols, SONAME/NEEDED, and a C client built against both
headers and run on both libraries."""

import difflib
import re
import subprocess
from pathlib import Path

import pytest

from conftest import (BASE_ETC, DEBIAN_HEADER_DIR, DEBIAN_LIB, HERE, OUR_HEADER_DIR,
                      compile_c, free_port, run, syslog_text, write_etc)


def dyn_symbols(path: Path) -> dict:
    """name -> (type, bind, size) of the defined GLOBAL/WEAK dynamic symbols."""
    out = subprocess.run(["readelf", "--dyn-syms", "-W", str(path)], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    syms = {}
    for line in out.splitlines():
        cols = line.split()
        if len(cols) < 8 or not cols[0].rstrip(":").isdigit():
            continue
        _num, _value, size, typ, bind, _vis, ndx, name = cols[:8]
        if ndx == "UND" or bind not in ("GLOBAL", "WEAK"):
            continue
        name = name.split("@")[0]
        size = int(size, 0) if not size.startswith("0x") else int(size, 16)
        syms[name] = (typ, bind, size)
    return syms


def dynamic_section(path: Path) -> str:
    return subprocess.run(["readelf", "-d", "-W", str(path)], capture_output=True, text=True,
                          timeout=60, check=True).stdout


def test_debian_exports_40_symbols():
    assert len(dyn_symbols(DEBIAN_LIB)) == 40


def test_same_exported_names(lib_dir):
    ours, deb = dyn_symbols(lib_dir / "libwrap.so.0"), dyn_symbols(DEBIAN_LIB)
    assert sorted(set(ours) - set(deb)) == [], "exported by us, not by Debian"
    assert sorted(set(deb) - set(ours)) == [], "exported by Debian, not by us"


def test_same_symbol_kinds_and_object_sizes(lib_dir):
    ours, deb = dyn_symbols(lib_dir / "libwrap.so.0"), dyn_symbols(DEBIAN_LIB)
    diffs = []
    for name in sorted(set(ours) & set(deb)):
        ot, ob, osz = ours[name]
        dt, db, dsz = deb[name]
        if ot != dt or ob != db:
            diffs.append(f"{name}: ours {ot}/{ob}, Debian {dt}/{db}")
        if dt == "OBJECT" and osz != dsz:
            diffs.append(f"{name}: object size ours {osz}, Debian {dsz}")
    assert diffs == []
    assert deb["allow_severity"][1] == "WEAK" and deb["deny_severity"][1] == "WEAK"


def test_soname_and_needed(lib_dir):
    dyn = dynamic_section(lib_dir / "libwrap.so.0")
    sonames = re.findall(r"\(SONAME\)\s+Library soname: \[(.*?)\]", dyn)
    assert sonames == ["libwrap.so.0"]
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.*?)\]", dyn)
    assert needed, dyn
    assert [n for n in needed if n.startswith("libswift") or "Foundation" in n
            or "dispatch" in n] == []


def test_our_library_loads_standalone(lib_dir):
    """Every NEEDED library resolves without any Swift runtime on the path."""
    p = subprocess.run(["ldd", str(lib_dir / "libwrap.so.0")], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    assert "not found" not in p.stdout, p.stdout
    assert "swift" not in p.stdout.lower(), p.stdout


# --------------------------------------------------------------------------
# the C client

TABLES = {
    "allow.basic": "in.ftpd: 127.0.0.2\nsshd: client.test\n",
    "deny.all": "ALL: ALL\n",
    "allow.empty": "",
    "deny.empty": "",
    "allow.names": "ALL: .test EXCEPT bad.test\nin.telnetd: LOCAL\n",
    "allow.except": "ALL EXCEPT sshd: ALL EXCEPT 127.0.0.3\n",
    "allow.user": "ALL: alice@ALL, KNOWN@127.0.0.1\nsshd: carol@[::1]\n",
    "allow.server": "in.ftpd@127.0.0.1: ALL\nsshd@server.test: ALL\n",
    "allow.options": "in.ftpd: ALL: severity auth.notice: spawn /bin/echo %a: deny\n"
                     "sshd: ALL: setenv X y: allow\nALL: ALL: banners /nonexistent\n",
    "allow.badopt": "in.ftpd: ALL: nosuchoption\nALL: ALL: twist\n",
    "allow.syntax": "in.ftpd 127.0.0.2\nsshd:\n: ALL\nALL: ALL: \n",
    "xgets.txt": "line one\nline \\\ntwo continued\n\n# comment\n"
                 "three very long line here 1234567890\nlast without newline",
}


@pytest.fixture(scope="module")
def probe(session_dir, lib_dir, verified_libs):
    """The probe built twice: our header + our library, Debian's + Debian's."""
    d = session_dir / "probe"
    d.mkdir()
    src = HERE / "api_probe.c"
    built = {
        "ours-header": compile_c(src, d / "probe_ours", OUR_HEADER_DIR, lib_dir),
        "debian-header": compile_c(src, d / "probe_debian", DEBIAN_HEADER_DIR, None),
    }
    tables = d / "tables"
    tables.mkdir()
    for name, text in TABLES.items():
        (tables / name).write_text(text)
    etc = write_etc(d / "etc", BASE_ETC)
    return built, tables, etc


def same_lines(ours, deb, what="output"):
    diff = "".join(difflib.unified_diff([l + "\n" for l in deb], [l + "\n" for l in ours],
                                        "debian", "ours", n=1))
    assert ours == deb, f"{what} differs (-debian +ours):\n{diff}"


def run_probe(probe, lib_dir, header, lib, port):
    built, tables, etc = probe
    r = run(lib, lib_dir, [str(built[header]), str(tables), str(port)], etc_dir=etc,
            timeout=60)
    assert r.rc == 0 and r.stdout.endswith("done\n"), r.describe()
    return r


def test_probe_compiles_cleanly_against_our_header(probe, session_dir, lib_dir):
    p = subprocess.run(["cc", "-std=gnu99", "-Wall", "-Wextra", "-Wno-unused-parameter",
                        "-Werror", "-fsyntax-only", "-I", str(OUR_HEADER_DIR),
                        str(HERE / "api_probe.c")], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr


def test_our_header_matches_debian_layout(session_dir):
    """sizeof/offsetof of the public structures and the RQ_*/AC_* constants."""
    src = session_dir / "layout.c"
    src.write_text(r"""
#include <stddef.h>
#include <stdio.h>
#include <tcpd.h>
#define O(t, f) printf(#t "." #f "=%zu\n", offsetof(struct t, f))
int main(void) {
  printf("host_info=%zu request_info=%zu tcpd_context=%zu\n", sizeof(struct host_info),
         sizeof(struct request_info), sizeof(struct tcpd_context));
  O(host_info, name); O(host_info, addr); O(host_info, sin); O(host_info, unit);
  O(host_info, request);
  O(request_info, fd); O(request_info, user); O(request_info, daemon); O(request_info, pid);
  O(request_info, client); O(request_info, server); O(request_info, sink);
  O(request_info, hostname); O(request_info, hostaddr); O(request_info, cleanup);
  O(request_info, config); O(tcpd_context, file); O(tcpd_context, line);
  printf("RQ %d %d %d %d %d %d %d %d %d\n", RQ_FILE, RQ_DAEMON, RQ_USER, RQ_CLIENT_NAME,
         RQ_CLIENT_ADDR, RQ_CLIENT_SIN, RQ_SERVER_NAME, RQ_SERVER_ADDR, RQ_SERVER_SIN);
  printf("AC %d %d %d STRING_LENGTH %d %s %s\n", AC_PERMIT, AC_DENY, AC_ERROR, STRING_LENGTH,
         STRING_UNKNOWN, STRING_PARANOID);
  return 0;
}
""")
    outs = {}
    for name, inc in (("ours", OUR_HEADER_DIR), ("debian", DEBIAN_HEADER_DIR)):
        for inet6 in ([], ["-DINET6"]):
            exe = session_dir / f"layout_{name}{len(inet6)}"
            subprocess.run(["cc", "-I", str(inc), *inet6, str(src), "-o", str(exe)], check=True,
                           timeout=120)
            outs[(name, bool(inet6))] = subprocess.run([str(exe)], capture_output=True,
                                                       text=True, timeout=20).stdout
    assert outs[("ours", False)] == outs[("debian", False)]
    assert outs[("ours", True)] == outs[("debian", True)]


def test_probe_source_compat(probe, lib_dir):
    """Our header + our library == Debian's header + Debian's library."""
    port = free_port()
    deb = run_probe(probe, lib_dir, "debian-header", "debian", port)
    ours = run_probe(probe, lib_dir, "ours-header", "ours", port)
    same_lines(ours.stdout.splitlines(), deb.stdout.splitlines())
    assert ours.stderr == deb.stderr


def test_probe_binary_compat(probe, lib_dir):
    """The binary built against Debian's header and library, run on ours."""
    port = free_port()
    deb = run_probe(probe, lib_dir, "debian-header", "debian", port)
    ours = run_probe(probe, lib_dir, "debian-header", "ours", port)
    same_lines(ours.stdout.splitlines(), deb.stdout.splitlines())
    assert ours.stderr == deb.stderr


def test_probe_syslog_messages(probe, lib_dir):
    """What the library logs through the real syslog while the probe runs
    (tcpd_warn/tcpd_jump, table errors...): same priorities and texts."""
    port = free_port()
    deb = run_probe(probe, lib_dir, "debian-header", "debian", port)
    ours = run_probe(probe, lib_dir, "debian-header", "ours", port)
    norm = lambda r: [syslog_text(m, keep_priority=True) for m in r.syslog]
    same_lines(norm(ours), norm(deb), "syslog")
