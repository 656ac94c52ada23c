// Subject.swift - a value a pattern is compared with, prepared once.
//
// A request's daemon name, user, host names and addresses are each compared
// with many patterns. Their derived forms - the IPv4-mapped prefix removed,
// the dotted-quad value, the IPv6 bytes - are computed once per request here,
// not once per pattern.

public struct Subject: Sendable {
    /// The value as the request holds it (what %-expansions and KNOWN see).
    public let raw: Bytes
    /// string_match()'s view: "::ffff:a.b.c.d" is "a.b.c.d".
    public let text: Bytes
    /// dot_quad_addr(text): network order, or inaddrNone.
    public let v4: UInt32
    /// The IPv6 address in `text`, if it is one.
    public let v6: [UInt8]?
    /// `text` in lower case (the same storage when it has no capitals):
    /// the form the indexes are keyed by.
    public let folded: Bytes
    /// The address as a number (host order) when `text` is known to be a
    /// canonical dotted quad; nil when not known (the index then reads `text`).
    public let canonicalV4: UInt32?

    public init(_ raw: Bytes) {
        self.raw = raw
        let t = unmapped(raw)
        text = t
        v4 = dotQuadAddr(t)
        v6 = t.contains(UInt8(ascii: ":")) ? parseIPv6(t) : nil
        folded = t.contains(where: { $0 >= 0x41 && $0 <= 0x5A }) ? t.map(asciiLower) : t
        canonicalV4 = nil
    }

    /// An IPv4 address taken from a socket address: `raw` is its dotted
    /// quad as the request holds it, `address` the four bytes as they are
    /// in memory (network order). Nothing is parsed.
    public init(dottedQuad raw: Bytes, address: UInt32) {
        self.raw = raw
        text = raw
        folded = raw
        v4 = address
        v6 = nil
        canonicalV4 = UInt32(bigEndian: address)
    }
}
