"""Connects to 127.0.0.1:PORT with IP options (hex): normally, or by hand with raw sockets."""
import os, socket, struct, sys, time

def csum(data):
    if len(data) % 2: data += b"\0"
    s = sum(struct.unpack(f"!{len(data)//2}H", data))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff

def packet(src, dst, sport, dport, seq, ack, flags, options=b""):
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0)
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp)) + tcp[18:]
    ihl = 5 + len(options) // 4
    ip = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, ihl * 4 + len(tcp), 1, 0, 64, 6, 0,
                     socket.inet_aton(src), socket.inet_aton(dst)) + options
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return ip + tcp

def raw_connect(port, options, src="127.0.0.2", sport=40001):
    """A handshake whose SYN carries `options` as received after its route was followed."""
    sniff = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800))
    sniff.bind(("lo", 0x0800))
    sniff.settimeout(10)
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    seq = 1000
    raw.sendto(packet(src, "127.0.0.1", sport, port, seq, 0, 0x02, options), ("127.0.0.1", 0))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        data = sniff.recv(65535)
        ihl = (data[0] & 15) * 4
        if data[9] != 6 or data[12:16] != socket.inet_aton("127.0.0.1"):
            continue
        s, d, theirs, ack, _, flags = struct.unpack("!HHIIBB", data[ihl:ihl + 14])
        if (s, d, flags & 0x12, ack) == (port, sport, 0x12, seq + 1):
            raw.sendto(packet(src, "127.0.0.1", sport, port, seq + 1, theirs + 1, 0x10),
                       ("127.0.0.1", 0))
            say("client: handshake done")
            return
    sys.exit("client: no SYN-ACK")

def say(line):
    # One write, so that the line never splits around the server's (both
    # processes write to one pipe; print() may write the text and its
    # newline apart).
    os.write(1, (line + "\n").encode())

port, mode, options = int(sys.argv[1]), sys.argv[2], bytes.fromhex(sys.argv[3])
if mode == "raw":
    raw_connect(port, options)
else:
    s = socket.socket()
    s.setsockopt(socket.IPPROTO_IP, socket.IP_OPTIONS, options)
    s.connect(("127.0.0.1", port))
    say("client: connected")
time.sleep(8)
