// Replies.swift - datagrams that answer the daemon's own queries.
//
// A daemon can be a client too, on the same kind of socket it serves from:
// dnsmasq forwards queries to its upstream resolvers through unconnected UDP
// sockets and reads the answers there. Those answers are not requests; judged
// as requests, they were refused (`refused connect from` the upstream) and
// every forwarded query timed out. So the shim remembers where the daemon
// sends datagrams (sendto, sendmsg, sendmmsg with an explicit destination):
// a datagram that comes back on the same socket from an address and port
// the daemon first sent to less than 10 seconds ago is an answer, delivered
// without a verdict. (The window is not renewed by later sends: a client
// the daemon keeps answering is judged again 10 seconds on, so a table
// edit that refuses it takes effect within 10 seconds.) Every other datagram is judged as before. A client the
// shim refuses is never answered, so it never becomes such a peer; an
// attacker who can forge the upstream's address and port could slip a
// datagram through - as one who forges an admitted client's address can
// anyway (see README, limits).

import CPreload
import CSystem
import CWrap
import WrapABI
import WrapCore

final class ExpectedReplies: @unchecked Sendable {
    static let shared = ExpectedReplies()
    /// (socket, peer address and port) -> sent to; 4,096 in use, 4,096 new.
    private let peers = SharedCache<EndpointKey, Bool>(capacity: 4096, ttl: 10)

    /// The socket's identity (SO_COOKIE, unique while the system runs; a
    /// reused descriptor number is another socket) and the peer's family,
    /// port and address.
    private static func key(_ facts: SocketFacts.Facts, _ peer: UnsafeRawPointer) -> EndpointKey? {
        EndpointKey(cookie: facts.cookie != 0 ? facts.cookie : UInt64(UInt32(bitPattern: facts.fd)), peer: peer)
    }

    /// The daemon sent a datagram from `fd` to `peer`. Only unconnected
    /// UDP sockets matter (only their datagrams are judged).
    func sent(_ fd: Int32, to peer: UnsafeRawPointer, _ length: socklen_t) {
        guard Shim.isInet(peer, length), Kind.of(fd) & Kind.typeMask == Kind.datagram,
              let k = ExpectedReplies.key(SocketFacts.shared.facts(fd), peer) else { return }
        peers.putIfAbsent(k, true)
    }

    /// Whether a datagram from `source` on the socket `facts` describes
    /// answers one the daemon sent.
    func isReply(_ facts: SocketFacts.Facts, from source: UnsafeRawPointer) -> Bool {
        guard let k = ExpectedReplies.key(facts, source) else { return false }
        return peers.get(k) != nil
    }
}

// MARK: - The hooks: the real call, then a note of where it went.
//
// They never wait beyond the real call; errno is the real call's. Noting a
// destination takes a lock and may allocate: not for signal handlers (the
// pass-through paths, without a destination or when it is not IP, do
// neither).

@_cdecl("sendto")
public func hook_sendto(_ fd: Int32, _ buf: UnsafeRawPointer?, _ len: Int, _ flags: Int32,
                        _ addr: UnsafePointer<sockaddr>?, _ addrlen: socklen_t) -> Int {
    guard let real = Real.shared.sendto else { errno = ENOSYS; return -1 }
    let n = real(fd, buf, len, flags, addr, addrlen)
    if n >= 0, let addr, cwrap_hook_busy() == 0 {
        let saved = errno
        ExpectedReplies.shared.sent(fd, to: UnsafeRawPointer(addr), addrlen)
        errno = saved
    }
    return n
}

@_cdecl("sendmsg")
public func hook_sendmsg(_ fd: Int32, _ msg: UnsafePointer<msghdr>?, _ flags: Int32) -> Int {
    guard let real = Real.shared.sendmsg else { errno = ENOSYS; return -1 }
    let n = real(fd, msg, flags)
    if n >= 0, let msg, let name = msg.pointee.msg_name, cwrap_hook_busy() == 0 {
        let saved = errno
        ExpectedReplies.shared.sent(fd, to: UnsafeRawPointer(name), msg.pointee.msg_namelen)
        errno = saved
    }
    return n
}

@_cdecl("sendmmsg")
public func hook_sendmmsg(_ fd: Int32, _ vec: UnsafeMutablePointer<cwrap_mmsghdr>?, _ count: UInt32, _ flags: Int32) -> Int32 {
    guard let real = Real.shared.sendmmsg else { errno = ENOSYS; return -1 }
    let n = real(fd, vec, count, flags)
    if n > 0, let vec, cwrap_hook_busy() == 0 {
        let saved = errno
        for i in 0..<Int(n) {
            if let name = vec[i].msg_hdr.msg_name {
                ExpectedReplies.shared.sent(fd, to: UnsafeRawPointer(name), vec[i].msg_hdr.msg_namelen)
            }
        }
        errno = saved
    }
    return n
}
