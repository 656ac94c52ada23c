// Address.swift - the numeric address forms of the rule language.
//
// dot_quad_addr() (four dotted parts, then inet_addr(), so octal and hex parts
// count), cidr_mask_addr() (a prefix length 1..32 as a mask) and IPv6 literals
// as libwrap parses them with getaddrinfo(AI_NUMERICHOST). All pure functions.


import CSystem

public let inaddrNone: UInt32 = 0xFFFF_FFFF

/// dot_quad_addr(): exactly four runs of non-dot bytes, then inet_addr().
/// The result is in network byte order, as libwrap returns it.
public func dotQuadAddr(_ s: Bytes) -> UInt32 {
    var runs = 0
    var inRun = false
    for c in s {
        if c == 0 { break }
        if c == UInt8(ascii: ".") {
            inRun = false
        } else if !inRun {
            inRun = true
            runs += 1
        }
    }
    if runs != 4 { return inaddrNone }
    return inetAddr(s) ?? inaddrNone
}

/// glibc's inet_addr(): up to four parts, each read by strtoul(base 0)
/// (decimal, 0 octal, 0x hex); the last part fills the remaining bytes; the
/// text may end with white space followed by anything. Network byte order.
func inetAddr(_ s: Bytes) -> UInt32? {
    // Up to three leading parts, kept in one word (no allocation: this
    // runs for every request).
    var parts: UInt32 = 0
    var partCount = 0
    var i = 0
    @inline(__always) func at(_ k: Int) -> UInt8 { k < s.count ? s[k] : 0 }
    @inline(__always) func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
    while true {
        guard isDigit(at(i)) else { return nil }
        var value: UInt64 = 0
        var overflow = false
        if at(i) == UInt8(ascii: "0") && (at(i + 1) | 0x20) == UInt8(ascii: "x") && hexValue(at(i + 2)) != nil {
            i += 2
            while let h = hexValue(at(i)) {
                value = value &* 16 &+ UInt64(h); if value > 0xFFFF_FFFF { overflow = true }
                i += 1
            }
        } else if at(i) == UInt8(ascii: "0") {
            while at(i) >= 0x30 && at(i) <= 0x37 {
                value = value &* 8 &+ UInt64(at(i) - 0x30); if value > 0xFFFF_FFFF { overflow = true }
                i += 1
            }
        } else {
            while isDigit(at(i)) {
                value = value &* 10 &+ UInt64(at(i) - 0x30); if value > 0xFFFF_FFFF { overflow = true }
                i += 1
            }
        }
        if overflow { return nil }
        let c = at(i)
        if c == UInt8(ascii: ".") {
            if partCount >= 3 || value > 0xFF { return nil }
            parts |= UInt32(value) << UInt32(24 - 8 * partCount)
            partCount += 1
            i += 1
            continue
        }
        if c != 0 && !(c == 0x20 || (c >= 0x09 && c <= 0x0D)) { return nil }
        // The last part fills the bytes the others left.
        let limit: UInt64 = partCount == 0 ? 0xFFFF_FFFF : partCount == 1 ? 0xFF_FFFF : partCount == 2 ? 0xFFFF : 0xFF
        if value > limit { return nil }
        return (parts | UInt32(value)).bigEndian
    }
}

@inline(__always) func hexValue(_ c: UInt8) -> UInt8? {
    switch c {
    case 0x30...0x39: return c - 0x30
    case 0x61...0x66: return c - 0x61 + 10
    case 0x41...0x46: return c - 0x41 + 10
    default: return nil
    }
}

/// cidr_mask_addr(): strtol(s, 0, 10) in 1...32 gives a network-order mask, else 0.
public func cidrMaskAddr(_ s: Bytes) -> UInt32 {
    let bits = strtolBase10(s)
    if bits < 1 || bits > 32 { return 0 }
    return (UInt32.max << UInt32(32 - bits)).bigEndian
}

/// strtol(s, 0, 10) / atoi(s): leading white space, a sign, digits; saturating.
public func strtolBase10(_ s: Bytes) -> Int {
    var i = 0
    while i < s.count, s[i] == 0x20 || (s[i] >= 0x09 && s[i] <= 0x0D) { i += 1 }
    var negative = false
    if i < s.count, s[i] == UInt8(ascii: "-") || s[i] == UInt8(ascii: "+") {
        negative = s[i] == UInt8(ascii: "-")
        i += 1
    }
    var v = 0
    while i < s.count, s[i] >= 0x30, s[i] <= 0x39 {
        if v < Int.max / 20 { v = v * 10 + Int(s[i] - 0x30) }
        i += 1
    }
    return negative ? -v : v
}

/// An IPv6 address literal as getaddrinfo(AF_INET6, AI_NUMERICHOST) accepts it:
/// the address bytes (a scope suffix is accepted and ignored, as libwrap
/// ignores it when comparing), or nil.
public func parseIPv6(_ s: Bytes) -> [UInt8]? {
    var text = s
    if let nul = text.firstIndex(of: 0) { text.removeSubrange(nul...) }
    if let pct = text.firstIndex(of: UInt8(ascii: "%")) {
        let scope = Array(text[(pct + 1)...])
        text.removeSubrange(pct...)
        if scope.isEmpty { return nil }
        if !scope.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
            var name = scope
            name.append(0)
            let index = name.withUnsafeBufferPointer { p in
                p.baseAddress!.withMemoryRebound(to: CChar.self, capacity: name.count) { if_nametoindex($0) }
            }
            if index == 0 { return nil }
        }
    }
    text.append(0)
    var out = [UInt8](repeating: 0, count: 16)
    let ok = text.withUnsafeBufferPointer { p in
        p.baseAddress!.withMemoryRebound(to: CChar.self, capacity: text.count) { cs in
            out.withUnsafeMutableBytes { inet_pton(AF_INET6, cs, $0.baseAddress) }
        }
    }
    return ok == 1 ? out : nil
}

/// True for ::ffff:a.b.c.d addresses (IN6_IS_ADDR_V4MAPPED).
func isV4Mapped(_ a: [UInt8]) -> Bool {
    a.count == 16 && a[0..<10].allSatisfy { $0 == 0 } && a[10] == 0xFF && a[11] == 0xFF
}

/// string_match() and masked_match() see "::ffff:a.b.c.d" as "a.b.c.d".
func unmapped(_ s: Bytes) -> Bytes {
    if s.count > 7 && casePrefixEqual(Lit.mappedPrefix, s) {
        let rest = Array(s[7...])
        if dotQuadAddr(rest) != inaddrNone { return rest }
    }
    return s
}
