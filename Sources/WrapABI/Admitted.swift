// Admitted.swift - connections the preload shim has already admitted.
//
// A daemon that links libwrap and is also run under the shim would check each
// connection twice, and run a rule's options twice. The shim records what it
// admits, under the daemon name it judged it for; hosts_access() then grants
// a request for the same daemon name and the same connection without looking
// at the tables again. A request under another name (rpc.mountd judged by
// the shim, "mountd" asking itself) is checked as usual. In libwrap.so.0
// alone the registry stays empty.

import CWrap
import CSystem
import WrapCore

public final class Admitted: @unchecked Sendable {
    public static let shared = Admitted()

    private let lock = cwrap_mutex_new()!
    private var used = false
    /// Whether to keep records at all: only when the process has a libwrap
    /// of its own to ask us (the shim decides, once).
    private var enabled = false

    public func enable(_ on: Bool) {
        cwrap_mutex_lock(lock)
        enabled = on
        cwrap_mutex_unlock(lock)
    }
    /// Descriptor -> daemon name and peer address of an admitted connection.
    private var streams: [Int32: [UInt8]] = [:]
    /// Recently admitted (daemon name, source address and port) and when,
    /// for requests that carry only RQ_CLIENT_SIN (rpcbind, rpc.mountd).
    private var recent: [[UInt8]: Double] = [:]
    private static let recentLimit = 4096
    private static let recentSeconds = 10.0

    init() {}

    /// The record of a daemon name and a peer: the name, a NUL, the address.
    static func record(_ daemon: [UInt8], _ sa: UnsafeRawPointer) -> [UInt8]? {
        guard let k = key(sa) else { return nil }
        return daemon + [0] + k
    }

    /// The family, port and address bytes of a socket address (the port
    /// zeroed when `withPort` is false: a verdict or a name cannot depend on it).
    public static func key(_ sa: UnsafeRawPointer, withPort: Bool = true) -> [UInt8]? {
        let family = sa.load(as: sa_family_t.self)
        var k: [UInt8]
        if family == sa_family_t(AF_INET) {
            k = Array(UnsafeRawBufferPointer(start: sa, count: 8))
        } else if family == sa_family_t(AF_INET6) {
            k = Array(UnsafeRawBufferPointer(start: sa, count: 4)) + Array(UnsafeRawBufferPointer(start: sa + 8, count: 16))
        } else {
            return nil
        }
        if !withPort { k[2] = 0; k[3] = 0 }
        return k
    }

    /// Set once, at load time, before any thread can ask: read without the lock.
    private var keeping: Bool { enabled }

    public func admitStream(fd: Int32, peer: UnsafeRawPointer, daemon: [UInt8]) {
        guard keeping, let k = Admitted.record(daemon, peer) else { return }
        cwrap_mutex_lock(lock)
        defer { cwrap_mutex_unlock(lock) }
        guard enabled else { return }
        used = true
        streams[fd] = k
        remember(k)
    }

    public func admitDatagram(source: UnsafeRawPointer, daemon: [UInt8]) {
        guard keeping, let k = Admitted.record(daemon, source) else { return }
        cwrap_mutex_lock(lock)
        defer { cwrap_mutex_unlock(lock) }
        guard enabled else { return }
        used = true
        remember(k)
    }

    private func remember(_ k: [UInt8]) {
        let t = monotonicSeconds()
        if recent.count >= Admitted.recentLimit && recent[k] == nil {
            recent = recent.filter { t - $0.value < Admitted.recentSeconds }
            if recent.count >= Admitted.recentLimit { recent.removeAll() }
        }
        recent[k] = t
    }

    /// Whether the request is for a connection or source the shim admitted
    /// under the same daemon name.
    func covers(_ r: RequestPtr) -> Bool {
        cwrap_mutex_lock(lock)
        defer { cwrap_mutex_unlock(lock) }
        if !used { return false }
        let daemon = bytes(Fields.daemon(r))
        let fd = r.pointee.fd
        if fd >= 0, let k = streams[fd] {
            var ss = sockaddr_storage()
            var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let ok = withUnsafeMutablePointer(to: &ss) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &len) }
            }
            let now = ok == 0 ? withUnsafePointer(to: &ss, { Admitted.record(daemon, UnsafeRawPointer($0)) }) : nil
            if let now, now == k { return true }
            if ok != 0 { streams[fd] = nil }  // that connection is gone
        }
        if let sin = r.pointee.client.sin, let k = Admitted.record(daemon, UnsafeRawPointer(sin)) {
            let limit = monotonicSeconds() - Admitted.recentSeconds
            if let t = recent[k], t >= limit { return true }
        }
        return false
    }
}
