// Hooks.swift - accept(), accept4(), recvfrom(), recvmsg(), recvmmsg().
//
// Each hook calls the real function first and passes through anything that
// is not an IPv4/IPv6 peer (AF_UNIX, a connected datagram socket, a stream
// socket's recvfrom). A refused connection is reset and closed, a refused
// datagram dropped, and the next one taken if one is already waiting. If
// none is, the call fails as if the refused one had never arrived: EAGAIN
// (non-blocking sockets, and datagram receives), or ECONNABORTED for a
// blocking listener - never a wait, because daemons such as rpcbind poll
// several blocking sockets and call accept()/recvmsg() only on the one that
// is ready; waiting there would stop them serving all the others. errno is
// the caller's on every successful return.
//
// While the shim works (name lookups, ident, /file lists) its own calls pass
// straight through (a per-thread busy flag).

import CWrap
import CSystem
import WrapABI
import WrapCore

let storageSize = socklen_t(MemoryLayout<sockaddr_storage>.size)

enum Shim {
    static func isInet(_ sa: UnsafeRawPointer, _ len: socklen_t) -> Bool {
        guard len >= socklen_t(MemoryLayout<sa_family_t>.size) else { return false }
        let f = sa.load(as: sa_family_t.self)
        return f == sa_family_t(AF_INET) || f == sa_family_t(AF_INET6)
    }

    /// Copies a result address out as the kernel would: truncated to the
    /// caller's buffer, with the true length reported.
    static func copyOut(_ src: UnsafeRawPointer, _ len: socklen_t,
                        _ addr: UnsafeMutableRawPointer?, _ addrlen: UnsafeMutablePointer<socklen_t>?) {
        guard let addr, let addrlen else { return }
        let room = addrlen.pointee
        memcpy(addr, src, Int(min(room, len)))
        addrlen.pointee = len
    }

    /// Runs `body` with the hooks passing through on this thread.
    static func busy<T>(_ body: () -> T) -> T {
        cwrap_set_hook_busy(1)
        defer { cwrap_set_hook_busy(0) }
        return body()
    }

    /// The verdict on an accepted connection.
    static func admitConnection(_ fd: Int32, _ peer: inout sockaddr_storage) -> Access.Verdict {
        busy {
            var local = sockaddr_storage()
            var llen = storageSize
            let haveLocal = withUnsafeMutablePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &llen) }
            } == 0
            return Config.shared.daemon.withUnsafeBufferPointer { d in
                withUnsafeMutablePointer(to: &peer) { p in
                    withUnsafeMutablePointer(to: &local) { l in
                        Resident.decide(fd: fd, peer: UnsafeMutableRawPointer(p),
                                        local: haveLocal ? UnsafeMutableRawPointer(l) : nil,
                                        daemon: d.baseAddress!)
                    }
                }
            }
        }
    }

    /// Closes a refused connection with a reset, so the client learns at once.
    static func reset(_ fd: Int32) {
        var l = linger(l_onoff: 1, l_linger: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size))
        close(fd)
    }

    /// accept() and accept4(): the next admitted connection.
    static func accept(_ listener: Int32, _ addr: UnsafeMutablePointer<sockaddr>?,
                       _ addrlen: UnsafeMutablePointer<socklen_t>?,
                       _ real: (Int32, UnsafeMutablePointer<sockaddr>, UnsafeMutablePointer<socklen_t>) -> Int32) -> Int32 {
        let saved = errno
        var budget = Shim.RefusalBudget()
        while true {
            var peer = sockaddr_storage()
            var len = storageSize
            let fd = withUnsafeMutablePointer(to: &peer) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { real(listener, $0, &len) }
            }
            if fd < 0 { return fd }
            let inet = withUnsafePointer(to: &peer) { isInet(UnsafeRawPointer($0), len) }
            let verdict: Access.Verdict = inet ? admitConnection(fd, &peer) : .permit
            switch verdict {
            case .permit:
                if inet {
                    withUnsafePointer(to: &peer) {
                        Admitted.shared.admitStream(fd: fd, peer: UnsafeRawPointer($0), daemon: Config.shared.daemonBytes)
                    }
                }
                withUnsafePointer(to: &peer) { copyOut(UnsafeRawPointer($0), len, addr.map { UnsafeMutableRawPointer($0) }, addrlen) }
                errno = saved
                return fd
            case .deny:
                reset(fd)
            case .handedOff:
                close(fd)  // the twist command has its own copy
            }
            // Take the next one only if it is already there, and not forever:
            // a flood of refused clients must not keep this call from returning.
            // (accept() has no per-call "don't wait": if another process
            // sharing a blocking listener takes that connection first, this
            // call waits for the next one, as the daemon's own accept would.)
            if !budget.spend() || !pending(listener) {
                errno = isBlocking(listener) ? ECONNABORTED : EAGAIN
                return -1
            }
        }
    }

    /// How many refused connections or datagrams one call passes over, and
    /// for how long, before it gives up: enough that an edge-triggered loop
    /// (accept or read until EAGAIN) sees an admitted client queued behind a
    /// crowd of refused ones; bounded, so that a flood cannot hold the call.
    struct RefusalBudget {
        static let maxRefusals = 1024
        static let maxSeconds = 0.05
        var refusals = 0
        let start = monotonicSeconds()

        /// Counts a refusal; whether the call may try the next one.
        mutating func spend() -> Bool {
            refusals += 1
            if refusals >= RefusalBudget.maxRefusals { return false }
            return refusals < 16 || monotonicSeconds() - start < RefusalBudget.maxSeconds
        }
    }

    /// Whether another connection or datagram is waiting on `fd` right now.
    static func pending(_ fd: Int32) -> Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        while true {
            let n = poll(&p, 1, 0)
            if n >= 0 { return n > 0 && p.revents & Int16(POLLIN) != 0 }
            if errno != EINTR { return false }
        }
    }

    static func isBlocking(_ fd: Int32) -> Bool {
        csystem_get_flags(fd) & O_NONBLOCK == 0
    }

    /// After dropping a refused datagram: go on reading only if another
    /// waits, and only so many times in one call.
    static func nextDatagramOrAgain(_ fd: Int32, _ budget: inout RefusalBudget) -> Bool {
        if budget.spend() && pending(fd) { return true }
        errno = EAGAIN
        return false
    }
}

// MARK: - Datagrams

/// Verdicts per (source address, local address), kept for a second after
/// they were decided, so that a flood from one source costs a cache lookup,
/// not a rule evaluation. The cache has a fixed size (4,096 sources in use
/// and 4,096 new ones), and a flood of new (spoofed) sources cannot push out
/// the sources in use (see SegmentedCache).
final class DatagramVerdicts: @unchecked Sendable {
    static let shared = DatagramVerdicts()
    private let cache = SharedCache<Access.Verdict>(capacity: 4096, ttl: 1.0)

    init() {}

    func verdict(fd: Int32, source: UnsafeMutableRawPointer, destination: [UInt8]?) -> Access.Verdict {
        var local = sockaddr_storage()
        var llen = storageSize
        let haveLocal = withUnsafeMutablePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &llen) }
        } == 0
        if haveLocal, let destination {
            // A wildcard-bound socket: the datagram's own destination address
            // (IP_PKTINFO) is the server address for daemon@host patterns.
            withUnsafeMutableBytes(of: &local) { raw in
                let family = raw.load(as: sa_family_t.self)
                if family == sa_family_t(AF_INET) && destination.count == 4 {
                    raw.baseAddress!.advanced(by: 4).copyMemory(from: destination, byteCount: 4)
                } else if family == sa_family_t(AF_INET6) && destination.count == 16 {
                    raw.baseAddress!.advanced(by: 8).copyMemory(from: destination, byteCount: 16)
                }
            }
        }
        var key = Admitted.key(source, withPort: false) ?? []
        if haveLocal, let l = withUnsafePointer(to: &local, { Admitted.key(UnsafeRawPointer($0)) }) { key += [0] + l }
        if let hit = cache.get(key) { return hit }
        let v = Shim.busy {
            Config.shared.daemon.withUnsafeBufferPointer { d in
                withUnsafeMutablePointer(to: &local) { l in
                    Resident.decide(fd: -1, peer: source, local: haveLocal ? UnsafeMutableRawPointer(l) : nil,
                                    daemon: d.baseAddress!)
                }
            }
        }
        cache.put(key, v)   // stamped when decided: a slow decision is not stored expired
        return v
    }
}

extension Shim {
    /// Whether a datagram from `source` (as returned by the real call) may be
    /// delivered. Connected sockets (the daemon is the client) always may.
    static func admitDatagram(_ fd: Int32, _ source: UnsafeMutableRawPointer, _ len: socklen_t,
                              destination: [UInt8]? = nil) -> Bool {
        guard isInet(source, len), isUDP(fd) else { return true }
        var peer = sockaddr_storage()
        var plen = storageSize
        let connected = withUnsafeMutablePointer(to: &peer) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &plen) }
        } == 0
        if connected { return true }
        // An answer to a datagram the daemon itself sent from this socket.
        if ExpectedReplies.shared.isReply(fd, from: source) { return true }
        let ok = DatagramVerdicts.shared.verdict(fd: fd, source: source, destination: destination) == .permit
        if ok { Admitted.shared.admitDatagram(source: source, daemon: Config.shared.daemonBytes) }
        return ok
    }

    /// Only UDP (and UDP-Lite) datagram sockets are filtered: raw, ICMP
    /// "ping" and SCTP sockets carry no service requests of the kind
    /// hosts.allow speaks about.
    static func isUDP(_ fd: Int32) -> Bool {
        var value: Int32 = 0
        var size = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_TYPE, &value, &size) == 0, value == Int32(SOCK_DGRAM.rawValue) else { return false }
        size = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &value, &size) == 0 else { return false }
        return value == Int32(IPPROTO_UDP) || value == 136 /* IPPROTO_UDPLITE */
    }

    /// The destination address of a received datagram, from IP_PKTINFO or
    /// IPV6_PKTINFO control data if the daemon asked for it.
    static func packetDestination(_ msg: msghdr) -> [UInt8]? {
        guard let control = msg.msg_control, msg.msg_controllen >= 16 else { return nil }
        let total = Int(msg.msg_controllen)
        var offset = 0
        while offset + 16 <= total {
            let length = control.loadUnaligned(fromByteOffset: offset, as: Int.self)   // cmsg_len
            let level = control.loadUnaligned(fromByteOffset: offset + 8, as: Int32.self)
            let type = control.loadUnaligned(fromByteOffset: offset + 12, as: Int32.self)
            if length < 16 || offset + length > total { return nil }
            let data = control + offset + 16
            if level == Int32(IPPROTO_IP) && type == Int32(IP_PKTINFO) && length >= 16 + 12 {
                return Array(UnsafeRawBufferPointer(start: data + 8, count: 4))      // ipi_addr
            }
            if level == Int32(IPPROTO_IPV6) && type == 50 /* IPV6_PKTINFO */ && length >= 16 + 20 {
                return Array(UnsafeRawBufferPointer(start: data, count: 16))         // ipi6_addr
            }
            offset += (length + 7) & ~7
        }
        return nil
    }

    /// Throws away a datagram that was only peeked at.
    static func discardPeeked(_ fd: Int32, _ flags: Int32) {
        guard let real = Real.shared.recvfrom else { return }
        var byte: UInt8 = 0
        _ = real(fd, &byte, 1, (flags & ~Int32(MSG_PEEK)) | Int32(MSG_DONTWAIT), nil, nil)
    }
}

// MARK: - The hooks

@_cdecl("accept")
public func hook_accept(_ fd: Int32, _ addr: UnsafeMutablePointer<sockaddr>?, _ addrlen: UnsafeMutablePointer<socklen_t>?) -> Int32 {
    guard let real = Real.shared.accept else { errno = ENOSYS; return -1 }
    if cwrap_hook_busy() != 0 { return real(fd, addr, addrlen) }
    return Shim.accept(fd, addr, addrlen) { real($0, $1, $2) }
}

@_cdecl("accept4")
public func hook_accept4(_ fd: Int32, _ addr: UnsafeMutablePointer<sockaddr>?, _ addrlen: UnsafeMutablePointer<socklen_t>?, _ flags: Int32) -> Int32 {
    guard let real = Real.shared.accept4 else { errno = ENOSYS; return -1 }
    if cwrap_hook_busy() != 0 { return real(fd, addr, addrlen, flags) }
    return Shim.accept(fd, addr, addrlen) { real($0, $1, $2, flags) }
}

@_cdecl("recvfrom")
public func hook_recvfrom(_ fd: Int32, _ buf: UnsafeMutableRawPointer?, _ len: Int, _ flags: Int32,
                          _ addr: UnsafeMutablePointer<sockaddr>?, _ addrlen: UnsafeMutablePointer<socklen_t>?) -> Int {
    guard let real = Real.shared.recvfrom else { errno = ENOSYS; return -1 }
    if cwrap_hook_busy() != 0 || flags & Int32(MSG_ERRQUEUE) != 0 { return real(fd, buf, len, flags, addr, addrlen) }
    let saved = errno
    var callFlags = flags
    var budget = Shim.RefusalBudget()
    while true {
        var source = sockaddr_storage()
        var slen = storageSize
        let n = withUnsafeMutablePointer(to: &source) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { real(fd, buf, len, callFlags, $0, &slen) }
        }
        if n < 0 { return n }
        let ok = withUnsafeMutablePointer(to: &source) { Shim.admitDatagram(fd, UnsafeMutableRawPointer($0), slen) }
        if ok {
            // As the kernel: with an address buffer, the (possibly empty) source and its length.
            withUnsafePointer(to: &source) { Shim.copyOut(UnsafeRawPointer($0), slen, addr.map { UnsafeMutableRawPointer($0) }, addrlen) }
            errno = saved
            return n
        }
        if flags & Int32(MSG_PEEK) != 0 { Shim.discardPeeked(fd, flags) }
        if !Shim.nextDatagramOrAgain(fd, &budget) { return -1 }
        callFlags = flags | Int32(MSG_DONTWAIT)  // it is there: never wait for it
    }
}

@_cdecl("recvmsg")
public func hook_recvmsg(_ fd: Int32, _ msg: UnsafeMutablePointer<msghdr>?, _ flags: Int32) -> Int {
    guard let real = Real.shared.recvmsg else { errno = ENOSYS; return -1 }
    // Error queue reads carry no request, only our own packets' errors.
    if cwrap_hook_busy() != 0 || flags & Int32(MSG_ERRQUEUE) != 0 { return real(fd, msg, flags) }
    guard let msg else { return real(fd, msg, flags) }
    let saved = errno
    // The source always lands in our own buffer first, so that it can be
    // judged even when the caller gave no buffer or a short one.
    let callerName = msg.pointee.msg_name
    let callerNameLen = msg.pointee.msg_namelen
    let callerControlLen = msg.pointee.msg_controllen
    let callerFlags = msg.pointee.msg_flags
    var own = sockaddr_storage()
    var callFlags = flags
    var budget = Shim.RefusalBudget()
    defer { msg.pointee.msg_name = callerName }
    func failing() -> Int {
        // The kernel writes nothing back on failure; neither do we.
        msg.pointee.msg_namelen = callerNameLen
        msg.pointee.msg_controllen = callerControlLen
        msg.pointee.msg_flags = callerFlags
        return -1
    }
    while true {
        withUnsafeMutablePointer(to: &own) { msg.pointee.msg_name = UnsafeMutableRawPointer($0) }
        msg.pointee.msg_namelen = storageSize
        msg.pointee.msg_controllen = callerControlLen
        let n = real(fd, msg, callFlags)
        if n < 0 {
            let e = errno
            _ = failing()
            errno = e
            return n
        }
        let slen = msg.pointee.msg_namelen
        let destination = Shim.packetDestination(msg.pointee)
        let ok = withUnsafeMutablePointer(to: &own) {
            Shim.admitDatagram(fd, UnsafeMutableRawPointer($0), slen, destination: destination)
        }
        if ok {
            if let callerName {
                _ = withUnsafePointer(to: &own) { memcpy(callerName, $0, Int(min(slen, callerNameLen))) }
                msg.pointee.msg_namelen = slen
            } else {
                msg.pointee.msg_namelen = callerNameLen
            }
            errno = saved
            return n
        }
        if flags & Int32(MSG_PEEK) != 0 { Shim.discardPeeked(fd, flags) }
        if !Shim.nextDatagramOrAgain(fd, &budget) {
            let e = errno
            _ = failing()
            errno = e
            return -1
        }
        callFlags = flags | Int32(MSG_DONTWAIT)
    }
}

@_cdecl("recvmmsg")
public func hook_recvmmsg(_ fd: Int32, _ vec: UnsafeMutablePointer<cwrap_mmsghdr>?, _ vlen: UInt32, _ flags: Int32,
                          _ timeout: UnsafeMutablePointer<timespec>?) -> Int32 {
    guard let real = Real.shared.recvmmsg else { errno = ENOSYS; return -1 }
    if cwrap_hook_busy() != 0 || flags & Int32(MSG_ERRQUEUE) != 0 { return real(fd, vec, vlen, flags, timeout) }
    guard let vec, vlen > 0 else { return real(fd, vec, vlen, flags, timeout) }
    let saved = errno
    let count = Int(min(vlen, 1024))  // the kernel's UIO_MAXIOV limit
    // The caller's buffers and lengths, restored before each call; the
    // sources land in our own buffers and are copied out for admitted ones.
    let names = (0..<count).map { vec[$0].msg_hdr.msg_name }
    let nameLens = (0..<count).map { vec[$0].msg_hdr.msg_namelen }
    let controlLens = (0..<count).map { vec[$0].msg_hdr.msg_controllen }
    let msgFlags = (0..<count).map { vec[$0].msg_hdr.msg_flags }
    let own = UnsafeMutablePointer<sockaddr_storage>.allocate(capacity: count)
    var callFlags = flags
    var budget = Shim.RefusalBudget()
    /// Slots from `first` on are given back as the caller left them.
    func restore(from first: Int) {
        for i in first..<count {
            vec[i].msg_hdr.msg_namelen = nameLens[i]
            vec[i].msg_hdr.msg_controllen = controlLens[i]
            vec[i].msg_hdr.msg_flags = msgFlags[i]
        }
    }
    own.initialize(repeating: sockaddr_storage(), count: count)
    defer {
        for i in 0..<count { vec[i].msg_hdr.msg_name = names[i] }
        own.deallocate()
    }
    while true {
        for i in 0..<count {
            vec[i].msg_hdr.msg_name = UnsafeMutableRawPointer(own + i)
            vec[i].msg_hdr.msg_namelen = storageSize
            vec[i].msg_hdr.msg_controllen = controlLens[i]
        }
        let n = real(fd, vec, UInt32(count), callFlags, timeout)
        if n <= 0 {
            let e = errno
            restore(from: 0)
            errno = e
            return n
        }
        var kept = 0
        for i in 0..<Int(n) {
            let slen = vec[i].msg_hdr.msg_namelen
            let destination = Shim.packetDestination(vec[i].msg_hdr)
            guard Shim.admitDatagram(fd, UnsafeMutableRawPointer(own + i), slen, destination: destination) else { continue }
            if kept != i { Batch.move(vec, from: i, to: kept, controlCapacity: controlLens[kept], flags: flags) }
            // The source, into the caller's buffer for this slot.
            if let name = names[kept] {
                memcpy(name, own + i, Int(min(slen, nameLens[kept])))
                vec[kept].msg_hdr.msg_namelen = slen
            } else {
                vec[kept].msg_hdr.msg_namelen = nameLens[kept]
            }
            kept += 1
        }
        restore(from: kept)
        if kept > 0 {
            errno = saved
            return Int32(kept)
        }
        if flags & Int32(MSG_PEEK) != 0 { Shim.discardPeeked(fd, flags) }
        if !Shim.nextDatagramOrAgain(fd, &budget) { return -1 }
        callFlags = flags | Int32(MSG_DONTWAIT)
    }
}

enum Batch {
    /// The length of the leading whole control messages that fit in
    /// `capacity` bytes (a cut message would lie about its own length).
    static func wholeControlMessages(_ control: UnsafeMutableRawPointer, _ length: Int, fitting capacity: Int) -> Int {
        var offset = 0
        while offset + 16 <= length {
            let size = control.loadUnaligned(fromByteOffset: offset, as: Int.self)
            if size < 16 || offset + size > length { break }
            let next = offset + ((size + 7) & ~7)
            if offset + size > capacity { break }
            offset = min(next, length)
        }
        return min(offset, capacity)
    }

    /// Moves message `from` into slot `to` of a recvmmsg() vector: the data
    /// into `to`'s buffers (as far as they hold it), the control data (as far
    /// as `to`'s control buffer holds it), the lengths and flags. (Sources
    /// are copied out by the caller.)
    static func move(_ vec: UnsafeMutablePointer<cwrap_mmsghdr>, from: Int, to: Int,
                     controlCapacity: Int, flags callFlags: Int32) {
        let src = vec[from].msg_hdr
        let dst = vec[to].msg_hdr
        var left = Int(vec[from].msg_len)
        var copied = 0
        var si = 0, so = 0, di = 0, dof = 0
        while left > 0 && si < Int(src.msg_iovlen) && di < Int(dst.msg_iovlen) {
            let s = src.msg_iov[si], d = dst.msg_iov[di]
            let n = min(left, s.iov_len - so, d.iov_len - dof)
            if n > 0 {
                guard let sb = s.iov_base, let db = d.iov_base else { break }
                memmove(db + dof, sb + so, n)
            }
            so += n; dof += n; left -= n; copied += n
            if so == s.iov_len { si += 1; so = 0 }
            if dof == d.iov_len { di += 1; dof = 0 }
        }
        var flags = src.msg_flags
        if left > 0 { flags |= Int32(MSG_TRUNC) }
        // With MSG_TRUNC asked for, the length is the datagram's, as the kernel reports it.
        vec[to].msg_len = callFlags & Int32(MSG_TRUNC) != 0 ? vec[from].msg_len : UInt32(copied)
        if let sc = src.msg_control, let dc = dst.msg_control, controlCapacity > 0 {
            let n = wholeControlMessages(sc, src.msg_controllen, fitting: controlCapacity)
            memmove(dc, sc, n)
            vec[to].msg_hdr.msg_controllen = n
            if n < src.msg_controllen { flags |= Int32(MSG_CTRUNC) }
        } else {
            vec[to].msg_hdr.msg_controllen = 0
            if src.msg_controllen > 0 { flags |= Int32(MSG_CTRUNC) }
        }
        vec[to].msg_hdr.msg_flags = flags
    }
}
