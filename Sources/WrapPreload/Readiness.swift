// Readiness.swift - a listening or datagram socket is ready only when an
// admitted client waits on it.
//
// A daemon that waits in poll(), select() or epoll for several sockets must
// neither be woken for a client it will never see nor be held in one socket
// by it. So the wait hooks (Waits.swift) look at every listening or
// unconnected UDP socket the kernel reports readable before the daemon does:
//
//   listener  pending connections are accepted here and judged; a refused
//             one is reset, the first admitted one is *held* and the socket
//             reported ready; the daemon's accept() then returns the held
//             connection (with the flags it asks for) before asking the
//             kernel. If only refused ones were pending, the socket is not
//             reported at all, and the wait goes on for the time left.
//   datagram  the source of the datagram at the head of the queue is
//             peeked at and judged; an admitted one is left where it is; a
//             refused one is taken off the queue (whole, so that another
//             thread that took the peeked one first cannot make us drop an
//             admitted one: that one is held and handed to the next
//             receive).
//
// What each descriptor is (one byte per descriptor, in CPreload) is learnt
// from getsockopt() the first time it is reported readable or registered
// with epoll, and forgotten when it is closed, dup2()ed over, connected or
// made a listener through the hooks; held connections are checked against
// their listener's SO_COOKIE when handed out, so a descriptor number reused
// behind the hooks' back (close_range(), fclose()) never gets another
// socket's connection.
//
// Bounds: one call passes over at most 1,024 refused clients or 50 ms
// (RefusalBudget); what is left is looked at in the next wait (the socket is
// marked, and an epoll wait reports it even if no new edge comes). At most
// one admitted connection or datagram is held per socket and filtering
// thread. A held connection is closed if its listener is closed; in a forked
// child, the parent's held connections are closed (they are the parent's).

import CPreload
import CWrap
import CSystem
import WrapABI
import WrapCore

/// The bits of a descriptor's byte in the kinds table.
enum Kind {
    static let unknown: UInt32 = 0
    static let other: UInt32 = 1
    static let listener: UInt32 = 2
    static let datagram: UInt32 = 3
    static let typeMask: UInt32 = 7
    /// This process accepts or receives on it itself (or made it a
    /// listener): its wait hooks may judge for it. An inetd-style parent
    /// that only waits on a socket and leaves the reading to the service it
    /// starts judges nothing: the service judges under its own name.
    static let served: UInt32 = 0x08
    /// A connection or datagram is held for it.
    static let held: UInt32 = 0x10
    /// Refused clients were left pending when a budget ran out: look again.
    static let look: UInt32 = 0x20
    /// An epoll instance with a listening or datagram socket registered.
    static let watching: UInt32 = 0x40
    /// Reported readable by a wait hook before it was served (so not
    /// filtered there): a refusal in its first accept or receive must not
    /// hold the daemon (see Shim.accept).
    static let polled: UInt32 = 0x80

    /// Notes that the process accepts or receives on `fd` (one load, and a
    /// store the first time); what it was before.
    @inline(__always)
    static func serve(_ fd: Int32) -> UInt32 {
        let k = cpreload_kind(fd)
        if k & served == 0 { cpreload_add_kind_bits(fd, served) }
        return k
    }

    static let tableSize = Int32(CPRELOAD_KINDS)

    /// What `fd` is: listener, datagram or other (learnt once per descriptor).
    static func of(_ fd: Int32) -> UInt32 {
        if fd < 0 || fd >= tableSize { return classify(fd) }
        let k = cpreload_kind(fd)
        if k & typeMask != unknown { return k }
        let t = classify(fd)
        cpreload_add_kind_bits(fd, t)
        return k | t
    }

    /// Whether the wait hooks filter this descriptor.
    @inline(__always)
    static func filtered(_ k: UInt32) -> Bool {
        let t = k & typeMask
        return t == listener || t == datagram
    }

    /// An IPv4 or IPv6 listening stream socket, an unconnected UDP (or
    /// UDP-Lite) socket, or anything else. (Raw, ICMP, SCTP and connected
    /// sockets carry no requests of the kind hosts.allow speaks about.)
    static func classify(_ fd: Int32) -> UInt32 {
        let saved = errno
        defer { errno = saved }
        func option(_ name: Int32) -> Int32? {
            var value: Int32 = 0
            var size = socklen_t(MemoryLayout<Int32>.size)
            return getsockopt(fd, SOL_SOCKET, name, &value, &size) == 0 ? value : nil
        }
        guard let domain = option(39 /* SO_DOMAIN */), domain == AF_INET || domain == AF_INET6,
              let type = option(SO_TYPE) else { return other }
        if type == Int32(SOCK_STREAM.rawValue) {
            return option(SO_ACCEPTCONN) == 1 ? listener : other
        }
        guard type == Int32(SOCK_DGRAM.rawValue), let proto = option(SO_PROTOCOL),
              proto == Int32(IPPROTO_UDP) || proto == 136 /* IPPROTO_UDPLITE */ else { return other }
        var peer = sockaddr_storage()
        var plen = storageSize
        let connected = withUnsafeMutablePointer(to: &peer) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &plen) }
        } == 0
        return connected ? other : datagram
    }

    /// Forgets what `fd` was (closed, replaced, connected): held clients of
    /// the old socket are dropped.
    static func forget(_ fd: Int32) {
        let k = cpreload_kind(fd)
        if k & held != 0 { Held.shared.drop(fd) }
        if k & watching != 0 { Watches.shared.drop(epoll: fd) }
        if k & typeMask == datagram { SocketFacts.shared.forget(fd) }
        if k != unknown { cpreload_set_kind(fd, unknown) }
    }

    /// The socket's identity, unique while the system runs.
    static func cookie(_ fd: Int32) -> UInt64 {
        var cookie: UInt64 = 0
        var size = socklen_t(MemoryLayout<UInt64>.size)
        let saved = errno
        defer { errno = saved }
        return getsockopt(fd, SOL_SOCKET, 57 /* SO_COOKIE */, &cookie, &size) == 0 ? cookie : 0
    }
}

// MARK: - Held clients

/// Connections and datagrams admitted by a wait hook, waiting for the
/// daemon's accept() or receive.
final class Held: @unchecked Sendable {
    static let shared = Held()

    struct Connection {
        var fd: Int32
        var peer: sockaddr_storage
        var length: socklen_t
        /// SOCK_NONBLOCK and SOCK_CLOEXEC, as it was accepted.
        var flags: Int32
    }

    struct Datagram {
        var data: [UInt8]
        var control: [UInt8]
        var source: sockaddr_storage
        var sourceLength: socklen_t
        var flags: Int32
    }

    private let lock = cwrap_mutex_new()!
    /// Held connections, oldest first, with their listeners: a short list
    /// (a listener holds one at a time, bar judged ones), searched from the
    /// front; its room is reserved once, so holding allocates nothing.
    private var connections: [(listener: Int32, connection: Connection)] = []
    private var datagrams: [Int32: [Datagram]] = [:]

    init() {
        connections.reserveCapacity(64)
    }

    /// Holds an admitted connection of `listener`. With a `cookie` (a judged
    /// client: time has passed), only if the listener is still the socket
    /// the connection came from. (Held clients are dropped when their
    /// socket is closed through close(), dup2() or dup3(); a wait hook holds
    /// a client for the moment until the daemon's accept() takes it.)
    @discardableResult
    func hold(listener: Int32, cookie: UInt64? = nil, _ c: Connection) -> Bool {
        if let cookie, Kind.cookie(listener) != cookie { return false }
        cwrap_mutex_lock(lock)
        defer { cwrap_mutex_unlock(lock) }
        if !connections.contains(where: { $0.listener == listener }) { mark(listener) }
        connections.append((listener, c))
        return true
    }

    /// The next held connection of `listener`.
    func takeConnection(_ listener: Int32) -> Connection? {
        guard cpreload_kind(listener) & Kind.held != 0 else { return nil }
        cwrap_mutex_lock(lock)
        defer { cwrap_mutex_unlock(lock) }
        guard let i = connections.firstIndex(where: { $0.listener == listener }) else { return nil }
        let c = connections.remove(at: i).connection
        if !connections[i...].contains(where: { $0.listener == listener }) { unmark(listener) }
        return c
    }

    /// Holds an admitted datagram of `fd` (with a `cookie`: only if it is
    /// still the socket whose cookie it came from).
    @discardableResult
    func hold(socket fd: Int32, cookie: UInt64? = nil, _ d: Datagram) -> Bool {
        if let cookie, Kind.cookie(fd) != cookie { return false }
        cwrap_mutex_lock(lock)
        defer { cwrap_mutex_unlock(lock) }
        let first = datagrams[fd] == nil
        datagrams[fd, default: []].append(d)
        if first { mark(fd) }
        return true
    }

    /// The next held datagram of `fd`, taken (or only looked at, for MSG_PEEK).
    func takeDatagram(_ fd: Int32, peek: Bool) -> Datagram? {
        guard cpreload_kind(fd) & Kind.held != 0 else { return nil }
        cwrap_mutex_lock(lock)
        defer { cwrap_mutex_unlock(lock) }
        guard var items = datagrams[fd], !items.isEmpty else { return nil }
        if peek { return items[0] }
        let d = items.removeFirst()
        if items.isEmpty {
            datagrams[fd] = nil
            unmark(fd)
        } else {
            datagrams[fd] = items
        }
        return d
    }

    /// The socket `fd` is gone: its held connections are closed.
    func drop(_ fd: Int32) {
        cwrap_mutex_lock(lock)
        if connections.contains(where: { $0.listener == fd }) {
            for held in connections where held.listener == fd { close(held.connection.fd) }
            connections.removeAll { $0.listener == fd }
            unmark(fd)
        }
        if datagrams.removeValue(forKey: fd) != nil { unmark(fd) }
        cwrap_mutex_unlock(lock)
    }

    /// In a forked child: what the parent holds is the parent's to hand out.
    func forkedChild() {
        cwrap_mutex_lock(lock)
        for held in connections {
            close(held.connection.fd)
            if cpreload_kind(held.listener) & Kind.held != 0 { unmark(held.listener) }
        }
        for (fd, _) in datagrams { unmark(fd) }
        connections.removeAll(keepingCapacity: true)
        datagrams.removeAll()
        cwrap_mutex_unlock(lock)
    }

    private func mark(_ fd: Int32) {
        cpreload_add_kind_bits(fd, Kind.held)
        cpreload_held_total_add(1)
    }

    private func unmark(_ fd: Int32) {
        cpreload_clear_kind_bits(fd, Kind.held)
        cpreload_held_total_add(-1)
    }
}

@_cdecl("swrap_preload_forked_child")
public func c_swrap_preload_forked_child() {
    Judges.shared.forkedChild()
    Held.shared.forkedChild()
    Caches.forkedChild()
}

// MARK: - The filters

enum Readiness {
    /// Whether `fd`, reported readable by the kernel, is readable for the
    /// daemon. Only listeners and datagram sockets are looked at.
    static func ready(_ fd: Int32) -> Bool {
        let k = Kind.of(fd)
        if k & Kind.served == 0 {
            if Kind.filtered(k) && k & Kind.polled == 0 { cpreload_add_kind_bits(fd, Kind.polled) }
            return true
        }
        switch k & Kind.typeMask {
        case Kind.listener: return Shim.busy { listenerReady(fd, k) }
        case Kind.datagram: return Shim.busy { datagramReady(fd, k) }
        default: return true
        }
    }

    /// Whether a held client or a marked socket makes `fd` ready although
    /// the kernel did not say so (or says nothing new: an edge-triggered
    /// epoll).
    @inline(__always)
    static func owed(_ k: UInt32) -> Bool {
        k & (Kind.held | Kind.look) != 0 && Kind.filtered(k)
    }

    /// Pending connections are judged until one is admitted (held for the
    /// daemon's accept(): ready) or none is left (not ready, if any was
    /// refused; if none was, the kernel's word stands: another thread or
    /// process took the connection, and the daemon's accept will say so).
    static func listenerReady(_ fd: Int32, _ k: UInt32) -> Bool {
        if k & Kind.held != 0 { return true }
        if k & Kind.look != 0 { cpreload_clear_kind_bits(fd, Kind.look) }
        var budget = Shim.RefusalBudget()
        var refused = false
        // Accepted with the flags the daemon's last accept4() on this
        // listener asked for (close-on-exec until it has asked), so that
        // handing it out costs nothing.
        let flags = Shim.acceptFlags(fd)
        while true {
            // Never wait here: after the first connection (which the kernel
            // has just reported), take another only if it is there - a
            // blocking listener would otherwise hold the daemon. (For the
            // first, another process may have taken it in between: then
            // this waits as the daemon's own accept() would have.)
            if refused && !Shim.pending(fd) { return false }
            var peer = sockaddr_storage()
            var len = storageSize
            let c = withUnsafeMutablePointer(to: &peer) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Int32(truncatingIfNeeded: cpreload_accept4_direct(fd, $0, &len, flags))
                }
            }
            if c < 0 { return !refused }
            cpreload_set_kind(c, Kind.other)
            switch Shim.judge(listener: fd, fd: c, peer: &peer, length: len, flags: flags) {
            case .admitted:
                Held.shared.hold(listener: fd, Held.Connection(fd: c, peer: peer, length: len, flags: flags))
                return true
            case .refused, .deferred:
                break
            }
            refused = true
            if !budget.spend() {
                cpreload_add_kind_bits(fd, Kind.look)
                return false
            }
        }
    }

    /// The datagram at the head of the queue is judged: ready if it is
    /// admitted (left in the queue) or nothing was refused; refused ones are
    /// taken off until an admitted one or none is left.
    static func datagramReady(_ fd: Int32, _ k: UInt32) -> Bool {
        if k & Kind.held != 0 { return true }
        if k & Kind.look != 0 { cpreload_clear_kind_bits(fd, Kind.look) }
        var budget = Shim.RefusalBudget()
        var refused = false
        while true {
            var source = sockaddr_storage()
            var control = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
            var destination = (UInt64(0), UInt64(0))
            let peeked: (n: Int, length: socklen_t, dlen: Int32) = withUnsafeMutablePointer(to: &source) { s in
                withUnsafeMutableBytes(of: &control) { c in
                    var m = msghdr()
                    m.msg_name = UnsafeMutableRawPointer(s)
                    m.msg_namelen = storageSize
                    m.msg_control = c.baseAddress
                    m.msg_controllen = c.count
                    let n = cpreload_recvmsg_direct(fd, &m, Int32(MSG_PEEK | MSG_DONTWAIT))
                    let d = n >= 0 ? withUnsafeMutableBytes(of: &destination) {
                        cpreload_packet_destination(&m, $0.baseAddress!.assumingMemoryBound(to: UInt8.self))
                    } : 0
                    return (n, m.msg_namelen, d)
                }
            }
            if peeked.n < 0 { return !refused }
            let dest: [UInt8]? = peeked.dlen > 0
                ? withUnsafeBytes(of: &destination) { Array($0.prefix(Int(peeked.dlen))) } : nil
            let admission = withUnsafeMutablePointer(to: &source) {
                Shim.admitDatagram(fd, UnsafeMutableRawPointer($0), peeked.length, destination: dest)
            }
            if admission == .admit { return true }
            // Refused: taken off; could wait: taken off whole, for a judge.
            let taken = admission == .refuse
                ? withUnsafePointer(to: &source, { Shim.takeHead(fd, refused: UnsafeRawPointer($0)) })
                : Shim.takeHead(fd, refused: nil)
            switch taken {
            case .dropped, .deferred: refused = true
            case .held: return true
            case .nothing: return !refused
            }
            if !budget.spend() {
                cpreload_add_kind_bits(fd, Kind.look)
                return false
            }
        }
    }
}

extension Shim {
    enum HeadTaken { case dropped, held, deferred, nothing }

    /// Room for the largest UDP datagram and its control data: one buffer
    /// (static, in CPreload), shared under its lock.
    final class HeadBuffer: @unchecked Sendable {
        static let shared = HeadBuffer()
        let lock = cwrap_mutex_new()!
        let data = cpreload_head_data()!
        let control = cpreload_head_control()!
    }

    /// Takes the datagram at the head of `fd`'s queue off it, whole: after
    /// its peeked source was `refused` (dropped if it is still that one), or
    /// to hand it to a judge (`refused` nil). Another thread may have taken
    /// the peeked one first: whatever is taken is judged, and an admitted
    /// one is held for the next receive rather than lost.
    static func takeHead(_ fd: Int32, refused: UnsafeRawPointer?) -> HeadTaken {
        var source = sockaddr_storage()
        let headLock = HeadBuffer.shared.lock, headBuffer = HeadBuffer.shared.data, headControl = HeadBuffer.shared.control
        cwrap_mutex_lock(headLock)
        var iov = iovec(iov_base: headBuffer, iov_len: 65536)
        var m = msghdr()
        let n = withUnsafeMutablePointer(to: &source) { s in
            withUnsafeMutablePointer(to: &iov) { v in
                m.msg_name = UnsafeMutableRawPointer(s)
                m.msg_namelen = storageSize
                m.msg_iov = v
                m.msg_iovlen = 1
                m.msg_control = headControl
                m.msg_controllen = 1024
                return cpreload_recvmsg_direct(fd, &m, Int32(MSG_DONTWAIT))
            }
        }
        if n < 0 {
            cwrap_mutex_unlock(headLock)
            return .nothing
        }
        let same = refused.map { r in
            withUnsafePointer(to: &source) { Admitted.key(UnsafeRawPointer($0), withPort: true) == Admitted.key(r, withPort: true) }
        } ?? false
        if same {
            cwrap_mutex_unlock(headLock)
            return .dropped
        }
        // Someone else's, or one to judge: keep a copy and judge it outside the lock.
        var d = Held.Datagram(data: Array(UnsafeRawBufferPointer(start: headBuffer, count: n)),
                              control: Array(UnsafeRawBufferPointer(start: headControl, count: Int(m.msg_controllen))),
                              source: source, sourceLength: m.msg_namelen, flags: m.msg_flags)
        var destination = (UInt64(0), UInt64(0))
        let dlen = withUnsafeMutableBytes(of: &destination) {
            cpreload_packet_destination(&m, $0.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        cwrap_mutex_unlock(headLock)
        let dest: [UInt8]? = dlen > 0 ? withUnsafeBytes(of: &destination) { Array($0.prefix(Int(dlen))) } : nil
        switch withUnsafeMutablePointer(to: &d.source, { admitDatagram(fd, UnsafeMutableRawPointer($0), d.sourceLength, destination: dest) }) {
        case .refuse:
            return .dropped
        case .deferred:
            deferDatagram(fd, d, destination: dest)
            return .deferred
        case .admit:
            Held.shared.hold(socket: fd, d)
            return .held
        }
    }
}

// MARK: - epoll registrations

/// The listening and datagram sockets registered with each epoll instance,
/// with the events and data they were registered with: an event names its
/// socket only by that data.
final class Watches: @unchecked Sendable {
    static let shared = Watches()

    struct Watch {
        var fd: Int32
        var events: UInt32
        var data: UInt64
    }

    private let lock = cwrap_mutex_new()!
    private var sets: [Int32: [Watch]] = [:]

    init() {}

    /// After a successful epoll_ctl().
    func update(epoll: Int32, op: Int32, fd: Int32, events: UInt32, data: UInt64) {
        let epk = cpreload_kind(epoll)
        if op == EPOLL_CTL_DEL {
            guard epk & Kind.watching != 0 else { return }
            change(epoll) { $0.removeAll { $0.fd == fd } }
            return
        }
        let k = Kind.of(fd)
        if Kind.filtered(k) {
            change(epoll) { list in
                list.removeAll { $0.fd == fd || $0.data == data }
                list.append(Watch(fd: fd, events: events, data: data))
            }
        } else if epk & Kind.watching != 0 {
            // Another descriptor now stands behind that data (a number reused).
            change(epoll) { $0.removeAll { $0.data == data || $0.fd == fd } }
        }
    }

    private func change(_ epoll: Int32, _ body: (inout [Watch]) -> Void) {
        cwrap_mutex_lock(lock)
        var list = sets[epoll] ?? []
        body(&list)
        if list.isEmpty {
            sets[epoll] = nil
            cpreload_clear_kind_bits(epoll, Kind.watching)
        } else {
            sets[epoll] = list
            cpreload_add_kind_bits(epoll, Kind.watching)
        }
        cwrap_mutex_unlock(lock)
    }

    func list(_ epoll: Int32) -> [Watch] {
        cwrap_mutex_lock(lock)
        defer { cwrap_mutex_unlock(lock) }
        return sets[epoll] ?? []
    }

    func drop(epoll: Int32) {
        cwrap_mutex_lock(lock)
        sets[epoll] = nil
        cwrap_mutex_unlock(lock)
    }
}
