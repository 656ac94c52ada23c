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

/// Key -> the slots that hold it, in order. Nearly every key has one slot:
/// it is kept inline, the rare others in a second table (a fail2ban list's
/// 490,000 addresses cost one small dictionary entry each).
struct Postings<Key: Hashable & Sendable>: Sendable {
    var first: [Key: Int32] = [:]
    var more: [Key: [Int32]] = [:]

    var isEmpty: Bool { first.isEmpty }

    mutating func add(_ key: Key, _ slot: Int32) {
        guard let f = first[key] else { first[key] = slot; return }
        if f == slot || more[key]?.last == slot { return }
        more[key, default: []].append(slot)
    }

    /// Calls `body` with the key's slots in order until it returns false.
    @inline(__always)
    func forEach(_ key: Key, _ body: (Int32) -> Bool) {
        guard let f = first[key], body(f), let rest = more[key] else { return }
        for s in rest where !body(s) { return }
    }
}

/// Postings for numeric keys, kept as two sorted arrays (key, then slot):
/// 8 bytes a posting, where a dictionary takes 8 to 16 (its buckets are a
/// power of two at most three quarters full). Found by binary search.
/// `finish()` sorts what `add` appended; until then nothing can be found.
struct NumericPostings: Sendable {
    private var keys: [UInt32] = []
    private var slots: [Int32] = []

    var isEmpty: Bool { keys.isEmpty }

    mutating func add(_ key: UInt32, _ slot: Int32) {
        keys.append(key)
        slots.append(slot)
    }

    /// Sorts by key, then slot (table order), once every posting is added;
    /// a key held twice by one slot is kept once. The arrays are made to size.
    mutating func finish() {
        var pairs = [UInt64](repeating: 0, count: keys.count)
        for i in 0..<keys.count { pairs[i] = UInt64(keys[i]) << 32 | UInt64(UInt32(bitPattern: slots[i])) }
        keys = []
        slots = []
        pairs.sort()
        var k: [UInt32] = [], s: [Int32] = []
        k.reserveCapacity(pairs.count)
        s.reserveCapacity(pairs.count)
        var previous: UInt64? = nil
        for p in pairs where p != previous {
            k.append(UInt32(truncatingIfNeeded: p >> 32))
            s.append(Int32(bitPattern: UInt32(truncatingIfNeeded: p)))
            previous = p
        }
        keys = k
        slots = s
    }

    @inline(__always)
    func forEach(_ key: UInt32, _ body: (Int32) -> Bool) {
        keys.withUnsafeBufferPointer { k in
            var lo = 0, hi = k.count
            while lo < hi {
                let mid = (lo + hi) >> 1
                if k[mid] < key { lo = mid + 1 } else { hi = mid }
            }
            while lo < k.count && k[lo] == key {
                if !body(slots[lo]) { return }
                lo += 1
            }
        }
    }
}

struct ClientIndex: Sendable {
    /// Canonical dotted quads ("10.0.0.1", no leading zeros), as numbers.
    var exactV4 = NumericPostings()
    /// Every other exact word, as text (compared with the address text).
    var exact = Postings<Bytes>()
    /// `n.`, `n.n.`, `n.n.n.` prefixes of canonical octets, as numbers (by
    /// octet count): a canonical address text starts with one exactly when
    /// its first octets are these. Any other prefix word, as text.
    var prefixV4 = [NumericPostings](repeating: NumericPostings(), count: 3)
    var prefix = Postings<Bytes>()
    /// mask -> network. Few distinct masks in any real table.
    var v4: [UInt32: NumericPostings] = [:]
    /// prefix length -> masked address.
    var v6: [Int: Postings<[UInt8]>] = [:]
    var all: [Int32] = []
    /// Host name words (compared with the client's name).
    var nameExact = Postings<Bytes>()
    /// `.domain` words (compared with the address text and the name).
    var suffix = Postings<Bytes>()
    /// The slots with a host name or `.domain` word, in order.
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

    /// The value of a canonical dotted quad ("10.0.0.1": four decimal parts,
    /// no leading zeros, each at most 255), whose text equals another's
    /// exactly when their values do; nil for any other text.
    static func canonicalV4(_ t: Bytes) -> UInt32? {
        guard let (v, octets) = canonicalV4(t, allowShort: false), octets == 4 else { return nil }
        return v
    }

    /// Up to four canonical octets joined by dots (`allowShort`: fewer than
    /// four too): their value (host order) and how many there are.
    static func canonicalV4(_ t: Bytes, allowShort: Bool) -> (UInt32, Int)? {
        var value: UInt32 = 0, part: UInt32 = 0, digits = 0, parts = 0
        for c in t {
            if c == UInt8(ascii: ".") {
                if digits == 0 || parts == 3 { return nil }
                value = value << 8 | part; part = 0; digits = 0; parts += 1
            } else if c >= 0x30 && c <= 0x39 {
                if digits > 0 && part == 0 { return nil }   // a leading zero
                part = part * 10 + UInt32(c - 0x30); digits += 1
                if part > 255 { return nil }
            } else {
                return nil
            }
        }
        if digits == 0 || (parts != 3 && !allowShort) { return nil }
        return (value << 8 | part, parts + 1)
    }

    /// Once every rule is added: the numeric postings sorted.
    mutating func finish() {
        exactV4.finish()
        for k in 0..<3 { prefixV4[k].finish() }
        for mask in v4.keys { v4[mask]!.finish() }
    }

    /// "10.", "10.1.", "10.1.2." (octets without leading zeros, each
    /// followed by a dot): the octets as a number, and how many.
    static func canonicalV4Prefix(_ t: Bytes) -> (UInt32, Int)? {
        guard t.last == UInt8(ascii: "."), t.count >= 2,
              let (value, octets) = canonicalV4(Array(t.dropLast()), allowShort: true), octets <= 3 else { return nil }
        return (value, octets)
    }

    mutating func add(_ keys: [ClientKey], _ slot: Int32) {
        func append(_ list: inout [Int32]) { if list.last != slot { list.append(slot) } }
        func addExact(_ t: Bytes) {
            if let v = ClientIndex.canonicalV4(t) { exactV4.add(v, slot) } else { exact.add(t, slot) }
        }
        for key in keys {
            isEmpty = false
            switch key {
            case .exact(let t): addExact(t)
            case .prefix(let t):
                if let (value, octets) = ClientIndex.canonicalV4Prefix(t) {
                    prefixV4[octets - 1].add(value, slot)
                } else {
                    prefix.add(t, slot)
                }
            case .v4(let mask, let net): v4[mask, default: NumericPostings()].add(net, slot)
            case .v6(let bits, let net): v6[bits, default: Postings()].add(net, slot)
            case .all: append(&all)
            case .name(let t):
                addExact(t)                          // compared with the address text first
                nameExact.add(t, slot)
                append(&nameRules)
            case .domain(let t):
                suffix.add(t, slot)
                append(&nameRules)
            }
        }
    }

    /// The earliest slot that holds a key of `address` (compared as the
    /// address) and for which `accepts` (its daemon list matches) is true;
    /// Int32.max if none.
    func firstHit(_ address: Subject, _ accepts: (Int32) -> Bool) -> Int32 {
        var best = Int32.max
        func consider(_ slot: Int32) -> Bool {   // false: no later slot of this key can be better
            if slot >= best { return false }
            if accepts(slot) { best = slot; return false }
            return true
        }
        let text = address.text
        let canonical = address.canonicalV4 ?? ClientIndex.canonicalV4(text)
        if let v = canonical {
            if !exactV4.isEmpty { exactV4.forEach(v, consider) }
            // Only a prefix of canonical octets can begin a canonical text.
            for k in 0..<3 where !prefixV4[k].isEmpty { prefixV4[k].forEach(v >> UInt32(24 - 8 * k), consider) }
        } else if !exact.isEmpty {
            exact.forEach(address.folded, consider)
        }
        let anyPrefix = !prefix.isEmpty || !prefixV4[0].isEmpty || !prefixV4[1].isEmpty || !prefixV4[2].isEmpty
        if (canonical == nil && anyPrefix) || !suffix.isEmpty {
            var i = 0
            while i < text.count {
                if text[i] == UInt8(ascii: ".") {
                    if canonical == nil && anyPrefix {
                        // (A prefix of canonical octets is kept as a number.)
                        let p = Array(text[0...i])
                        if let (v, k) = ClientIndex.canonicalV4Prefix(p) {
                            prefixV4[k - 1].forEach(v, consider)
                        } else if !prefix.isEmpty {
                            prefix.forEach(p.map(asciiLower), consider)
                        }
                    }
                    if !suffix.isEmpty && i > 0 { suffix.forEach(text[i...].map(asciiLower), consider) }
                }
                i += 1
            }
        }
        if !v4.isEmpty && address.v4 != inaddrNone {
            for (mask, nets) in v4 { nets.forEach(address.v4 & mask, consider) }
        }
        if !v6.isEmpty, let a = address.v6 {
            for (bits, nets) in v6 { nets.forEach(ClientIndex.masked(a, bits), consider) }
        }
        for s in all where !consider(s) { break }
        return best
    }

    /// The earliest slot after `after` whose host name or `.domain` word
    /// matches `name` and for which `accepts` is true; Int32.max if none.
    func firstNameHit(_ name: Subject, after: Int32, _ accepts: (Int32) -> Bool) -> Int32 {
        var best = Int32.max
        func consider(_ slot: Int32) -> Bool {
            if slot <= after { return true }
            if slot >= best { return false }
            if accepts(slot) { best = slot; return false }
            return true
        }
        let text = name.text
        nameExact.forEach(name.folded, consider)
        if !suffix.isEmpty {
            var i = 1
            while i < text.count {
                if text[i] == UInt8(ascii: ".") { suffix.forEach(text[i...].map(asciiLower), consider) }
                i += 1
            }
        }
        return best
    }

    /// The first slot before `before` with a name word for which `accepts`
    /// is true: the matcher walks that rule, so that the name is looked up
    /// where libwrap would. (None after the first address hit can matter.)
    func firstNameRule(before: Int32, _ accepts: (Int32) -> Bool) -> Int32 {
        for i in nameRules {
            if i > before { break }
            if accepts(i) { return i }
        }
        return Int32.max
    }
}
