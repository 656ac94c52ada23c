// Request.swift - struct request_info and struct host_info from Swift.
//
// The structures belong to the caller (Debian's layout, see Include/tcpd.h);
// these helpers read and write their fixed-size string fields as C strings,
// and implement libwrap's eval_*() caching rules: an empty field has not been
// looked up yet, "unknown" could not be, and a lookup happens at most once.

import CWrap
import CSystem
import WrapCore

typealias RequestPtr = UnsafeMutablePointer<request_info>
typealias HostPtr = UnsafeMutablePointer<host_info>

let stringLength = Int(STRING_LENGTH)

enum Fields {
    static func user(_ r: RequestPtr) -> UnsafeMutablePointer<CChar> { cwrap_request_user(r) }
    static func daemon(_ r: RequestPtr) -> UnsafeMutablePointer<CChar> { cwrap_request_daemon(r) }
    static func pid(_ r: RequestPtr) -> UnsafeMutablePointer<CChar> { cwrap_request_pid(r) }

    static func host(_ r: RequestPtr, _ side: Side) -> HostPtr {
        side == .client ? cwrap_request_client(r) : cwrap_request_server(r)
    }
    static func name(_ h: HostPtr) -> UnsafeMutablePointer<CChar> { cwrap_host_name(h) }
    static func addr(_ h: HostPtr) -> UnsafeMutablePointer<CChar> { cwrap_host_addr(h) }
}

/// STRN_CPY(): copies at most size-1 bytes and always terminates.
func storeCString(_ dst: UnsafeMutablePointer<CChar>, _ src: Bytes, size: Int = stringLength) {
    let n = min(src.count, size - 1)
    src.withUnsafeBufferPointer { p in
        p.baseAddress.map { UnsafeMutableRawPointer(dst).copyMemory(from: $0, byteCount: n) }
    }
    dst[n] = 0
}

func storeCString(_ dst: UnsafeMutablePointer<CChar>, _ src: UnsafePointer<CChar>, size: Int = stringLength) {
    var n = 0
    while n < size - 1 && src[n] != 0 { dst[n] = src[n]; n += 1 }
    dst[n] = 0
}

func bytes(_ p: UnsafePointer<CChar>) -> Bytes {
    Bytes(UnsafeRawBufferPointer(start: p, count: strlen(p)))
}

func bytes(_ p: UnsafePointer<CChar>, limit: Int) -> Bytes {
    var n = 0
    while n < limit && p[n] != 0 { n += 1 }
    return Bytes(UnsafeRawBufferPointer(start: p, count: n))
}

/// True when the C string `p` holds exactly the bytes `b`.
func equalsCString(_ b: Bytes, _ p: UnsafePointer<CChar>) -> Bool {
    for i in 0..<b.count where UInt8(bitPattern: p[i]) != b[i] || p[i] == 0 { return false }
    return p[b.count] == 0
}

/// Calls `body` with a NUL-terminated copy of `b`.
func withCString<T>(_ b: Bytes, _ body: (UnsafeMutablePointer<CChar>) -> T) -> T {
    var z = b
    z.append(0)
    return z.withUnsafeMutableBufferPointer { p in
        p.baseAddress!.withMemoryRebound(to: CChar.self, capacity: p.count) { body($0) }
    }
}

enum Eval {
    /// eval_user(): the client user, by RFC 931 lookup when both endpoints are known.
    static func user(_ r: RequestPtr) -> UnsafeMutablePointer<CChar> {
        let user = Fields.user(r)
        if user[0] == 0 {
            strcpy(user, cwrap_unknown())
            if r.pointee.sink == nil, let c = r.pointee.client.sin, let s = Sock.serverAddress(r) {
                if cwrap_probe_state() != 0 {
                    cwrap_set_probe_state(2)
                    user[0] = 0   // asked again by the decision itself
                    return cwrap_unknown()
                }
                Ident.lookup(client: UnsafeMutableRawPointer(c), server: UnsafeMutableRawPointer(s), into: user)
            }
        }
        return user
    }

    /// eval_hostname(): the host name, by the request's hostname method.
    static func hostname(_ h: HostPtr) -> UnsafeMutablePointer<CChar> {
        let name = Fields.name(h)
        if name[0] == 0 {
            strcpy(name, cwrap_unknown())
            if let r = h.pointee.request, let method = r.pointee.hostname { method(h) }
        }
        return name
    }

    /// eval_hostaddr(): the host address, by the request's hostaddr method.
    static func hostaddr(_ h: HostPtr) -> UnsafeMutablePointer<CChar> {
        let addr = Fields.addr(h)
        if addr[0] == 0 {
            strcpy(addr, cwrap_unknown())
            if let r = h.pointee.request, let method = r.pointee.hostaddr { method(h) }
        }
        return addr
    }

    /// eval_hostinfo(): the name if one is already known (given, or looked up
    /// for a pattern), else the address. It never starts a name lookup itself.
    static func hostinfo(_ h: HostPtr) -> UnsafeMutablePointer<CChar> {
        if Fields.name(h)[0] == 0 { return hostaddr(h) }  // no implicit name lookups
        let name = hostname(h)
        if strcasecmp(name, cwrap_unknown()) != 0 && strcasecmp(name, cwrap_paranoid()) != 0 {
            return name
        }
        return hostaddr(h)
    }

    /// eval_client(): user@host when the user is known, else the host.
    static func client(_ r: RequestPtr) -> UnsafeMutablePointer<CChar> {
        let info = hostinfo(Fields.host(r, .client))
        if Fields.user(r)[0] == 0 { return info }
        let u = user(r)
        if strcasecmp(u, cwrap_unknown()) == 0 { return info }
        let out = cwrap_client_buffer()!
        storeCString(out, bytes(u) + [UInt8(ascii: "@")] + bytes(info), size: 2 * stringLength)
        return out
    }

    /// eval_server(): daemon@host when the host is known, else the daemon.
    static func server(_ r: RequestPtr) -> UnsafeMutablePointer<CChar> {
        let host = hostinfo(Fields.host(r, .server))
        let daemon = Fields.daemon(r)
        if strcasecmp(host, cwrap_unknown()) == 0 { return daemon }
        let out = cwrap_server_buffer()!
        storeCString(out, bytes(daemon) + [UInt8(ascii: "@")] + bytes(host), size: 2 * stringLength)
        return out
    }

    /// eval_port(): the port of an endpoint, "0" without one.
    static func port(_ sa: UnsafeMutableRawPointer?) -> UnsafeMutablePointer<CChar> {
        let out = cwrap_port_buffer()!
        var text = "0"
        if let sa {
            let family = sa.load(as: sa_family_t.self)
            if family == sa_family_t(AF_INET) || family == sa_family_t(AF_INET6) {
                // sin_port and sin6_port share offset 2.
                text = String(UInt16(bigEndian: sa.load(fromByteOffset: 2, as: UInt16.self)))
            }
        }
        storeCString(out, Array(text.utf8), size: 16)
        return out
    }

    /// The value of a %-letter (percent_x()).
    static func percent(_ r: RequestPtr, _ letter: UInt8) -> UnsafeMutablePointer<CChar>? {
        switch letter {
        case UInt8(ascii: "a"): return hostaddr(Fields.host(r, .client))
        case UInt8(ascii: "A"): return hostaddr(Fields.host(r, .server))
        case UInt8(ascii: "c"): return client(r)
        case UInt8(ascii: "d"): return Fields.daemon(r)
        case UInt8(ascii: "h"): return hostinfo(Fields.host(r, .client))
        case UInt8(ascii: "H"): return hostinfo(Fields.host(r, .server))
        case UInt8(ascii: "n"): return hostname(Fields.host(r, .client))
        case UInt8(ascii: "N"): return hostname(Fields.host(r, .server))
        case UInt8(ascii: "p"): return Fields.pid(r)
        case UInt8(ascii: "r"): return port(r.pointee.client.sin.map { UnsafeMutableRawPointer($0) })
        case UInt8(ascii: "R"): return port(Sock.serverAddress(r).map { UnsafeMutableRawPointer($0) })
        case UInt8(ascii: "s"): return server(r)
        case UInt8(ascii: "u"): return user(r)
        default: return nil
        }
    }

    /// percent_x() over a request: expands, and (as libwrap does) leaves the
    /// sanitized value in the request field it came from.
    static func expand(_ r: RequestPtr, _ pattern: Bytes, limit: Int) -> Bytes? {
        Percent.expand(pattern, limit: limit, value: { letter in
            guard let p = percent(r, letter) else { return [] }
            let raw = bytes(p)
            let clean = Percent.sanitize(raw)
            if clean != raw { _ = clean.withUnsafeBufferPointer { memcpy(p, $0.baseAddress!, clean.count) } }
            return raw
        }, warn: { Diag.warn($0) })
    }
}
