"""Bad input: the same verdict and diagnostics as Debian (fail-closed where
Debian fails closed), no crash, and nothing on stdout/stderr but the probe's
own line."""
import os
import resource
import subprocess

import pytest

from conftest import DEBIAN_LIB, library_env, our_lib_dir

CASES = {
    "unopenable deny table": ("", None),
    "missing final newline in deny": ("", "sshd: 10.0.0.9\nALL: ALL"),
    "missing final newline in allow": ("sshd: 192.0.2.7", "ALL: ALL\n"),
    "overlong line": ("sshd: " + "a" * 3000 + " 192.0.2.7\nsshd: ALL\n", "ALL: ALL\n"),
    "overlong comment": ("#" + "c" * 5000 + "\nsshd: ALL\n", "ALL: ALL\n"),
    "NUL bytes": (b"sshd: 10.0.0.2\0junk\nsshd: 192.0.2.7\n", "ALL: ALL\n"),
    "binary garbage": (bytes(range(256)) * 40 + b"\n", "ALL: ALL\n"),
    "missing colon": ("sshd 192.0.2.7\n", "ALL: ALL\n"),
    "bad options": ("sshd: ALL: nosuch : allow\n", ""),
    "hostile option values": ("sshd: ALL: spawn echo %u %n %c; rm -rf / : severity mail.bogus\n", ""),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_tables_match_debian(name, runner, tables, tmp_path):
    allow_text, deny_text = CASES[name]
    allow, deny = tables(allow_text, deny_text if deny_text is not None else "")
    if deny_text is None:
        deny = tmp_path / "not-a-dir" / "deny"
        (tmp_path / "not-a-dir").write_text("a file, so the path fails with ENOTDIR\n")
    hostile = "evil;`id`$(reboot)|&<>'\"\\*?[x]{y}~!#^=.example"
    ours = runner.run("ours", "user", allow, deny, hostile)
    debian = runner.run("debian", "user", allow, deny, hostile)
    assert ours[0] == 0, f"our probe failed: {ours}"
    assert ours[1] == debian[1], "verdicts differ"
    assert ours[2] == "" and debian[2] == "", "nothing may reach stderr"
    assert ours[1].count("\n") == 1, "nothing but the probe's line on stdout"
    assert ours[3] == debian[3], "diagnostics differ"
    if "ALL: ALL" in str(deny_text) and "newline in deny" in name:
        assert ours[1] == "verdict=0\n"        # a broken hosts.deny fails closed


def test_hundred_megabyte_table(runner, tables, tmp_path):
    big = tmp_path / "big.deny"
    with open(big, "w") as f:
        i = 0
        while f.tell() < 100 * 1024 * 1024:
            f.write(f"daemon{i}: 10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256} .example{i}.com\n")
            i += 1
        f.write("sshd: 192.0.2.0/255.255.255.0\n")
    allow, _ = tables("", "")
    ours = runner.run("ours", "ctl", allow, big, timeout=60)
    debian = runner.run("debian", "ctl", allow, big, timeout=60)
    assert ours[0] == 0 and ours[1] == debian[1] == "verdict=0\n"
    assert ours[2] == "" and ours[3] == debian[3]
    big.write_text(big.read_text()[:-1])       # now the last line lacks its newline
    ours = runner.run("ours", "ctl", allow, big, timeout=60)
    debian = runner.run("debian", "ctl", allow, big, timeout=60)
    assert ours[1] == debian[1] == "verdict=0\n"
    assert ours[3] == debian[3] and any("all the subsequent rules will be ignored" in l for l in ours[3])


def test_huge_file_list_of_nul_bytes(runner, tables, tmp_path):
    """A 64 MB /file list of NUL bytes (one endless word): Debian's fscanf()
    overflows its buffer; ours reads it in blocks, cuts the word, no match."""
    zeros = tmp_path / "zeros.list"
    with open(zeros, "wb") as f:
        f.truncate(64 * 1024 * 1024)
    allow, deny = tables("", f"ALL: {zeros} 192.0.2.7\n")
    rc, out, err, log, secs = runner.run("ours", "ctl", allow, deny, timeout=60)
    assert rc == 0 and out == "verdict=0\n" and err == "" and log == []


def test_nul_inside_a_file_list_word(runner, tables, tmp_path):
    """libwrap sees each word of a /file list as a C string."""
    lst = tmp_path / "nul.list"
    lst.write_bytes(b"192.0.2.7\0junk other\n\0leading 10.0.0.1\n")
    allow, deny = tables(f"sshd: {lst}\n", "ALL: ALL\n")
    ours = runner.run("ours", "ctl", allow, deny)
    debian = runner.run("debian", "ctl", allow, deny)
    assert ours[1] == debian[1] == "verdict=1\n"
    assert ours[3] == debian[3]


def test_many_references_to_a_large_file_list(runner, tables, tmp_path):
    """A list over 8 MiB is read on each use and closed at once: 300 uses
    under a 64-descriptor limit give Debian's verdict (no EMFILE fail-open)."""
    big = tmp_path / "big.list"
    with open(big, "w") as f:
        f.write("192.0.2.7\n")
        i = 0
        while f.tell() < 9 * 1024 * 1024:
            f.write(f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}\n")
            i += 1
    allow, deny = tables("", f"ALL: nobody@{big}\n" * 300 + f"ALL: {big}\n")

    def limited():
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    for lib, path in (("ours", our_lib_dir()), ("debian", DEBIAN_LIB)):
        env = dict(os.environ, PROBE_LOG=str(tmp_path / f"log-{lib}"), **library_env(path))
        p = subprocess.run([str(runner.probe), "ctl", str(allow), str(deny)], env=env,
                           capture_output=True, text=True, timeout=120, preexec_fn=limited)
        assert p.stdout == "verdict=0\n", (lib, p.stdout, p.stderr)
