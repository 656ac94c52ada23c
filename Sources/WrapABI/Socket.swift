// Socket.swift - endpoints and names from a socket (sock_host() & co.).
//
// Names are verified as libwrap does: the reverse name must not itself be
// numeric, must resolve forward to the same canonical name (localhost
// excepted), and the forward addresses must include the client's. A name
// that fails is replaced by "paranoid" (with a warning); a name that cannot
// be checked is kept (with a warning).

import CWrap
import CSystem
import WrapCore

/// Verified client names per address, for a process that serves many
/// clients (enabled by the shim at load; libwrap.so.0 alone looks a name up
/// for every request, as Debian's does). 4,096 addresses in use and 4,096
/// new ones; an answer is kept 30 seconds.
public final class NameCache: @unchecked Sendable {
    public static let shared = NameCache()
    let names = SharedCache<Bytes, Bytes>(capacity: 4096, ttl: 30)
    public private(set) var enabled = false

    /// Turns the cache on (once, at load, before any thread can ask).
    public func enable() { enabled = true }
}

enum Sock {
    static func sockaddrLength(_ sa: UnsafeMutableRawPointer) -> socklen_t {
        sa.load(as: sa_family_t.self) == sa_family_t(AF_INET)
            ? socklen_t(MemoryLayout<sockaddr_in>.size) : socklen_t(MemoryLayout<sockaddr_in6>.size)
    }

    /// sock_methods(): names and addresses from the socket addresses.
    /// (Referenced only in this file: a @_cdecl function used as a C pointer
    /// in another file gets a second definition in debug builds.)
    static func setMethods(_ r: RequestPtr) {
        r.pointee.hostname = c_sock_hostname
        r.pointee.hostaddr = c_sock_hostaddr
    }

    /// The shim's requests: the server's endpoint is read from the socket
    /// (getsockname) only when something asks for it, into the room the
    /// request was allocated with (`lazyRequestSize`).
    static func setLazyServerMethods(_ r: RequestPtr) {
        r.pointee.hostname = residentHostname
        r.pointee.hostaddr = residentHostaddr
    }

    typealias Method = @convention(c) (UnsafeMutablePointer<host_info>?) -> Void
    static func address(of method: Method) -> UnsafeRawPointer { unsafeBitCast(method, to: UnsafeRawPointer.self) }

    static let serverRoomOffset = (MemoryLayout<request_info>.stride + 15) & ~15
    public static let lazyRequestSize = serverRoomOffset + MemoryLayout<sockaddr_storage>.size

    /// The server's socket address, read now for a shim's request.
    static func serverAddress(_ r: RequestPtr) -> UnsafeMutablePointer<sockaddr_in>? {
        if r.pointee.server.sin == nil, r.pointee.fd >= 0, let m = r.pointee.hostaddr,
           address(of: m) == address(of: residentHostaddr) {
            let room = UnsafeMutableRawPointer(r) + serverRoomOffset
            var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let ok = room.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(r.pointee.fd, $0, &len) }
            if ok == 0 { r.pointee.server.sin = room.assumingMemoryBound(to: sockaddr_in.self) }
        }
        return r.pointee.server.sin
    }

    /// The address of an IPv4 endpoint whose text the socket method will
    /// write (the field is still empty): nil when that is not the case.
    static func pendingIPv4(_ h: HostPtr) -> UInt32? {
        guard Fields.addr(h)[0] == 0, let r = h.pointee.request, let m = r.pointee.hostaddr,
              let sin = h.pointee.sin else { return nil }
        let method = address(of: m)
        guard method == address(of: residentHostaddr) || method == address(of: c_sock_hostaddr) else { return nil }
        let sa = UnsafeRawPointer(sin)
        guard sa.load(as: sa_family_t.self) == sa_family_t(AF_INET) else { return nil }
        return sa.load(fromByteOffset: 4, as: UInt32.self)
    }

    /// sock_host(): the endpoints of request->fd.
    static func host(_ r: RequestPtr) {
        setMethods(r)
        let fd = r.pointee.fd
        let pair = cwrap_endpoint_pair()!
        let client = pair, server = pair + 1
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let got = client.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &len) }
        if got < 0 {
            r.pointee.sink = c_sock_sink
            len = socklen_t(MemoryLayout<sockaddr_storage>.size)
            var buf = [UInt8](repeating: 0, count: Int(BUFSIZ))
            let n = client.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                buf.withUnsafeMutableBytes {
                    cwrap_recvfrom_direct(fd, $0.baseAddress, UInt($0.count), Int32(MSG_PEEK | MSG_DONTWAIT), sa, &len)
                }
            }
            if n < 0 {
                Diag.warn("can't get client address: \(Diag.errnoText())")
                return
            }
        }
        r.pointee.client.sin = UnsafeMutableRawPointer(client).assumingMemoryBound(to: sockaddr_in.self)
        len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let ok = server.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        if ok < 0 {
            Diag.warn("getsockname: \(Diag.errnoText())")
            return
        }
        r.pointee.server.sin = UnsafeMutableRawPointer(server).assumingMemoryBound(to: sockaddr_in.self)
    }

    /// sock_hostaddr(): the numeric address.
    static func hostaddr(_ h: HostPtr) {
        guard let sin = h.pointee.sin else { return }
        let sa = UnsafeMutableRawPointer(sin)
        if sa.load(as: sa_family_t.self) == sa_family_t(AF_INET) {
            // What getnameinfo(NI_NUMERICHOST) writes for IPv4, without its
            // sprintf() (a fifth of a decision's time).
            formatIPv4(sa + 4, into: Fields.addr(h))
            return
        }
        _ = getnameinfo(sa.assumingMemoryBound(to: sockaddr.self), sockaddrLength(sa),
                        Fields.addr(h), socklen_t(stringLength), nil, 0, NI_NUMERICHOST)
    }

    /// Dotted decimal, NUL-terminated (at most 16 bytes).
    static func formatIPv4(_ address: UnsafeRawPointer, into out: UnsafeMutablePointer<CChar>) {
        var k = 0
        for i in 0..<4 {
            if i > 0 {
                out[k] = 0x2E
                k += 1
            }
            let b = address.load(fromByteOffset: i, as: UInt8.self)
            if b >= 100 {
                out[k] = CChar(0x30 + b / 100)
                k += 1
            }
            if b >= 10 {
                out[k] = CChar(0x30 + b / 10 % 10)
                k += 1
            }
            out[k] = CChar(0x30 + b % 10)
            k += 1
        }
        out[k] = 0
    }

    /// sock_hostname(): the verified host name, or "paranoid". An IPv4-mapped
    /// IPv6 client is looked up as the IPv4 address it is.
    static func hostname(_ h: HostPtr) {
        guard let sin = h.pointee.sin else { return }
        // In a daemon that serves many clients (the shim), a client's name
        // is looked up (reverse, then forward to verify) once per 30 seconds,
        // not once per connection: the answer, verified name or "paranoid",
        // is kept per address in a cache of fixed size.
        guard NameCache.shared.enabled, let key = Admitted.key(UnsafeRawPointer(sin), withPort: false) else {
            if cwrap_probe_state() != 0 { return probeMissed(h) }
            return lookUp(h, sin)
        }
        if let name = NameCache.shared.names.get(key) {
            storeCString(Fields.name(h), name)
            return
        }
        if cwrap_probe_state() != 0 { return probeMissed(h) }
        lookUp(h, sin)
        NameCache.shared.names.put(key, bytes(Fields.name(h)))
    }

    /// A probe asked for a name that is not known yet: no lookup, and the
    /// probe's answer is "it could wait".
    static func probeMissed(_ h: HostPtr) {
        cwrap_set_probe_state(2)
        strcpy(Fields.name(h), cwrap_unknown())
    }

    static func lookUp(_ h: HostPtr, _ sin: UnsafeMutablePointer<sockaddr_in>) {
        var v4 = sockaddr_in()
        let sa = UnsafeMutableRawPointer(sin)
        if sa.load(as: sa_family_t.self) == sa_family_t(AF_INET6) {
            let a = UnsafeRawBufferPointer(start: sa + 8, count: 16)
            if a[0..<10].allSatisfy({ $0 == 0 }) && a[10] == 0xFF && a[11] == 0xFF {
                v4.sin_family = sa_family_t(AF_INET)
                v4.sin_port = sa.load(fromByteOffset: 2, as: UInt16.self)
                withUnsafeMutableBytes(of: &v4.sin_addr) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: a[12..<16])) }
                return withUnsafeMutablePointer(to: &v4) { verify(h, UnsafeMutableRawPointer($0)) }
            }
        }
        verify(h, sa)
    }

    static func verify(_ h: HostPtr, _ sa: UnsafeMutableRawPointer) {
        let family = Int32(sa.load(as: sa_family_t.self))
        guard family == AF_INET || family == AF_INET6 else { return }
        let salen = sockaddrLength(sa)
        var hname = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        if getnameinfo(sa.assumingMemoryBound(to: sockaddr.self), salen, &hname, socklen_t(hname.count), nil, 0, NI_NAMEREQD) != 0 {
            return
        }
        let name = Fields.name(h)
        storeCString(name, hname)

        var hints = addrinfo()
        hints.ai_family = family
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_CANONNAME | AI_NUMERICHOST
        var res0: UnsafeMutablePointer<addrinfo>? = nil
        if getaddrinfo(name, nil, &hints, &res0) == 0 {
            freeaddrinfo(res0)
            Diag.warn("host name/name mismatch: reverse lookup results in non-FQDN \(latin1String(name))")
            strcpy(name, cwrap_paranoid())
            return
        }
        hints.ai_flags = AI_PASSIVE | AI_CANONNAME
        res0 = nil
        if getaddrinfo(name, nil, &hints, &res0) != 0 {
            Diag.warn("can't verify hostname: getaddrinfo(\(latin1String(name)), \(family == AF_INET ? "AF_INET" : "AF_INET6")) failed")
            strcpy(name, cwrap_paranoid())
            return
        }
        defer { freeaddrinfo(res0) }
        let canon = res0?.pointee.ai_canonname
        if (canon == nil || strcasecmp(name, canon!) != 0) && strcasecmp(name, "localhost") != 0 {
            Diag.warn("host name/name mismatch: \(latin1String(name)) != \(canon.map { bytes($0).textPrefix(stringLength) } ?? "")")
            strcpy(name, cwrap_paranoid())
            return
        }
        var res = res0
        while let ai = res {
            res = ai.pointee.ai_next
            guard ai.pointee.ai_family == family, let a = ai.pointee.ai_addr else { continue }
            let ra = UnsafeMutableRawPointer(a)
            if family == AF_INET {
                if memcmp(ra + 4, sa + 4, 4) == 0 { return }
            } else {
                let scopeA = ra.load(fromByteOffset: 24, as: UInt32.self)
                let scopeB = sa.load(fromByteOffset: 24, as: UInt32.self)
                if scopeA != scopeB { continue }
                if memcmp(ra + 8, sa + 8, 16) == 0 { return }
            }
        }
        var numeric = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        _ = getnameinfo(sa.assumingMemoryBound(to: sockaddr.self), salen, &numeric, socklen_t(numeric.count), nil, 0, NI_NUMERICHOST)
        Diag.warn("host name/address mismatch: \(latin1String(numeric)) != \(canon.map { bytes($0).textPrefix(stringLength) } ?? "")")
        strcpy(name, cwrap_paranoid())
    }
}

/// sock_methods(): a request's names and addresses from its socket
/// addresses (for the admin tools).
public func requestUseSocketMethods(_ r: UnsafeMutablePointer<request_info>) {
    Sock.setMethods(r)
}

@_cdecl("sock_host")
public func c_sock_host(_ r: UnsafeMutablePointer<request_info>?) {
    if let r { keepingErrno { Sock.host(r) } }
}

@_cdecl("sock_hostname")
public func c_sock_hostname(_ h: UnsafeMutablePointer<host_info>?) {
    if let h { keepingErrno { Sock.hostname(h) } }
}

@_cdecl("sock_hostaddr")
public func c_sock_hostaddr(_ h: UnsafeMutablePointer<host_info>?) {
    if let h { keepingErrno { Sock.hostaddr(h) } }
}

/// The shim's methods: sock_hostname() and sock_hostaddr(), the server's
/// endpoint read first if it has not been yet.
private func residentHostname(_ h: UnsafeMutablePointer<host_info>?) {
    guard let h else { return }
    keepingErrno {
        if let r = h.pointee.request, h == Fields.host(r, .server) { _ = Sock.serverAddress(r) }
        Sock.hostname(h)
    }
}

private func residentHostaddr(_ h: UnsafeMutablePointer<host_info>?) {
    guard let h else { return }
    keepingErrno {
        if let r = h.pointee.request, h == Fields.host(r, .server) { _ = Sock.serverAddress(r) }
        Sock.hostaddr(h)
    }
}

/// sock_sink(): reads and discards one datagram (so inetd does not loop).
@_cdecl("swrap_sock_sink")
func c_sock_sink(_ fd: Int32) {
    var buf = [UInt8](repeating: 0, count: Int(BUFSIZ))
    var ss = sockaddr_storage()
    var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
    _ = withUnsafeMutablePointer(to: &ss) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
            buf.withUnsafeMutableBytes { cwrap_recvfrom_direct(fd, $0.baseAddress, UInt($0.count), Int32(MSG_DONTWAIT), sa, &len) }
        }
    }
}
