// Ident.swift - rfc931(): the client's user name from its ident server.
//
// One TCP connection from the server's address to the client's port 113,
// "client-port , server-port" out, "ports : USERID : os : user" back. The
// whole exchange is bounded by rfc931_timeout seconds (libwrap uses alarm();
// we use non-blocking I/O and poll(), which leaves the process's signals alone).

import CWrap
import CSystem
import WrapCore

enum Ident {
    static func lookup(client: UnsafeMutableRawPointer, server: UnsafeMutableRawPointer, into user: UnsafeMutablePointer<CChar>) {
        let family = client.load(as: sa_family_t.self)
        guard family == server.load(as: sa_family_t.self),
              family == sa_family_t(AF_INET) || family == sa_family_t(AF_INET6) else { return }
        let len = Sock.sockaddrLength(client)
        let clientPort = UInt16(bigEndian: client.load(fromByteOffset: 2, as: UInt16.self))
        let serverPort = UInt16(bigEndian: server.load(fromByteOffset: 2, as: UInt16.self))
        let perRequest = cwrap_request_rfc931_timeout()
        let deadline = monotonicSeconds() + Double(max(perRequest > 0 ? perRequest : cwrap_rfc931_timeout(), 1))

        let fd = socket(Int32(family), Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        if fd < 0 { Diag.warn("socket: \(Diag.errnoText())"); return }
        defer { close(fd) }

        var local = sockaddr_storage()
        var remote = sockaddr_storage()
        withUnsafeMutableBytes(of: &local) { $0.baseAddress!.copyMemory(from: server, byteCount: Int(len)) }
        withUnsafeMutableBytes(of: &remote) { $0.baseAddress!.copyMemory(from: client, byteCount: Int(len)) }
        withUnsafeMutableBytes(of: &local) { $0.storeBytes(of: UInt16(0).bigEndian, toByteOffset: 2, as: UInt16.self) }
        withUnsafeMutableBytes(of: &remote) { $0.storeBytes(of: UInt16(113).bigEndian, toByteOffset: 2, as: UInt16.self) }
        let bound = withUnsafePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        if bound < 0 { return }
        let rc = withUnsafePointer(to: &remote) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, len) } }
        if rc < 0 && errno != EINPROGRESS { return }
        guard wait(fd, Int16(POLLOUT), deadline) else { return }
        var soerr: Int32 = 0
        var slen = socklen_t(4)
        if getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &slen) < 0 || soerr != 0 { return }

        let query = Array("\(clientPort),\(serverPort)\r\n".utf8)
        var sent = 0
        while sent < query.count {
            guard wait(fd, Int16(POLLOUT), deadline) else { return }
            let n = query[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n > 0 { sent += n } else if n < 0 && (errno == EINTR || errno == EAGAIN) { continue } else { return }
        }
        var reply: [UInt8] = []
        while reply.count < 512 && !reply.contains(UInt8(ascii: "\n")) {
            guard wait(fd, Int16(POLLIN), deadline) else { return }
            var buf = [UInt8](repeating: 0, count: 512)
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { reply += buf[0..<n] } else if n < 0 && (errno == EINTR || errno == EAGAIN) { continue } else { break }
        }
        if let name = parse(reply, clientPort, serverPort) { storeCString(user, name) }
    }

    /// "%u , %u : USERID :%*[^:]:%255s" with the ports we asked about.
    static func parse(_ reply: [UInt8], _ cport: UInt16, _ sport: UInt16) -> [UInt8]? {
        var line = reply
        if let nl = line.firstIndex(of: UInt8(ascii: "\n")) { line = Array(line[..<nl]) }
        if line.last == 13 { line.removeLast() }
        let parts = line.split(separator: UInt8(ascii: ":"), maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        let ports = parts[0].split(separator: UInt8(ascii: ","))
        guard ports.count == 2, number(ports[0]) == Int(cport), number(ports[1]) == Int(sport) else { return nil }
        guard trimmingSpaces(parts[1]).elementsEqual(Bytes(ascii: "USERID")) else { return nil }
        let user = parts[3].drop(while: { $0 == 0x20 || $0 == 0x09 }).prefix(while: { $0 > 0x20 })
        return user.isEmpty ? nil : Array(user.prefix(255))
    }

    static func wait(_ fd: Int32, _ events: Int16, _ deadline: Double) -> Bool {
        while true {
            let left = deadline - monotonicSeconds()
            if left <= 0 { return false }
            var p = pollfd(fd: fd, events: events, revents: 0)
            let n = poll(&p, 1, Int32(min(left * 1000, 60_000)) + 1)
            if n > 0 { return true }
            if n < 0 && errno != EINTR { return false }
        }
    }
}

extension Ident {
    /// Without leading and trailing blanks.
    static func trimmingSpaces(_ s: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var s = s
        while s.first == 0x20 || s.first == 0x09 { s.removeFirst() }
        while s.last == 0x20 || s.last == 0x09 { s.removeLast() }
        return s
    }

    /// Int(text): an optional sign and decimal digits, nothing else.
    static func number(_ s: ArraySlice<UInt8>) -> Int? {
        var t = trimmingSpaces(s)
        var negative = false
        if t.first == UInt8(ascii: "+") || t.first == UInt8(ascii: "-") {
            negative = t.first == UInt8(ascii: "-")
            t.removeFirst()
        }
        if t.isEmpty || t.count > 18 { return nil }
        var v = 0
        for c in t {
            guard c >= 0x30 && c <= 0x39 else { return nil }
            v = v * 10 + Int(c - 0x30)
        }
        return negative ? -v : v
    }
}

@_cdecl("rfc931")
public func c_rfc931(_ client: UnsafeMutableRawPointer?, _ server: UnsafeMutableRawPointer?, _ dest: UnsafeMutablePointer<CChar>?) {
    guard let dest else { return }
    let saved = errno
    strcpy(dest, cwrap_unknown())
    if let client, let server { Ident.lookup(client: client, server: server, into: dest) }
    errno = saved
}
