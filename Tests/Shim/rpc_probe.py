"""A raw ONC RPC NULL call: prints OK, or why not (RESET, EOF, NOREPLY, BAD...).

    python3 rpc_probe.py tcp|udp SRC DST PORT PROG VERS [TIMEOUT]
"""
import os
import socket
import struct
import sys


def main():
    proto, src, dst, port, prog, vers = sys.argv[1:7]
    timeout = float(sys.argv[7]) if len(sys.argv) > 7 else 2.0
    xid = int.from_bytes(os.urandom(4), "big")
    call = struct.pack(">IIIIIIIIII", xid, 0, 2, int(prog), int(vers), 0, 0, 0, 0, 0)
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    s = socket.socket(socket.AF_INET, kind)
    s.settimeout(timeout)
    s.bind((src, 0))
    try:
        if proto == "tcp":
            s.connect((dst, int(port)))
            s.sendall(struct.pack(">I", 0x80000000 | len(call)) + call)
            data = b""
            while len(data) < 4 + 24:
                c = s.recv(4096)
                if not c:
                    print("EOF" if not data else "SHORT")
                    return
                data += c
            data = data[4:]
        else:
            s.sendto(call, (dst, int(port)))
            data, _ = s.recvfrom(4096)
    except ConnectionResetError:
        print("RESET")
        return
    except ConnectionRefusedError:
        print("CONNREFUSED")
        return
    except socket.timeout:
        print("NOREPLY")
        return
    rxid, mtype, rstat, _vf, _vl, astat = struct.unpack(">IIIIII", data[:24])
    print("OK" if (rxid, mtype, rstat, astat) == (xid, 1, 0, 0) else f"BAD {rxid == xid} {mtype} {rstat} {astat}")


main()
