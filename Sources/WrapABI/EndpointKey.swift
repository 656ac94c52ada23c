// EndpointKey.swift - socket addresses as fixed-size cache keys.
//
// The shim looks a cache up for every datagram it receives and notes every
// datagram the daemon sends: keys built as arrays cost an allocation or
// three each time. These are six words, built from the socket addresses
// in place.

import CSystem
import CWrap

/// Two IPv4/IPv6 endpoints (family, port and address; three words each),
/// or a socket's cookie and an endpoint.
public struct EndpointKey: Hashable, Sendable {
    var a: UInt64 = 0, b: UInt64 = 0, c: UInt64 = 0
    var d: UInt64 = 0, e: UInt64 = 0, f: UInt64 = 0

    /// The family, port and address of `sa` (the port zeroed when
    /// `withPort` is false); nil for anything but AF_INET and AF_INET6.
    @inline(__always)
    static func words(_ sa: UnsafeRawPointer, withPort: Bool) -> (UInt64, UInt64, UInt64)? {
        let family = sa.loadUnaligned(as: sa_family_t.self)
        let port = withPort ? UInt64(sa.loadUnaligned(fromByteOffset: 2, as: UInt16.self)) : 0
        if family == sa_family_t(AF_INET) {
            return (UInt64(family) | port << 16 | UInt64(sa.loadUnaligned(fromByteOffset: 4, as: UInt32.self)) << 32, 0, 0)
        }
        if family == sa_family_t(AF_INET6) {
            return (UInt64(family) | port << 16,
                    sa.loadUnaligned(fromByteOffset: 8, as: UInt64.self),
                    sa.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
        }
        return nil
    }

    /// A datagram's source without its port (a verdict cannot depend on
    /// it) and the local endpoint it came to, when known.
    public init?(source: UnsafeRawPointer, local: UnsafeRawPointer?) {
        guard let (x, y, z) = Self.words(source, withPort: false) else { return nil }
        (a, b, c) = (x, y, z)
        if let local, let (u, v, w) = Self.words(local, withPort: true) { (d, e, f) = (u, v, w) }
    }

    /// The words an IPv4 endpoint leaves zero are not hashed (equal keys
    /// still hash alike): a hash costs a SipHash round a word.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(a)
        if b | c != 0 { hasher.combine(b); hasher.combine(c) }
        hasher.combine(d)
        if e | f != 0 { hasher.combine(e); hasher.combine(f) }
    }

    /// A peer, with its port, of the socket whose cookie is `cookie`.
    public init?(cookie: UInt64, peer: UnsafeRawPointer) {
        guard let (x, y, z) = Self.words(peer, withPort: true) else { return nil }
        (a, b, c) = (x, y, z)
        d = cookie
    }
}
