#!/usr/bin/env python3
"""Write tcpdmatch_corpus/: one directory per table pair (hosts.allow,
hosts.deny, queries), plus etc/ (the /etc overlay the queries run under:
hosts, nsswitch.conf, inetd.conf, netgroup, a client list file).

`queries` holds one tcpdmatch invocation per line (the arguments after
`tcpdmatch -d`). A case with a `.missing` marker has no table files at all.
Run it again after editing CASES; the output is committed.
"""

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent / "tcpdmatch_corpus"

ETC = {
    "hosts": "127.0.0.1\tlocalhost server.test\n"
             "127.0.0.2\tclient.test client\n"
             "127.0.0.3\tbad.test\n"
             "127.0.0.4\tother.example.org other\n"
             "127.0.0.5\tmulti.test\n"
             "127.0.0.6\tmulti.test\n"
             "10.1.2.3\tfar.test\n"
             "::1\tlocalhost ip6-localhost\n"
             "2001:db8::7\tsix.test\n",
    "nsswitch.conf": "passwd: files\ngroup: files\nshadow: files\nhosts: files\n"
                     "networks: files\nprotocols: files\nservices: files\nnetgroup: files\n",
    "inetd.conf": "telnet\tstream\ttcp\tnowait\troot\t/usr/sbin/tcpd\tin.telnetd\n"
                  "ftp\tstream\ttcp\tnowait\troot\t/usr/sbin/tcpd\tin.ftpd -l\n"
                  "finger\tstream\ttcp\tnowait\tnobody\t/usr/sbin/tcpd\tin.fingerd\n"
                  "daytime\tstream\ttcp\tnowait\troot\tinternal\n",
    "netgroup": "trusted (client.test,,) (other.example.org,-,)\n",
    "twint.clients": "127.0.0.2\n# comment\nbad.test\n",
}

# name: (hosts.allow, hosts.deny, [queries])
CASES = {
    "01-basic": (
        "ALL: 127.0.0.2\n",
        "ALL: ALL\n",
        ["sshd 127.0.0.2", "sshd 127.0.0.3", "in.telnetd 127.0.0.2", "in.telnetd 10.9.9.9"]),
    "02-except": (
        "ALL EXCEPT in.telnetd: 127.0.0. EXCEPT 127.0.0.5\n",
        "ALL: ALL\n",
        ["sshd 127.0.0.4", "sshd 127.0.0.5", "in.telnetd 127.0.0.4", "sshd 10.0.0.1",
         "in.ftpd 127.0.0.50"]),
    "03-local-known-unknown": (
        "sshd: LOCAL\nin.ftpd: KNOWN\nin.fingerd: UNKNOWN\n",
        "ALL: ALL\n",
        ["sshd localhost", "sshd client.test", "sshd client", "sshd 127.0.0.9",
         "in.ftpd client.test", "in.ftpd 127.0.0.9", "in.fingerd 127.0.0.9",
         "in.fingerd unknown", "in.fingerd client.test", "sshd paranoid",
         "in.ftpd unknown"]),
    "04-paranoid": (
        "ALL: PARANOID: deny\nsshd: ALL EXCEPT PARANOID\n",
        "in.ftpd: PARANOID\n",
        ["sshd paranoid", "sshd client.test", "sshd 127.0.0.2", "in.ftpd paranoid",
         "in.ftpd client.test"]),
    "05-netmask": (
        "sshd: 127.0.0.0/255.255.255.0\n"
        "in.ftpd: 10.1.0.0/255.255.0.0, 192.168.1.0/24\n"
        "in.telnetd: 172.16.0.0/12 EXCEPT 172.16.5.0/255.255.255.0\n"
        "in.fingerd: 10.0.0.0/255.0.0.300, 10.0.0.0/33, 1.2.3.4/255.255.0.0\n",
        "ALL: ALL\n",
        ["sshd 127.0.0.77", "sshd 127.0.1.1", "in.ftpd 10.1.200.3", "in.ftpd 10.2.0.1",
         "in.ftpd 192.168.1.99", "in.ftpd 192.168.2.1", "in.telnetd 172.20.1.1",
         "in.telnetd 172.16.5.9", "in.telnetd 172.32.0.1", "in.fingerd 10.0.0.1",
         "in.fingerd 1.2.9.9"]),
    "06-ipv6": (
        "sshd: [::1]\nin.ftpd: [fe80::]/10\nin.telnetd: [2001:db8::]/32 EXCEPT [2001:db8::7]\n"
        "in.fingerd: [::ffff:127.0.0.0]/104, [bad::address\n",
        "ALL: ALL\n",
        ["sshd ::1", "sshd ::2", "in.ftpd fe80::1", "in.ftpd fec0::1", "in.telnetd 2001:db8::5",
         "in.telnetd 2001:db8::7", "in.telnetd 2001:db9::5", "in.telnetd six.test",
         "in.fingerd ::ffff:127.0.0.2", "in.fingerd 127.0.0.2"]),
    "07-names": (
        "sshd: .test EXCEPT bad.test\nin.ftpd: client.test, other.example.org\n"
        "in.telnetd: .example.org\nin.fingerd: CLIENT.TEST\n",
        "ALL: ALL\n",
        ["sshd client.test", "sshd bad.test", "sshd other.example.org", "in.ftpd client.test",
         "in.ftpd other", "sshd 127.0.0.2", "sshd multi.test", "in.telnetd other.example.org",
         "in.fingerd client.test", "in.ftpd nosuchhost.invalid"]),
    "08-user-at-host": (
        "sshd: alice@127.0.0.2\nin.ftpd: KNOWN@ALL\nin.telnetd: UNKNOWN@ALL\n"
        "in.fingerd: root@.test, bob@client.test\n",
        "ALL: ALL\n",
        ["sshd alice@127.0.0.2", "sshd bob@127.0.0.2", "sshd 127.0.0.2", "in.ftpd alice@127.0.0.9",
         "in.ftpd 127.0.0.9", "in.telnetd 127.0.0.9", "in.telnetd carol@127.0.0.9",
         "in.fingerd root@client.test", "in.fingerd bob@client.test", "in.fingerd bob@bad.test"]),
    "09-daemon-at-host": (
        "sshd@127.0.0.1: ALL\nin.ftpd@server.test: 127.0.0.2\nin.telnetd@.test: ALL\n"
        "ALL@127.0.0.9: 127.0.0.3\n",
        "ALL: ALL\n",
        ["sshd@127.0.0.1 127.0.0.2", "sshd@127.0.0.9 127.0.0.2", "sshd 127.0.0.2",
         "in.ftpd@server.test 127.0.0.2", "in.ftpd@127.0.0.1 127.0.0.2", "in.ftpd 127.0.0.2",
         "in.telnetd@server.test 127.0.0.4", "in.fingerd@127.0.0.9 127.0.0.3"]),
    "10-options": (
        "sshd: 127.0.0.2: spawn /bin/echo %a %A %c %d %h %H %n %N %s %u %%: allow\n"
        "in.ftpd: 127.0.0.2: twist /bin/echo denied %a\n"
        "in.telnetd: ALL: severity auth.warning: deny\n"
        "sshd: ALL: setenv FOO bar baz: rfc931 5: nice 5: keepalive: linger 10: umask 022: "
        "banners /nonexistent: severity local0.info: allow\n",
        "ALL: ALL: spawn (/bin/echo refused %a %d) &\n",
        ["sshd 127.0.0.2", "in.ftpd 127.0.0.2", "in.telnetd 127.0.0.3", "sshd 127.0.0.3",
         "in.fingerd 127.0.0.3", "sshd alice@client.test"]),
    "11-bad-options": (
        "sshd: ALL: bogusopt\nin.ftpd: ALL: allow: deny\nin.telnetd: ALL: severity nosuch\n"
        "in.fingerd: ALL: twist\nrshd: ALL: umask 999\nrlogind: ALL: nice x\n"
        "rexecd: ALL: allow extra\nsmtpd: ALL: severity\nimapd: ALL: rfc931 -1\n"
        "ALL: ALL: spawn\n",
        "",
        ["sshd 127.0.0.2", "in.ftpd 127.0.0.2", "in.telnetd 127.0.0.2", "in.fingerd 127.0.0.2",
         "rshd 127.0.0.2", "rlogind 127.0.0.2", "rexecd 127.0.0.2", "smtpd 127.0.0.2",
         "imapd 127.0.0.2", "popd 127.0.0.2"]),
    "12-malformed": (
        "sshd 127.0.0.2\n: :\nin.ftpd:\n   \n# comment\nALL: 127.0.0.2 \\\n 127.0.0.3\n"
        "in.telnetd : : : :\nin.fingerd: 127.0.0.4 : \n" + "x" * 3000 + ": ALL\n",
        "ALL: ALL\nno colon here\n",
        ["sshd 127.0.0.2", "in.ftpd 127.0.0.3", "sshd 127.0.0.3", "in.telnetd 127.0.0.9",
         "in.fingerd 127.0.0.4", "other 127.0.0.9"]),
    "13-empty": ("", "", ["sshd 127.0.0.2", "in.ftpd unknown"]),
    "14-missing": (None, None, ["sshd 127.0.0.2", "in.ftpd paranoid"]),
    "15-wildcards": (
        "sshd: 127.0.0.*\nin.ftpd: cli?nt.test\nin.telnetd: *.test EXCEPT client.test\n"
        "in.fingerd: 10.*.2.?\n",
        "ALL: ALL\n",
        ["sshd 127.0.0.9", "sshd 127.0.1.9", "in.ftpd client.test", "in.ftpd cliant.test",
         "in.telnetd bad.test", "in.telnetd client.test", "in.fingerd 10.1.2.3",
         "in.fingerd 10.1.2.33"]),
    "16-file-lists": (
        "sshd: /etc/twint.clients\nin.ftpd: ALL EXCEPT /etc/twint.clients\n"
        "in.telnetd: /etc/nonexistent.list\n",
        "ALL: ALL\n",
        ["sshd 127.0.0.2", "sshd bad.test", "sshd 127.0.0.4", "in.ftpd 127.0.0.2",
         "in.ftpd 127.0.0.4", "in.telnetd 127.0.0.2"]),
    "17-netgroup": (
        "sshd: @trusted\nin.ftpd: @nosuchgroup\n",
        "ALL: ALL\n",
        ["sshd client.test", "sshd bad.test", "sshd 127.0.0.2", "in.ftpd client.test"]),
    "18-allow-wins": (
        "ALL: ALL\n",
        "ALL: 127.0.0.3\n",
        ["sshd 127.0.0.3", "sshd unknown", "sshd paranoid"]),
    "19-case-and-spacing": (
        "SSHD , IN.FTPD\t: 127.0.0.2\t,  CLIENT.TEST\nAll: LOCAL\n",
        "all : all\n",
        ["sshd 127.0.0.2", "in.ftpd client.test", "in.telnetd localhost", "in.telnetd bad.test"]),
    "20-nested-except": (
        "ALL EXCEPT sshd EXCEPT sshd: ALL EXCEPT 127.0.0.0/255.255.255.0 EXCEPT 127.0.0.2\n",
        "ALL: ALL\n",
        ["sshd 127.0.0.2", "sshd 127.0.0.3", "sshd 10.0.0.1", "in.ftpd 127.0.0.2",
         "in.ftpd 10.0.0.1"]),
    "21-deny-options": (
        "",
        "ALL: 127.0.0.3: twist /bin/echo go away %h\nALL: ALL: severity auth.crit: allow\n",
        ["sshd 127.0.0.3", "sshd 127.0.0.2", "in.ftpd paranoid"]),
    "22-inetd-services": (
        "in.telnetd, in.ftpd, in.fingerd, daytime, portmap, rpcbind: ALL\n",
        "",
        ["in.telnetd 127.0.0.2", "in.ftpd 127.0.0.2", "in.fingerd 127.0.0.2",
         "daytime 127.0.0.2", "portmap 127.0.0.2", "rpcbind 127.0.0.2"]),
}


def main():
    if ROOT.exists():
        shutil.rmtree(ROOT)
    (ROOT / "etc").mkdir(parents=True)
    for name, text in ETC.items():
        (ROOT / "etc" / name).write_text(text)
    for case, (allow, deny, queries) in CASES.items():
        d = ROOT / case
        d.mkdir()
        if allow is None:
            (d / ".missing").write_text("no hosts.allow / hosts.deny on purpose\n")
        else:
            (d / "hosts.allow").write_text(allow)
            (d / "hosts.deny").write_text(deny)
        (d / "queries").write_text("".join(q + "\n" for q in queries))
    print(f"{len(CASES)} table pairs, {sum(len(c[2]) for c in CASES.values())} queries")


if __name__ == "__main__":
    main()
