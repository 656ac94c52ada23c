// Pattern.swift - one word of a daemon or client list, compiled.
//
// A rule's words are classified once, when the table is compiled, in the
// order libwrap's host_match() and string_match() test them; matching then
// only compares. See hosts_access(5).

/// string_match(): how a word compares with a daemon name, user name, host
/// name or host address.
public enum StringPattern: Sendable, Equatable {
    case suffix(Bytes)       // ".example.com"
    case all                 // "ALL"
    case known               // "KNOWN": anything but "unknown"
    case wildcard(Bytes)     // "*" and "?" (tested before the prefix form)
    case prefix(Bytes)       // "192.168."
    case ipv6([UInt8]?)      // "[::1]"; nil when the literal does not parse
    case exact(Bytes)

    public init(_ tok: Bytes) {
        // Debian tests for a wildcard before anything else: ".ex*.com" is a
        // pattern that must match from the first byte, not a suffix.
        if tok.contains(UInt8(ascii: "*")) || tok.contains(UInt8(ascii: "?")) {
            self = .wildcard(Self.debianGlob(tok))
        } else if tok.first == UInt8(ascii: ".") {
            self = .suffix(tok)
        } else if caseEqual(tok, Lit.all) {
            self = .all
        } else if caseEqual(tok, Lit.known) {
            self = .known
        } else if tok.last == UInt8(ascii: ".") {
            self = .prefix(tok)
        } else if tok.count >= 2 && tok.first == UInt8(ascii: "[") && tok.last == UInt8(ascii: "]") {
            self = .ipv6(parseIPv6(Array(tok[1..<(tok.count - 1)])))
        } else {
            self = .exact(tok)
        }
    }

    /// Debian's matcher (match_pattern_ylo) lets a run of two or more `*`
    /// at the end of a pattern match only a non-empty rest: "10.0.0**"
    /// misses "10.0.0". Everywhere else a run of `*` is one `*`. Such a run
    /// is rewritten to "?*", which means exactly that, so that globMatch()
    /// stays an ordinary glob.
    static func debianGlob(_ tok: Bytes) -> Bytes {
        var run = 0
        while run < tok.count && tok[tok.count - 1 - run] == UInt8(ascii: "*") { run += 1 }
        guard run >= 2 else { return tok }
        return Array(tok[..<(tok.count - run)]) + [UInt8(ascii: "?"), UInt8(ascii: "*")]
    }

    public func matches(_ input: Bytes) -> Bool { matches(Subject(input)) }

    @inline(__always)
    public func matches(_ subject: Subject) -> Bool {
        let s = subject.text
        switch self {
        case .suffix(let t):
            return s.count > t.count && caseEqual(s[(s.count - t.count)...], t)
        case .all:
            return true
        case .known:
            return !caseEqual(s, Lit.unknown)
        case .prefix(let t):
            return casePrefixEqual(t, s)
        case .wildcard(let t):
            return globMatch(t[...], s[...])
        case .ipv6(let a):
            guard let a, let b = subject.v6 else { return false }
            return a == b
        case .exact(let t):
            return caseEqual(t, s)
        }
    }
}

/// `*` any run, `?` any one byte, everything else itself (ignoring case).
func globMatch(_ p: ArraySlice<UInt8>, _ s: ArraySlice<UInt8>) -> Bool {
    var pi = p.startIndex, si = s.startIndex
    var starP = -1, starS = -1
    while si < s.endIndex {
        if pi < p.endIndex && (p[pi] == UInt8(ascii: "?") || (p[pi] != UInt8(ascii: "*") && asciiLower(p[pi]) == asciiLower(s[si]))) {
            pi += 1; si += 1
        } else if pi < p.endIndex && p[pi] == UInt8(ascii: "*") {
            starP = pi; starS = si; pi += 1
        } else if starP >= 0 {
            pi = starP + 1; starS += 1; si = starS
        } else {
            return false
        }
    }
    while pi < p.endIndex && p[pi] == UInt8(ascii: "*") { pi += 1 }
    return pi == p.endIndex
}

/// net/mask: an IPv4 network with a dotted or CIDR mask, or [IPv6]/length.
public enum MaskedPattern: Sendable, Equatable {
    case v4(net: UInt32, mask: UInt32?)     // mask nil: the mask is bad, never matches
    case v6(net: [UInt8]?, bits: Int)       // net nil or bits out of range: never matches

    init(net: Bytes, mask: Bytes) {
        let n = dotQuadAddr(net)
        if n != inaddrNone {
            var m: UInt32? = dotQuadAddr(mask)
            if m == inaddrNone {
                // Not a dotted mask (255.255.255.255 included): a prefix length, or bad.
                let c = cidrMaskAddr(mask)
                m = c == 0 ? nil : c
            }
            self = .v4(net: n, mask: m)
        } else {
            var addr: [UInt8]? = nil
            if net.count >= 2 && net.first == UInt8(ascii: "[") && net.last == UInt8(ascii: "]") {
                addr = parseIPv6(Array(net[1..<(net.count - 1)]))
            }
            self = .v6(net: addr, bits: strtolBase10(mask))
        }
    }

    func matches(_ input: Bytes) -> Bool { matches(Subject(input)) }

    @inline(__always)
    func matches(_ subject: Subject) -> Bool {
        switch self {
        case .v4(let net, let mask):
            guard let mask else { return false }
            let a = subject.v4
            if a == inaddrNone { return false }
            return a & mask == net
        case .v6(let net, let bits):
            guard let net, bits >= 0, bits <= 128, let a = subject.v6 else { return false }
            var left = bits, i = 0
            while left > 0 {
                if left < 8 {
                    let m = UInt8(truncatingIfNeeded: 0xFF << (8 - left))
                    return a[i] & m == net[i] & m
                }
                if a[i] != net[i] { return false }
                i += 1; left -= 8
            }
            return true
        }
    }
}

/// host_match(): how a word compares with one end of the connection.
public enum HostPattern: Sendable, Equatable {
    case netgroup(Bytes)      // "@group"
    case file(Bytes)          // "/path": more words, one per white-space run
    case known                // "KNOWN": name and address both known
    case local                // "LOCAL": a known name without a dot
    case masked(MaskedPattern)
    case plain(StringPattern, mayBeName: Bool)

    public init(_ tok: Bytes) {
        if tok.first == UInt8(ascii: "@") {
            self = .netgroup(Array(tok.dropFirst()))
        } else if tok.first == UInt8(ascii: "/") {
            self = .file(tok)
        } else if caseEqual(tok, Lit.known) {
            self = .known
        } else if caseEqual(tok, Lit.local) {
            self = .local
        } else if let (net, mask) = splitAt(tok[...], UInt8(ascii: "/")) {
            self = .masked(MaskedPattern(net: Array(net), mask: Array(mask)))
        } else {
            self = .plain(StringPattern(tok), mayBeName: notInaddr(tok))
        }
    }
}

/// The daemon part of a daemon-list word: a name pattern, or a server port
/// number (a word that sscanf("%u") reads whole, up to 65535).
public enum DaemonPattern: Sendable, Equatable {
    case port(Int)
    case name(StringPattern)

    public init(_ tok: Bytes) {
        if let n = scanUnsigned(tok), n <= 0xFFFF {
            self = .port(n)
        } else {
            self = .name(StringPattern(tok))
        }
    }
}

/// sscanf(s, "%u%c") == 1: blanks, a sign, digits, and nothing after.
/// A negative number wraps as in C (and so is never a port, but "-0").
func scanUnsigned(_ s: Bytes) -> Int? {
    guard let v = Options.scanInteger(s, octal: false) else { return nil }
    return v < 0 ? 0x1_0000_0000 - min(-v, 0xFFFF_FFFF) : v
}

/// A word of a daemon list: `daemon` or `daemon@host`.
public struct ServerPattern: Sendable, Equatable {
    public var daemon: DaemonPattern
    public var host: HostPattern?

    public init(_ tok: Bytes) {
        if !tok.isEmpty, let (_, host) = splitAt(tok[1...], UInt8(ascii: "@")) {
            daemon = DaemonPattern(Array(tok[..<(host.startIndex - 1)]))
            self.host = HostPattern(Array(host))
        } else {
            daemon = DaemonPattern(tok)
            host = nil
        }
    }
}

/// A word of a client list: `host` or `user@host`.
public struct ClientPattern: Sendable, Equatable {
    public var user: StringPattern?
    public var host: HostPattern

    public init(_ tok: Bytes) {
        if !tok.isEmpty, let (_, host) = splitAt(tok[1...], UInt8(ascii: "@")) {
            user = StringPattern(Array(tok[..<(host.startIndex - 1)]))
            self.host = HostPattern(Array(host))
        } else {
            user = nil
            host = HostPattern(tok)
        }
    }
}

/// A list with EXCEPT clauses, as a flat sequence of words and separators.
public enum ListItem<P: Sendable & Equatable>: Sendable, Equatable {
    case except
    case pattern(P)
}

func compileList<P>(_ s: ArraySlice<UInt8>, _ make: (Bytes) -> P) -> [ListItem<P>] {
    listTokens(s).map { caseEqual($0, Lit.except) ? .except : .pattern(make($0)) }
}
