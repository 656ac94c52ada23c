"""Stress client: COUNT connections to 127.0.0.1:PORT, source addresses
alternating between the given ones; one line per connection on stdout:
"t0 t1 src outcome" (CLOCK_MONOTONIC seconds; outcome ok/refused/other:...).

    python3 stress_client.py PORT COUNT DEADLINE_SECONDS SRC [SRC...]
"""
import socket
import struct
import sys
import time

IP_BIND_ADDRESS_NO_PORT = 24
LINGER0 = struct.pack("ii", 1, 0)


def main():
    port, count, limit = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    srcs = sys.argv[4:]
    out = []
    deadline = time.monotonic() + limit
    mono = time.monotonic
    for i in range(count):
        if mono() > deadline:
            break
        src = srcs[i % len(srcs)]
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER0)
        s.settimeout(5)
        t0 = mono()
        data = b""
        try:
            s.bind((src, 0))
            s.connect(("127.0.0.1", port))
            while True:
                c = s.recv(256)
                if not c:
                    break
                data += c
            outcome = "ok" if data == f"ok {src}\n".encode() else ("refused" if not data else "other:" + data.decode(errors="replace").strip().replace(" ", "_"))
        except ConnectionRefusedError:
            outcome = "other:connection-refused"
        except (ConnectionResetError, BrokenPipeError):
            outcome = "refused" if not data else "other:reset-after-data"
        except OSError as e:
            outcome = "other:" + type(e).__name__ + str(e.errno)
        t1 = mono()
        s.close()
        out.append(f"{t0:.6f} {t1:.6f} {src} {outcome}")
    sys.stdout.write("\n".join(out) + "\n")


main()
