// ClientIndex.swift - rules found by the client's address and name, not by a walk.
//
// fail2ban appends one `ALL: <address>` line per banned host, and sites keep
// long lists of allowed networks and domains: rules whose match depends only
// on the daemon name (or server port) and the client's address and name.
// Comparing an address has no side effect - no lookup, no warning - so such
// a rule is visible only when it matches, and the matcher may find the first
// one that matches through this index instead of trying each in turn.
//
// A rule qualifies when its daemon list names no server host (`daemon@host`
// would look the server up) and every word of its client list is one of:
// an exact numeric address, an `n.n.n.` prefix, `net/mask`, `[v6]` or
// `[v6]/len`, ALL, a host name or a `.domain` - with no EXCEPT and no
// `user@`. Words that never match (a bad mask, an unparsable IPv6 literal)
// add nothing. The index maps each word's key to the rules holding it, in
// table order; a request looks up its address text, each of its `n.n.n.`
// prefixes and `.domain` suffixes, its address under each IPv4 mask and IPv6
// prefix length in use, and the ALL list, and keeps the earliest rule whose
// daemon list also matches.
//
// A host name or `.domain` word is compared with the address first, then
// with the client's name - which libwrap looks up at the first such word it
// reaches. That lookup is a side effect (DNS, and warnings logged at that
// rule's line), so the matcher walks the first rule with a name word that
// applies to the daemon like any other rule (`firstNameRule`), which looks
// the name up where libwrap would; after it, names are compared through the
// index (`nameExact`, `suffix`) without further effect.

/// One way a client list word can match an address.
enum ClientKey {
    case exact(Bytes)                  // the address text, as string_match() compares it
    case prefix(Bytes)                 // "192.168." (string prefix of the text)
    case v4(mask: UInt32, net: UInt32) // (address & mask) == net, network order
    case v6(bits: Int, net: [UInt8])   // the first `bits` bits equal (others zeroed)
    case all
    case name(Bytes)                   // a host name: the address text, or the name
    case domain(Bytes)                 // ".example.com": a suffix of the address text or name
}

struct ClientIndex: Sendable {
    var exact: [Bytes: [Int32]] = [:]
    var prefix: [Bytes: [Int32]] = [:]
    /// mask -> network -> rules. Few distinct masks in any real table.
    var v4: [UInt32: [UInt32: [Int32]]] = [:]
    /// prefix length -> masked address -> rules.
    var v6: [Int: [[UInt8]: [Int32]]] = [:]
    var all: [Int32] = []
    /// Host name words -> rules (compared with the client's name).
    var nameExact: [Bytes: [Int32]] = [:]
    /// `.domain` words -> rules (compared with the address text and the name).
    var suffix: [Bytes: [Int32]] = [:]
    /// The rules with a host name or `.domain` word, in order.
    var nameRules: [Int32] = []
    var isEmpty = true

    /// The keys of a rule that matches by address alone, or nil if it does not.
    static func keys(_ rule: Rule) -> [ClientKey]? {
        for item in rule.daemons {
            if case .pattern(let p) = item, p.host != nil { return nil }
        }
        var keys: [ClientKey] = []
        for item in rule.clients {
            guard case .pattern(let p) = item, p.user == nil else { return nil }
            switch p.host {
            case .masked(.v4(let net, let mask)):
                if let mask { keys.append(.v4(mask: mask, net: net)) }
            case .masked(.v6(let net, let bits)):
                if let net, bits >= 0, bits <= 128 { keys.append(.v6(bits: bits, net: masked(net, bits))) }
            case .plain(.all, _):
                keys.append(.all)
            case .plain(.exact(let t), mayBeName: false):
                keys.append(.exact(t.map(asciiLower)))
            case .plain(.prefix(let t), mayBeName: false):
                keys.append(.prefix(t.map(asciiLower)))
            case .plain(.ipv6(let a), mayBeName: false):
                if let a { keys.append(.v6(bits: 128, net: a)) }
            case .plain(.exact(let t), mayBeName: true):
                keys.append(.name(t.map(asciiLower)))
            case .plain(.suffix(let t), mayBeName: true):
                keys.append(.domain(t.map(asciiLower)))
            default:
                return nil
            }
        }
        return keys
    }

    /// The first `bits` bits of an IPv6 address, the rest zero.
    static func masked(_ a: [UInt8], _ bits: Int) -> [UInt8] {
        var out = a
        for i in 0..<16 {
            let keep = min(max(bits - 8 * i, 0), 8)
            out[i] &= UInt8(truncatingIfNeeded: 0xFF << (8 - keep))
        }
        return out
    }

    mutating func add(_ keys: [ClientKey], _ rule: Int32) {
        func append(_ list: inout [Int32]) { if list.last != rule { list.append(rule) } }
        if keys.isEmpty { return }   // a rule that never matches: nothing to find
        for key in keys {
            isEmpty = false
            switch key {
            case .exact(let t): append(&exact[t, default: []])
            case .prefix(let t): append(&prefix[t, default: []])
            case .v4(let mask, let net): append(&v4[mask, default: [:]][net, default: []])
            case .v6(let bits, let net): append(&v6[bits, default: [:]][net, default: []])
            case .all: append(&all)
            case .name(let t):
                append(&exact[t, default: []])        // compared with the address text first
                append(&nameExact[t, default: []])
                append(&nameRules)
            case .domain(let t):
                append(&suffix[t, default: []])
                append(&nameRules)
            }
        }
    }

    /// The earliest rule that holds a key of `address` (compared as the
    /// address) and for which `accepts` (its daemon list matches) is true;
    /// Int32.max if none.
    func firstHit(_ address: Subject, _ accepts: (Int32) -> Bool) -> Int32 {
        var best = Int32.max
        func consider(_ list: [Int32]?) {
            guard let list else { return }
            for i in list {
                if i >= best { return }
                if accepts(i) { best = i; return }
            }
        }
        let text = address.text
        if !exact.isEmpty { consider(exact[text.map(asciiLower)]) }
        if !prefix.isEmpty || !suffix.isEmpty {
            var i = 0
            while i < text.count {
                if text[i] == UInt8(ascii: ".") {
                    if !prefix.isEmpty { consider(prefix[text[0...i].map(asciiLower)]) }
                    if !suffix.isEmpty && i > 0 { consider(suffix[text[i...].map(asciiLower)]) }
                }
                i += 1
            }
        }
        if !v4.isEmpty && address.v4 != inaddrNone {
            for (mask, nets) in v4 { consider(nets[address.v4 & mask]) }
        }
        if !v6.isEmpty, let a = address.v6 {
            for (bits, nets) in v6 { consider(nets[ClientIndex.masked(a, bits)]) }
        }
        consider(all)
        return best
    }

    /// The earliest rule after `after` whose host name or `.domain` word
    /// matches `name` and for which `accepts` is true; Int32.max if none.
    func firstNameHit(_ name: Subject, after: Int32, _ accepts: (Int32) -> Bool) -> Int32 {
        var best = Int32.max
        func consider(_ list: [Int32]?) {
            guard let list else { return }
            for i in list where i > after {
                if i >= best { return }
                if accepts(i) { best = i; return }
            }
        }
        let text = name.text
        consider(nameExact[text.map(asciiLower)])
        if !suffix.isEmpty {
            var i = 1
            while i < text.count {
                if text[i] == UInt8(ascii: ".") { consider(suffix[text[i...].map(asciiLower)]) }
                i += 1
            }
        }
        return best
    }

    /// The first rule with a name word for which `accepts` is true: the
    /// matcher walks it, so that the name is looked up where libwrap would.
    func firstNameRule(_ accepts: (Int32) -> Bool) -> Int32 {
        for i in nameRules where accepts(i) { return i }
        return Int32.max
    }
}
