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

    public init(_ raw: Bytes) {
        self.raw = raw
        let t = unmapped(raw)
        text = t
        v4 = dotQuadAddr(t)
        v6 = t.contains(UInt8(ascii: ":")) ? parseIPv6(t) : nil
    }
}
