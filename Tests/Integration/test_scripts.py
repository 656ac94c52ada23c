"""The README's commands stay true: the demo shows an admitted and a refused
client, and scripts/install lays out a working library, shim and header."""
import os
import pathlib
import subprocess

REPO = pathlib.Path(__file__).resolve().parents[2]


def test_demo_admits_and_refuses():
    p = subprocess.run([str(REPO / "scripts" / "demo")], capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, DEMO_PORT="18611"))
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert out.count("from 127.0.0.1: admitted  -> HTTP/1.0 200 OK") == 3, out
    assert out.count("from 127.0.0.2: refused") == 2, out
    assert out.count("refused connect from 127.0.0.2") == 2, out
    assert "shim loaded: yes" in out


def test_install_into_destdir(tmp_path):
    p = subprocess.run([str(REPO / "scripts" / "install"), "--prefix", "/opt/tcpw"], capture_output=True,
                       text=True, timeout=600, env=dict(os.environ, DESTDIR=str(tmp_path)))
    assert p.returncode == 0, p.stderr
    root = tmp_path / "opt" / "tcpw"
    lib = root / "lib"
    assert (lib / "libwrap.so").resolve() == (lib / "libwrap.so.0").resolve()
    assert (lib / "libwrap_preload.so").is_file()
    assert os.access(root / "bin" / "tcpwrap", os.X_OK)
    assert (root / "include" / "tcpd.h").read_text() == (REPO / "Include" / "tcpd.h").read_text()
    # A program built against the installed header and library runs on it.
    prog = tmp_path / "prog.c"
    prog.write_text('#include <tcpd.h>\n#include <stdio.h>\n#include <syslog.h>\n'
                    'int allow_severity = LOG_INFO, deny_severity = LOG_WARNING;\n'
                    'int main(void) { hosts_allow_table = "/nonexistent/a"; hosts_deny_table = "/nonexistent/d";\n'
                    '  printf("%d\\n", hosts_ctl("sshd", "h", "192.0.2.1", "u")); return 0; }\n')
    subprocess.run(["cc", "-I", str(root / "include"), "-o", str(tmp_path / "prog"), str(prog),
                    f"-L{lib}", "-lwrap", f"-Wl,-rpath,{lib}"], check=True)
    run = subprocess.run([str(tmp_path / "prog")], capture_output=True, text=True, timeout=30)
    assert run.stdout == "1\n"
    maps = subprocess.run(["ldd", str(tmp_path / "prog")], capture_output=True, text=True).stdout
    assert str(lib / "libwrap.so.0") in maps


def test_install_lays_out_tools_manual_and_pkgconfig(tmp_path):
    p = subprocess.run([str(REPO / "scripts" / "install"), "--prefix", "/opt/tcpw"], capture_output=True,
                       text=True, timeout=600, env=dict(os.environ, DESTDIR=str(tmp_path)))
    assert p.returncode == 0, p.stderr
    root = tmp_path / "opt" / "tcpw"
    for tool in ("tcpd", "tcpdchk", "tcpdmatch", "try-from", "safe_finger"):
        assert os.access(root / "sbin" / tool, os.X_OK), tool
    # The tools run (no Swift runtime needed: only the C library).
    r = subprocess.run([str(root / "sbin" / "tcpdmatch"), "sshd", "192.0.2.1"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "access:" in r.stdout, r
    needed = subprocess.run(["readelf", "-d", str(root / "sbin" / "tcpdchk")], capture_output=True, text=True).stdout
    assert "libswift" not in needed and "libc.so.6" in needed, needed
    for section, page in (("1", "tcpwrap"), ("3", "hosts_access"), ("5", "hosts_access"), ("5", "hosts_options"),
                          ("8", "tcpd"), ("8", "tcpdchk"), ("8", "tcpdmatch"), ("8", "try-from"),
                          ("8", "safe_finger")):
        path = root / "share" / "man" / f"man{section}" / f"{page}.{section}"
        assert path.is_file(), path
        shown = subprocess.run(["man", "-l", "-Tutf8", str(path)], capture_output=True, text=True, timeout=30)
        assert shown.returncode == 0 and page.upper() in shown.stdout and not shown.stderr, (path, shown.stderr)
    pc = (root / "lib" / "pkgconfig" / "libwrap.pc").read_text()
    assert "prefix=/opt/tcpw\n" in pc and "Libs: -L${libdir} -lwrap" in pc and "Cflags: -I${includedir}" in pc
    dropin = (root / "share" / "doc" / "tcpwrappers-swift" / "examples" / "tcpwrap-dropin.conf").read_text()
    assert "LD_PRELOAD=/opt/tcpw/lib/libwrap_preload.so" in dropin and "/opt/tcpw/sbin/tcpdchk" in dropin
