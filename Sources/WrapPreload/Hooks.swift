// Hooks.swift - accept(), accept4(), recvfrom(), recvmsg(), recvmmsg().
//
// Each hook first hands out a client a wait hook already admitted and held
// (Readiness.swift), then calls the real function, passing through anything
// that is not an IPv4/IPv6 peer (AF_UNIX, a connected datagram socket, a
// stream socket's recvfrom). A refused connection is reset and closed, a
// refused datagram dropped, and the next one taken if one is already
// waiting. If none is, the call does what the real one would have done had
// the refused client never arrived: on a blocking socket it waits for the
// next admitted client (nc, openssl s_server); on a non-blocking one (or
// with MSG_DONTWAIT) it fails with EAGAIN. Daemons that poll blocking
// sockets (rpcbind, PostgreSQL) are never woken for a refused client in the
// first place (Waits.swift), so they are not held in one. errno is the
// caller's on every successful return.
//
// While the shim works (name lookups, ident, /file lists) its own calls pass
// straight through (a per-thread busy flag).

import CPreload
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

    /// Runs `body` with the hooks passing through on this thread (and the
    /// thread not cancellable: see cwrap_set_hook_busy). May nest.
    static func busy<T>(_ body: () -> T) -> T {
        let was = cwrap_hook_busy()
        cwrap_set_hook_busy(1)
        defer { cwrap_set_hook_busy(was) }
        return body()
    }

    /// The verdict on an accepted connection; nil if it could wait on a
    /// lookup and `mayDefer` (see Judges.swift).
    static func admitConnection(_ fd: Int32, _ peer: inout sockaddr_storage, mayDefer: Bool) -> Access.Verdict? {
        // A client the tables admitted by its address alone, as they stand.
        let now = monotonicSeconds()
        let tables = AdmittedAddresses.shared.generation(now: now)
        if let tables, withUnsafePointer(to: &peer, { AdmittedAddresses.shared.admits(UnsafeRawPointer($0), tables, now: now) }) {
            return .permit
        }
        var byAddress = false
        let verdict = busy {
            // (The local endpoint is read from the socket only if a rule asks.)
            Config.shared.daemon.withUnsafeBufferPointer { d in
                withUnsafeMutablePointer(to: &peer) { p in
                    Resident.decide(fd: fd, peer: UnsafeMutableRawPointer(p), local: nil,
                                    daemon: d.baseAddress!, mayDefer: mayDefer, addressOnly: &byAddress)
                }
            }
        }
        if byAddress, verdict == .permit, let tables {
            withUnsafePointer(to: &peer) { AdmittedAddresses.shared.note(UnsafeRawPointer($0), tables) }
        }
        return verdict
    }

    enum Outcome { case admitted, refused, deferred }

    /// Judges a connection accepted from `listener`: a refused one is reset
    /// (or was handed to twist), one whose decision could wait is handed to
    /// a judge; an admitted one is recorded and left to the caller.
    static func judge(listener: Int32, fd: Int32, peer: inout sockaddr_storage, length: socklen_t, flags: Int32) -> Outcome {
        let inet = withUnsafePointer(to: &peer) { isInet(UnsafeRawPointer($0), length) }
        var verdict: Access.Verdict? = inet ? admitConnection(fd, &peer, mayDefer: true) : .permit
        if verdict == nil {
            let work = Judges.Work.connection(listener: listener, cookie: Kind.cookie(listener), fd: fd, peer: peer,
                                              length: length, flags: flags)
            if Judges.shared.submit(work) { return .deferred }
            verdict = admitConnection(fd, &peer, mayDefer: false)
        }
        switch verdict ?? .deny {
        case .permit:
            if inet {
                withUnsafePointer(to: &peer) {
                    Admitted.shared.admitStream(fd: fd, peer: UnsafeRawPointer($0), daemon: Config.shared.daemonBytes)
                }
            }
            return .admitted
        case .deny:
            reset(fd)
        case .handedOff:
            close(fd)  // the twist command has its own copy
        }
        return .refused
    }

    /// Waits (in slices, as long as a decision for `fd` is pending) until
    /// `fd` is readable or a judged client is held for it.
    static func awaitJudged(_ fd: Int32) {
        guard let poll = Real.shared.poll else { return }
        while Judges.shared.pendingCount(fd) > 0 && cpreload_kind(fd) & Kind.held == 0 {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&p, 1, Int32(Judges.slice * 1000)) > 0 { return }
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
                       _ addrlen: UnsafeMutablePointer<socklen_t>?, flags: Int32,
                       _ real: (Int32, UnsafeMutablePointer<sockaddr>, UnsafeMutablePointer<socklen_t>) -> Int32) -> Int32 {
        let saved = errno
        let before = Kind.serve(listener)
        noteAcceptFlags(listener, flags)
        var budget = Shim.RefusalBudget()
        var blocking: Bool? = nil
        while true {
            if let held = Held.shared.takeConnection(listener) {
                handOut(held, flags: flags)
                withUnsafePointer(to: held.peer) {
                    copyOut(UnsafeRawPointer($0), held.length, addr.map { UnsafeMutableRawPointer($0) }, addrlen)
                }
                errno = saved
                return held.fd
            }
            // A blocking accept() with decisions pending for this listener
            // waits for whichever comes first: a new client or a judged one.
            if cpreload_pending_total() > 0 && (blocking ?? isBlocking(listener)) {
                awaitJudged(listener)
                if cpreload_kind(listener) & Kind.held != 0 { continue }
            }
            var peer = sockaddr_storage()
            var len = storageSize
            let fd = withUnsafeMutablePointer(to: &peer) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { real(listener, $0, &len) }
            }
            if fd < 0 { return fd }
            cpreload_set_kind(fd, Kind.other)
            // Not cancellable until the client is handed out or reset.
            if busy({ judge(listener: listener, fd: fd, peer: &peer, length: len, flags: flags) }) == .admitted {
                withUnsafePointer(to: &peer) { copyOut(UnsafeRawPointer($0), len, addr.map { UnsafeMutableRawPointer($0) }, addrlen) }
                errno = saved
                return fd
            }
            // Refused or with a judge. A blocking accept() waits for the
            // next client, as the real one would have; a non-blocking one
            // takes the next only if it is already there, and not forever:
            // a flood of refused clients must not keep the call from
            // returning. What it leaves is looked at in the daemon's next
            // wait. (Once only, for a socket the daemon was woken for before
            // it was served, so its wait was not filtered: a daemon that
            // polls several blocking listeners must not be held in this one.
            // It gets the error Linux's accept gives for a connection that
            // went away before it was taken.)
            let isBlocking = blocking ?? isBlocking(listener)
            blocking = isBlocking
            if isBlocking && before & (Kind.served | Kind.polled) != Kind.polled { continue }
            if budget.spend() && pending(listener) { continue }
            if pending(listener) { cpreload_add_kind_bits(listener, Kind.look) }
            errno = isBlocking ? ECONNABORTED : EAGAIN
            return -1
        }
    }

    static let flagBits = Int32(SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue)

    /// The flags the daemon's accept4() last asked for on `listener`
    /// (SOCK_CLOEXEC until it has asked).
    static func acceptFlags(_ listener: Int32) -> Int32 {
        let known = cpreload_accept_flags(listener)
        if known & 1 == 0 { return Int32(SOCK_CLOEXEC.rawValue) }
        return (known & 2 != 0 ? Int32(SOCK_NONBLOCK.rawValue) : 0) | (known & 4 != 0 ? Int32(SOCK_CLOEXEC.rawValue) : 0)
    }

    static func noteAcceptFlags(_ listener: Int32, _ flags: Int32) {
        cpreload_set_accept_flags(listener, 1 | (flags & Int32(SOCK_NONBLOCK.rawValue) != 0 ? 2 : 0)
                                            | (flags & Int32(SOCK_CLOEXEC.rawValue) != 0 ? 4 : 0))
    }

    /// A held connection gets the flags the daemon's own accept4() asks
    /// for (nothing to do when it was accepted with them).
    static func handOut(_ c: Held.Connection, flags: Int32) {
        let want = flags & flagBits
        let have = c.flags & flagBits
        if want == have { return }
        let cloexec = Int32(SOCK_CLOEXEC.rawValue), nonblock = Int32(SOCK_NONBLOCK.rawValue)
        if want & cloexec != have & cloexec { _ = csystem_set_fd_flags(c.fd, want & cloexec != 0 ? FD_CLOEXEC : 0) }
        if want & nonblock != have & nonblock {
            let f = csystem_get_flags(c.fd)
            _ = csystem_set_flags(c.fd, want & nonblock != 0 ? f | O_NONBLOCK : f & ~O_NONBLOCK)
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
        guard let poll = Real.shared.poll else { return false }
        while true {
            let n = poll(&p, 1, 0)
            if n >= 0 { return n > 0 && p.revents & Int16(POLLIN) != 0 }
            if errno != EINTR { return false }
        }
    }

    static func isBlocking(_ fd: Int32) -> Bool {
        csystem_get_flags(fd) & O_NONBLOCK == 0
    }

    /// After dropping a refused datagram: the flags for the next read, or
    /// nil (errno EAGAIN) when the call must return. A blocking read waits
    /// for the next datagram, as the real one would have; a non-blocking one
    /// reads on only if another waits, and only so many times in one call.
    static func nextDatagram(_ fd: Int32, _ flags: Int32, wait: Bool, _ budget: inout RefusalBudget) -> Int32? {
        if wait && flags & Int32(MSG_DONTWAIT) == 0 && isBlocking(fd) { return flags }
        if budget.spend() && pending(fd) { return flags | Int32(MSG_DONTWAIT) }
        if pending(fd) { cpreload_add_kind_bits(fd, Kind.look) }
        errno = EAGAIN
        return nil
    }

}

// MARK: - Datagrams

/// What the hooks need of a datagram socket for every datagram and do not
/// ask the kernel for again: its cookie (SO_COOKIE) and its local endpoint
/// (getsockname). Kept per descriptor (64 slots, by descriptor number)
/// while the descriptor is the same socket: Kind.forget() - close, dup2
/// over it, connect - clears it, and a socket that sends or receives is
/// bound, and stays bound where it is (a second bind fails). Only for
/// descriptors the kinds table covers (their close is seen).
final class SocketFacts: @unchecked Sendable {
    static let shared = SocketFacts()
    static let slots: Int32 = 64

    struct Facts {
        var fd: Int32 = -1
        var cookie: UInt64 = 0
        var local = sockaddr_in6()   // room for an IPv4 or IPv6 address
        var haveLocal = false
    }

    private let lock = cwrap_mutex_new()!
    private var table = [Facts](repeating: Facts(), count: Int(SocketFacts.slots))
    /// Bumped by forget(): facts learnt while the slot was forgotten are not stored.
    private var generation = [UInt32](repeating: 0, count: Int(SocketFacts.slots))

    init() {}

    func facts(_ fd: Int32) -> Facts {
        let cached = fd >= 0 && fd < Kind.tableSize
        let i = Int(fd & (SocketFacts.slots - 1))
        var gen: UInt32 = 0
        if cached {
            cwrap_mutex_lock(lock)
            if table[i].fd == fd {
                let f = table[i]
                cwrap_mutex_unlock(lock)
                return f
            }
            gen = generation[i]
            cwrap_mutex_unlock(lock)
        }
        let saved = errno
        defer { errno = saved }
        var f = Facts(fd: fd)
        f.cookie = Kind.cookie(fd)
        var ss = sockaddr_storage()
        var len = storageSize
        if withUnsafeMutablePointer(to: &ss, { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }) == 0 {
            let n = min(Int(len), MemoryLayout<sockaddr_in6>.size)
            withUnsafeMutableBytes(of: &f.local) { to in
                withUnsafeBytes(of: &ss) { to.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: n) }
            }
            f.haveLocal = true
        }
        if cached {
            cwrap_mutex_lock(lock)
            if generation[i] == gen { table[i] = f }
            cwrap_mutex_unlock(lock)
        }
        return f
    }

    /// `fd` is no longer the socket it was.
    func forget(_ fd: Int32) {
        guard fd >= 0 else { return }
        let i = Int(fd & (SocketFacts.slots - 1))
        cwrap_mutex_lock(lock)
        if table[i].fd == fd { table[i].fd = -1 }
        generation[i] &+= 1
        cwrap_mutex_unlock(lock)
    }
}

/// Client addresses whose connections the tables admit by the address
/// alone (no name, user, server endpoint, host file, netgroup or option
/// was asked: RequestContext.addressOnly), with the tables' generation then:
/// the next connection from such an address is admitted by one lookup
/// while the tables are the same versions. The tables are checked as a
/// decision checks them (a stat() at most Background.freshFor old), so an
/// edit is in force as soon; refusals are always decided in full (and
/// logged). A fixed-size cache (SegmentedCache: 4,096 addresses in use
/// and 4,096 new ones).
final class AdmittedAddresses: @unchecked Sendable {
    static let shared = AdmittedAddresses()
    private let cache = SharedCache<EndpointKey, UInt64>(capacity: 4096, ttl: 60)
    private let lock = cwrap_mutex_new()!
    private var confirmedAt = -1.0e9
    private var confirmed: UInt64 = 0

    init() {}

    /// The tables' generation, as checked at most Background.freshFor
    /// before `now` (monotonicSeconds); nil when one cannot be used here
    /// (unreadable, too large to compile, being compiled).
    func generation(now: Double) -> UInt64? {
        cwrap_mutex_lock(lock)
        if now - confirmedAt < Background.freshFor {
            let g = confirmed
            cwrap_mutex_unlock(lock)
            return g
        }
        cwrap_mutex_unlock(lock)
        guard let g = Caches.confirmTables() else { return nil }
        cwrap_mutex_lock(lock)
        if now > confirmedAt {
            confirmedAt = now
            confirmed = g
        }
        cwrap_mutex_unlock(lock)
        return g
    }

    /// Whether `peer` was admitted by its address under tables of generation `tables`.
    func admits(_ peer: UnsafeRawPointer, _ tables: UInt64, now: Double) -> Bool {
        guard let key = EndpointKey(source: peer, local: nil) else { return false }
        return cache.get(key, now: now) == tables
    }

    /// Notes `peer` as admitted by its address, by tables of generation
    /// `tables` (not if they changed while it was decided).
    func note(_ peer: UnsafeRawPointer, _ tables: UInt64) {
        guard let key = EndpointKey(source: peer, local: nil), Caches.tablesGeneration == tables else { return }
        cache.put(key, tables)
    }
}

/// Verdicts per (source address, local address), kept for a second after
/// they were decided, so that a flood from one source costs a cache lookup,
/// not a rule evaluation. The cache has a fixed size (4,096 sources in use
/// and 4,096 new ones), and a flood of new (spoofed) sources cannot push out
/// the sources in use (see SegmentedCache).
final class DatagramVerdicts: @unchecked Sendable {
    static let shared = DatagramVerdicts()
    private let cache = SharedCache<EndpointKey, Access.Verdict>(capacity: 4096, ttl: 1.0)

    init() {}

    /// The verdict on a datagram from `source` on `fd`; nil if it could
    /// wait on a lookup and `mayDefer`.
    func verdict(fd: Int32, source: UnsafeMutableRawPointer, destination: [UInt8]?, mayDefer: Bool,
                 facts known: SocketFacts.Facts? = nil) -> Access.Verdict? {
        let facts = known ?? SocketFacts.shared.facts(fd)
        var local = sockaddr_storage()
        if facts.haveLocal {
            withUnsafeMutableBytes(of: &local) { to in
                withUnsafeBytes(of: facts.local) { to.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            }
            if let destination {
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
        }
        let key = withUnsafePointer(to: &local) {
            EndpointKey(source: source, local: facts.haveLocal ? UnsafeRawPointer($0) : nil)
        }
        if let key, let hit = cache.get(key) { return hit }
        let decided = Shim.busy {
            Config.shared.daemon.withUnsafeBufferPointer { d in
                withUnsafeMutablePointer(to: &local) { l in
                    Resident.decide(fd: -1, peer: source, local: facts.haveLocal ? UnsafeMutableRawPointer(l) : nil,
                                    daemon: d.baseAddress!, mayDefer: mayDefer)
                }
            }
        }
        guard let v = decided else { return nil }
        if let key { cache.put(key, v) }   // stamped when decided: a slow decision is not stored expired
        return v
    }
}

extension Shim {
    enum Admission { case admit, refuse, deferred }

    /// Whether a datagram from `source` (as returned by the real call) may be
    /// delivered. Connected sockets (the daemon is the client) always may.
    /// `deferred`: the decision could wait on a lookup; the caller hands the
    /// datagram to a judge (deferDatagram).
    static func admitDatagram(_ fd: Int32, _ source: UnsafeMutableRawPointer, _ len: socklen_t,
                              destination: [UInt8]? = nil) -> Admission {
        // An unconnected UDP socket (learnt once per descriptor; connect()
        // makes it another kind).
        guard isInet(source, len), Kind.of(fd) & Kind.typeMask == Kind.datagram else { return .admit }
        // An answer to a datagram the daemon itself sent from this socket.
        let facts = SocketFacts.shared.facts(fd)
        if ExpectedReplies.shared.isReply(facts, from: source) { return .admit }
        guard let v = DatagramVerdicts.shared.verdict(fd: fd, source: source, destination: destination, mayDefer: true,
                                                      facts: facts) else {
            return .deferred
        }
        if v != .permit { return .refuse }
        Admitted.shared.admitDatagram(source: source, daemon: Config.shared.daemonBytes)
        return .admit
    }

    /// Hands a datagram taken off `fd`'s queue to a judge (or, if none can
    /// take it, decides it here and holds it if it is admitted).
    static func deferDatagram(_ fd: Int32, _ d: Held.Datagram, destination: [UInt8]?) {
        let cookie = Kind.cookie(fd)
        if Judges.shared.submit(.datagram(socket: fd, cookie: cookie, datagram: d, destination: destination)) { return }
        var copy = d
        let v = withUnsafeMutablePointer(to: &copy.source) {
            DatagramVerdicts.shared.verdict(fd: fd, source: UnsafeMutableRawPointer($0), destination: destination, mayDefer: false)
        }
        if v == .permit { Held.shared.hold(socket: fd, cookie: cookie, d) }
    }

    /// A received datagram as a held one: the bytes the caller's buffers
    /// got (`n` the call's result), the control data and flags.
    static func capture(_ m: msghdr, _ n: Int, source: UnsafeRawPointer, _ slen: socklen_t) -> Held.Datagram {
        var data: [UInt8] = []
        var left = n
        var i = 0
        while left > 0 && i < Int(m.msg_iovlen) {
            let v = m.msg_iov[i]
            let k = min(left, v.iov_len)
            if k > 0, let base = v.iov_base { data += UnsafeRawBufferPointer(start: base, count: k) }
            left -= k
            i += 1
        }
        let control = m.msg_control.map { Array(UnsafeRawBufferPointer(start: $0, count: Int(m.msg_controllen))) } ?? []
        var d = Held.Datagram(data: data, control: control, source: sockaddr_storage(), sourceLength: slen, flags: m.msg_flags)
        withUnsafeMutableBytes(of: &d.source) { $0.copyMemory(from: UnsafeRawBufferPointer(start: source, count: Int(min(slen, storageSize)))) }
        return d
    }

    /// The destination address of a received datagram, from IP_PKTINFO or
    /// IPV6_PKTINFO control data if the daemon asked for it.
    static func destination(_ msg: msghdr) -> [UInt8]? {
        var m = msg
        var out = (UInt64(0), UInt64(0))
        let n = withUnsafeMutableBytes(of: &out) {
            cpreload_packet_destination(&m, $0.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        return n > 0 ? withUnsafeBytes(of: &out) { Array($0.prefix(Int(n))) } : nil
    }
}

// MARK: - The receive loop

extension Shim {
    /// What a receive hook's judge made of what the real call returned.
    enum Judged {
        /// Hand this back to the caller.
        case deliver(Int)
        /// All of it refused (the first refused source).
        case refused(sockaddr_storage)
        /// With a judge (a copy of it), nothing to hand back.
        case deferred
    }

    /// The one refusal loop of the receive hooks. `call(flags)` makes the
    /// real call (its result; < 0 has errno set); `judge(n)` judges what it
    /// received (and hands a datagram whose decision could wait to a
    /// judge); `held(d)` hands out a datagram a wait hook or a judge held;
    /// `failed()` gives the caller's structures back as they were.
    static func receive(_ fd: Int32, _ flags: Int32,
                        held: (Held.Datagram) -> Int,
                        call: (Int32) -> Int,
                        judge: (Int) -> Judged,
                        failed: () -> Void) -> Int {
        let saved = errno
        let before = Kind.serve(fd)
        let peek = flags & Int32(MSG_PEEK) != 0
        var callFlags = flags
        var budget = RefusalBudget()
        while true {
            if let d = Held.shared.takeDatagram(fd, peek: peek) {
                let n = held(d)
                errno = saved
                return n
            }
            // A blocking receive with decisions pending for this socket
            // waits for whichever comes first: a new datagram or a judged one.
            if cpreload_pending_total() > 0 && callFlags & Int32(MSG_DONTWAIT) == 0 && isBlocking(fd) {
                awaitJudged(fd)
                if cpreload_kind(fd) & Kind.held != 0 { continue }
            }
            let n = call(callFlags)
            if n < 0 {
                let e = errno
                failed()
                errno = e
                return n
            }
            switch judge(n) {
            case .deliver(let kept):
                errno = saved
                return kept
            case .refused(var source):
                if peek, busy({ withUnsafePointer(to: &source) { takeHead(fd, refused: UnsafeRawPointer($0)) } }) == .held {
                    continue
                }
            case .deferred:
                // Only peeked at: taken off the queue whole (and judged there).
                if peek, busy({ takeHead(fd, refused: nil) }) == .held { continue }
            }
            guard let next = nextDatagram(fd, flags, wait: before & (Kind.served | Kind.polled) != Kind.polled, &budget) else {
                failed()
                errno = EAGAIN
                return -1
            }
            callFlags = next
        }
    }

    /// A held datagram, into a message header as recvmsg() fills it.
    static func deliver(_ d: Held.Datagram, into m: UnsafeMutablePointer<msghdr>, flags: Int32) -> Int {
        var copied = 0
        var i = 0
        while copied < d.data.count && i < Int(m.pointee.msg_iovlen) {
            let v = m.pointee.msg_iov[i]
            let n = min(v.iov_len, d.data.count - copied)
            if n > 0, let base = v.iov_base {
                _ = d.data.withUnsafeBytes { memcpy(base, $0.baseAddress! + copied, n) }
            }
            copied += n
            i += 1
        }
        var outFlags = d.flags
        if copied < d.data.count { outFlags |= Int32(MSG_TRUNC) }
        if let name = m.pointee.msg_name {
            _ = withUnsafePointer(to: d.source) { memcpy(name, $0, Int(min(d.sourceLength, m.pointee.msg_namelen))) }
        }
        m.pointee.msg_namelen = d.sourceLength
        if let control = m.pointee.msg_control, m.pointee.msg_controllen > 0, !d.control.isEmpty {
            let n = d.control.withUnsafeBytes {
                let c = UnsafeMutableRawPointer(mutating: $0.baseAddress!)
                return Int(cpreload_whole_control_messages(c, UInt(d.control.count), UInt(m.pointee.msg_controllen)))
            }
            _ = d.control.withUnsafeBytes { memcpy(control, $0.baseAddress!, n) }
            if n < d.control.count { outFlags |= Int32(MSG_CTRUNC) }
            m.pointee.msg_controllen = n
        } else {
            if !d.control.isEmpty { outFlags |= Int32(MSG_CTRUNC) }
            m.pointee.msg_controllen = 0
        }
        m.pointee.msg_flags = outFlags
        return flags & Int32(MSG_TRUNC) != 0 ? d.data.count : copied
    }
}

// MARK: - The hooks

@_cdecl("accept")
public func hook_accept(_ fd: Int32, _ addr: UnsafeMutablePointer<sockaddr>?, _ addrlen: UnsafeMutablePointer<socklen_t>?) -> Int32 {
    guard let real = Real.shared.accept else { errno = ENOSYS; return -1 }
    if cwrap_hook_busy() != 0 { return real(fd, addr, addrlen) }
    return Shim.accept(fd, addr, addrlen, flags: 0) { real($0, $1, $2) }
}

@_cdecl("accept4")
public func hook_accept4(_ fd: Int32, _ addr: UnsafeMutablePointer<sockaddr>?, _ addrlen: UnsafeMutablePointer<socklen_t>?, _ flags: Int32) -> Int32 {
    guard let real = Real.shared.accept4 else { errno = ENOSYS; return -1 }
    if cwrap_hook_busy() != 0 { return real(fd, addr, addrlen, flags) }
    return Shim.accept(fd, addr, addrlen, flags: flags) { real($0, $1, $2, flags) }
}

@_cdecl("recvfrom")
public func hook_recvfrom(_ fd: Int32, _ buf: UnsafeMutableRawPointer?, _ len: Int, _ flags: Int32,
                          _ addr: UnsafeMutablePointer<sockaddr>?, _ addrlen: UnsafeMutablePointer<socklen_t>?) -> Int {
    guard let real = Real.shared.recvfrom else { errno = ENOSYS; return -1 }
    if cwrap_hook_busy() != 0 || flags & Int32(MSG_ERRQUEUE) != 0 { return real(fd, buf, len, flags, addr, addrlen) }
    var source = sockaddr_storage()
    var slen = storageSize
    return Shim.receive(fd, flags, held: { d in
        let n = min(len, d.data.count)
        if n > 0, let buf { _ = d.data.withUnsafeBytes { memcpy(buf, $0.baseAddress!, n) } }
        withUnsafePointer(to: d.source) {
            Shim.copyOut(UnsafeRawPointer($0), d.sourceLength, addr.map { UnsafeMutableRawPointer($0) }, addrlen)
        }
        return flags & Int32(MSG_TRUNC) != 0 ? d.data.count : n
    }, call: { callFlags in
        slen = storageSize
        return withUnsafeMutablePointer(to: &source) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { real(fd, buf, len, callFlags, $0, &slen) }
        }
    }, judge: { n in
        switch withUnsafeMutablePointer(to: &source, { Shim.admitDatagram(fd, UnsafeMutableRawPointer($0), slen) }) {
        case .refuse:
            return .refused(source)
        case .deferred:
            if flags & Int32(MSG_PEEK) == 0 {
                let got = min(n, len)
                let data = got > 0 && buf != nil ? Array(UnsafeRawBufferPointer(start: buf, count: got)) : []
                Shim.deferDatagram(fd, Held.Datagram(data: data, control: [], source: source, sourceLength: slen,
                                                     flags: n > len ? Int32(MSG_TRUNC) : 0), destination: nil)
            }
            return .deferred
        case .admit:
            // As the kernel: with an address buffer, the (possibly empty) source and its length.
            withUnsafePointer(to: &source) { Shim.copyOut(UnsafeRawPointer($0), slen, addr.map { UnsafeMutableRawPointer($0) }, addrlen) }
            return .deliver(n)
        }
    }, failed: {})
}

/// recv() on an unconnected UDP socket (the source is not asked for, but
/// the datagram is a request all the same); anything else passes through.
@_cdecl("recv")
public func hook_recv(_ fd: Int32, _ buf: UnsafeMutableRawPointer?, _ len: Int, _ flags: Int32) -> Int {
    guard let real = Real.shared.recv else { errno = ENOSYS; return -1 }
    if cwrap_hook_busy() != 0 || Kind.of(fd) & Kind.typeMask != Kind.datagram { return real(fd, buf, len, flags) }
    return hook_recvfrom(fd, buf, len, flags, nil, nil)
}

@_cdecl("recvmsg")
public func hook_recvmsg(_ fd: Int32, _ msg: UnsafeMutablePointer<msghdr>?, _ flags: Int32) -> Int {
    guard let real = Real.shared.recvmsg else { errno = ENOSYS; return -1 }
    // Error queue reads carry no request, only our own packets' errors.
    if cwrap_hook_busy() != 0 || flags & Int32(MSG_ERRQUEUE) != 0 { return real(fd, msg, flags) }
    guard let msg else { return real(fd, msg, flags) }
    // The source always lands in our own buffer first, so that it can be
    // judged even when the caller gave no buffer or a short one.
    let callerName = msg.pointee.msg_name
    let callerNameLen = msg.pointee.msg_namelen
    let callerControlLen = msg.pointee.msg_controllen
    let callerFlags = msg.pointee.msg_flags
    var own = sockaddr_storage()
    return Shim.receive(fd, flags, held: { d in
        Shim.deliver(d, into: msg, flags: flags)
    }, call: { callFlags in
        withUnsafeMutablePointer(to: &own) { msg.pointee.msg_name = UnsafeMutableRawPointer($0) }
        msg.pointee.msg_namelen = storageSize
        msg.pointee.msg_controllen = callerControlLen
        let n = real(fd, msg, callFlags)
        msg.pointee.msg_name = callerName
        return n
    }, judge: { n in
        let slen = msg.pointee.msg_namelen
        let destination = Shim.destination(msg.pointee)
        switch withUnsafeMutablePointer(to: &own, { Shim.admitDatagram(fd, UnsafeMutableRawPointer($0), slen, destination: destination) }) {
        case .refuse:
            return .refused(own)
        case .deferred:
            if flags & Int32(MSG_PEEK) == 0 {
                Shim.deferDatagram(fd, withUnsafePointer(to: &own) { Shim.capture(msg.pointee, n, source: UnsafeRawPointer($0), slen) },
                                   destination: destination)
            }
            return .deferred
        case .admit:
            break
        }
        if let callerName {
            _ = withUnsafePointer(to: &own) { memcpy(callerName, $0, Int(min(slen, callerNameLen))) }
            msg.pointee.msg_namelen = slen
        } else {
            msg.pointee.msg_namelen = callerNameLen
        }
        return .deliver(n)
    }, failed: {
        // The kernel writes nothing back on failure; neither do we.
        msg.pointee.msg_namelen = callerNameLen
        msg.pointee.msg_controllen = callerControlLen
        msg.pointee.msg_flags = callerFlags
    })
}

@_cdecl("recvmmsg")
public func hook_recvmmsg(_ fd: Int32, _ vec: UnsafeMutablePointer<cwrap_mmsghdr>?, _ vlen: UInt32, _ flags: Int32,
                          _ timeout: UnsafeMutablePointer<timespec>?) -> Int32 {
    guard let real = Real.shared.recvmmsg else { errno = ENOSYS; return -1 }
    if cwrap_hook_busy() != 0 || flags & Int32(MSG_ERRQUEUE) != 0 { return real(fd, vec, vlen, flags, timeout) }
    guard let vec, vlen > 0 else { return real(fd, vec, vlen, flags, timeout) }
    let count = Int(min(vlen, 1024))  // the kernel's UIO_MAXIOV limit
    // The caller's buffers and lengths, restored before each call; the
    // sources land in our own buffers and are copied out for admitted ones.
    let names = (0..<count).map { vec[$0].msg_hdr.msg_name }
    let nameLens = (0..<count).map { vec[$0].msg_hdr.msg_namelen }
    let controlLens = (0..<count).map { vec[$0].msg_hdr.msg_controllen }
    let msgFlags = (0..<count).map { vec[$0].msg_hdr.msg_flags }
    let own = UnsafeMutablePointer<sockaddr_storage>.allocate(capacity: count)
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
    let n = Shim.receive(fd, flags, held: { d in
        withUnsafeMutablePointer(to: &vec[0].msg_hdr) { vec[0].msg_len = UInt32(truncatingIfNeeded: Shim.deliver(d, into: $0, flags: flags)) }
        return 1
    }, call: { callFlags in
        for i in 0..<count {
            vec[i].msg_hdr.msg_name = UnsafeMutableRawPointer(own + i)
            vec[i].msg_hdr.msg_namelen = storageSize
            vec[i].msg_hdr.msg_controllen = controlLens[i]
        }
        let n = Int(real(fd, vec, UInt32(count), callFlags, timeout))
        for i in 0..<count { vec[i].msg_hdr.msg_name = names[i] }
        // Nothing received is a result, not a refusal (a timeout).
        return n
    }, judge: { n in
        if n == 0 { return .deliver(0) }
        var kept = 0
        var deferred = false
        for i in 0..<n {
            let slen = vec[i].msg_hdr.msg_namelen
            let destination = Shim.destination(vec[i].msg_hdr)
            switch Shim.admitDatagram(fd, UnsafeMutableRawPointer(own + i), slen, destination: destination) {
            case .admit:
                break
            case .refuse:
                continue
            case .deferred:
                if flags & Int32(MSG_PEEK) == 0 {
                    Shim.deferDatagram(fd, Shim.capture(vec[i].msg_hdr, Int(vec[i].msg_len), source: UnsafeRawPointer(own + i), slen),
                                       destination: destination)
                }
                deferred = true
                continue
            }
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
        return kept > 0 ? .deliver(kept) : deferred ? .deferred : .refused(own[0])
    }, failed: { restore(from: 0) })
    return Int32(truncatingIfNeeded: n)
}

enum Batch {
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
            let n = Int(cpreload_whole_control_messages(sc, UInt(src.msg_controllen), UInt(controlCapacity)))
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
