// Bytes.swift - byte strings as libwrap sees them.
//
// Tables are bytes, not text: a rule may hold any byte but NUL, and libwrap
// compares names with strcasecmp() in the C locale. These helpers give the
// engine exactly those semantics without going through String.

public typealias Bytes = [UInt8]

@inline(__always) func asciiLower(_ c: UInt8) -> UInt8 {
    (c >= 0x41 && c <= 0x5A) ? c | 0x20 : c
}

/// The first `a.count` bytes of `a` and `b` equal, ignoring ASCII case
/// (`b` at least as long). Through the buffers: no bounds check per byte.
@inline(__always) private func caseEqualHead(_ a: Bytes, _ b: Bytes) -> Bool {
    a.withUnsafeBufferPointer { x in
        b.withUnsafeBufferPointer { y in
            var i = 0
            while i < x.count {
                if x[i] != y[i] && asciiLower(x[i]) != asciiLower(y[i]) { return false }
                i += 1
            }
            return true
        }
    }
}

/// strcasecmp(a, b) == 0
@inline(__always) func caseEqual(_ a: Bytes, _ b: Bytes) -> Bool {
    a.count == b.count && caseEqualHead(a, b)
}

@inline(__always) func caseEqual(_ a: ArraySlice<UInt8>, _ b: Bytes) -> Bool {
    if a.count != b.count { return false }
    var j = 0
    for c in a {
        if asciiLower(c) != asciiLower(b[j]) { return false }
        j += 1
    }
    return true
}

/// strncasecmp(a, b, n) == 0, where both are C strings (shorter ends compare as NUL).
func casePrefixEqual(_ prefix: Bytes, _ s: Bytes) -> Bool {
    s.count >= prefix.count && caseEqualHead(prefix, s)
}

extension Array where Element == UInt8 {
    /// The bytes of a Swift string (for literals in the engine).
    public init(ascii s: StaticString) {
        self = Array(UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
    }

    /// The text, for diagnostics: one Unicode scalar per byte (Latin-1), so
    /// that any byte survives into a log line unchanged (see `latin1Bytes`).
    public var text: String {
        var s = String()
        s.unicodeScalars.append(contentsOf: self.map { Unicode.Scalar($0) })
        return s
    }
}

/// Array literals of constants, which the compiler lays out in the
/// library's data: nothing allocated at load, nothing to free at unload.
enum Lit {
    static let all: Bytes = [0x41, 0x4C, 0x4C]                              // ALL
    static let known: Bytes = [0x4B, 0x4E, 0x4F, 0x57, 0x4E]                // KNOWN
    static let local: Bytes = [0x4C, 0x4F, 0x43, 0x41, 0x4C]                // LOCAL
    static let except: Bytes = [0x45, 0x58, 0x43, 0x45, 0x50, 0x54]         // EXCEPT
    static let unknown: Bytes = [0x75, 0x6E, 0x6B, 0x6E, 0x6F, 0x77, 0x6E]  // unknown
    static let paranoid: Bytes = [0x70, 0x61, 0x72, 0x61, 0x6E, 0x6F, 0x69, 0x64]  // paranoid
    static let mappedPrefix: Bytes = [0x3A, 0x3A, 0x66, 0x66, 0x66, 0x66, 0x3A]  // ::ffff:
}

/// HOSTNAME_KNOWN(): neither "unknown" nor "paranoid".
@inline(__always) func hostnameKnown(_ s: Bytes) -> Bool {
    !caseEqual(s, Lit.unknown) && !caseEqual(s, Lit.paranoid)
}

/// NOT_INADDR(): the token holds a byte other than digits, '.' and '/'.
func notInaddr(_ s: Bytes) -> Bool {
    for c in s where !((c >= 0x30 && c <= 0x39) || c == 0x2E || c == 0x2F) { return true }
    return false
}

/// split_at(): the first delimiter outside [brackets] ends the head.
/// Returns nil when there is none. The bracket depth may go negative, as in libwrap.
public func splitAt(_ s: ArraySlice<UInt8>, _ delimiter: UInt8) -> (head: ArraySlice<UInt8>, tail: ArraySlice<UInt8>)? {
    var depth = 0
    var i = s.startIndex
    while i < s.endIndex {
        let c = s[i]
        if c == UInt8(ascii: "[") {
            depth += 1
        } else if c == UInt8(ascii: "]") {
            depth -= 1
        } else if depth == 0 && c == delimiter {
            return (s[s.startIndex..<i], s[(i + 1)..<s.endIndex])
        }
        i += 1
    }
    return nil
}

/// strtok() with libwrap's list separators: the non-empty runs between them.
func listTokens(_ s: ArraySlice<UInt8>) -> [Bytes] {
    var out: [Bytes] = []
    var cur: Bytes = []
    for c in s {
        if c == 0x2C || c == 0x20 || c == 0x09 || c == 0x0D || c == 0x0A {
            if !cur.isEmpty { out.append(cur); cur.removeAll(keepingCapacity: true) }
        } else {
            cur.append(c)
        }
    }
    if !cur.isEmpty { out.append(cur) }
    return out
}

extension Array where Element == UInt8 {
    /// The first `n` characters as text, as Swift's String.prefix(n) counts
    /// them for Latin-1 text (a CR LF pair is one character), without the
    /// Unicode tables that String.prefix needs.
    public func textPrefix(_ n: Int) -> String {
        var end = 0, characters = 0
        while end < count && characters < n {
            end += (self[end] == 13 && end + 1 < count && self[end + 1] == 10) ? 2 : 1
            characters += 1
        }
        return Array(self[..<end]).text
    }
}

extension String {
    /// The bytes of a diagnostic built from `text` pieces: scalars below 256
    /// are single bytes; anything else (never produced here) is UTF-8.
    public var latin1Bytes: Bytes {
        var out = Bytes()
        for u in unicodeScalars {
            if u.value < 256 { out.append(UInt8(u.value)) } else { out += Array(String(u).utf8) }
        }
        return out
    }
}
