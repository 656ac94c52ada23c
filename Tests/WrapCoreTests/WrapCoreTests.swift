// WrapCoreTests.swift - the engine alone, without C, files or lookups.
//
// The differential corpus (Tests/Conformance) is the main check of verdicts;
// these tests pin down the pieces, with a MatchContext that records which
// lookups the matcher asked for.

import Testing
@testable import WrapCoreHosted

struct FakeRequest: MatchContext {
    var daemonName = "sshd"
    var daemon: Subject { Subject(Array(daemonName.utf8)) }
    var port: Int? = nil
    mutating func serverPort() -> Int? { port }
    var names: [Side: String] = [:]
    var addrs: [Side: String] = [.client: "192.168.1.10"]
    var userName = "unknown"
    var files: [String: [String]] = [:]
    var asked: [String] = []
    var warnings: [String] = []
    var line = 0

    // Like the real request, a lookup happens once: only the first ask is recorded.
    mutating func user() -> Subject { ask("user"); return Subject(Array(userName.utf8)) }
    mutating func hostName(_ side: Side) -> Subject { ask("name \(side)"); return Subject(Array((names[side] ?? "unknown").utf8)) }
    mutating func ask(_ what: String) { if !asked.contains(what) { asked.append(what) } }
    mutating func hostAddr(_ side: Side) -> Subject { Subject(Array((addrs[side] ?? "unknown").utf8)) }
    mutating func hostFile(_ path: Bytes) -> HostFile {
        guard let words = files[path.text] else { return .missing }
        return .words(words.map { Array($0.utf8) })
    }
    mutating func inNetgroup(_ group: Bytes, host: Bytes) -> Bool { false }
    mutating func warn(_ message: String) { warnings.append("line \(line): \(message)") }
    mutating func setPosition(line: Int) { self.line = line }
}

func table(_ text: String) -> CompiledTable { CompiledTable(contents: Array(text.utf8)) }

func matchedLine(_ text: String, _ ctx: inout FakeRequest) -> Int? {
    switch Matcher.match(table(text), &ctx) {
    case .matched(let rule): return rule.line
    case .none: return nil
    case .error: return -1
    }
}

@Test func continuationLinesReportTheirLastPhysicalLine() {
    var r = FakeRequest()
    #expect(matchedLine("a: b\nsshd \\\n: \\\n192.168.1.10\n", &r) == 4)
}

@Test func missingFinalNewlineStopsTheTableWithAnError() {
    var r = FakeRequest()
    #expect(matchedLine("x: y\nsshd: ALL", &r) == -1)
    #expect(r.warnings == ["line 1: missing newline or line too long",
                           "line 1: all the subsequent rules will be ignored"])
}

@Test func overlongLineStopsTheTable() {
    var r = FakeRequest()
    let long = "sshd: " + String(repeating: "a", count: 2100) + "\nsshd: ALL\n"
    #expect(matchedLine(long, &r) == -1)
}

@Test func nulByteGluesTheNextLine() {
    var r = FakeRequest()
    #expect(matchedLine("sshd: 10.0.0.2\0junk\nsshd: ALL\n", &r) == nil)
    #expect(r.warnings.isEmpty)
}

@Test func onlyColumnOneHashIsAComment() {
    var r = FakeRequest()
    r.daemonName = "#"
    #expect(matchedLine("# sshd: ALL\n  # : ALL\n", &r) == 2)
}

@Test func exceptNestsToTheRight() {
    var r = FakeRequest()
    #expect(matchedLine("ALL: ALL EXCEPT 192.168. EXCEPT 192.168.1.10\n", &r) == 1)
    #expect(matchedLine("ALL: ALL EXCEPT 192.168.\n", &r) == nil)
    #expect(matchedLine("ALL: EXCEPT 192.168.1.10\n", &r) == nil)
}

@Test func addressPatternsDoNotLookUpNames() {
    var r = FakeRequest()
    #expect(matchedLine("ALL: 10.0.0.0/255.0.0.0 192.168.1.0/24\n", &r) == 1)
    #expect(r.asked.isEmpty)
    #expect(matchedLine("ALL: .example.com\n", &r) == nil)
    #expect(r.asked == ["name client"])
}

@Test func masksFollowDebian() {
    #expect(MaskedPattern(net: Array("0.0.0.0".utf8), mask: Array("0.0.0.0".utf8)).matches(Array("10.1.2.3".utf8)))
    #expect(!MaskedPattern(net: Array("0.0.0.0".utf8), mask: Array("0".utf8)).matches(Array("10.1.2.3".utf8)))
    #expect(!MaskedPattern(net: Array("10.0.0.1".utf8), mask: Array("8".utf8)).matches(Array("10.0.0.1".utf8)))
    #expect(MaskedPattern(net: Array("10.0.0.0".utf8), mask: Array("8x".utf8)).matches(Array("::ffff:10.9.9.9".utf8)))
    #expect(MaskedPattern(net: Array("[2001:db8::]".utf8), mask: Array("32".utf8)).matches(Array("2001:db8:1::5".utf8)))
    #expect(!MaskedPattern(net: Array("[2001:db8::]".utf8), mask: Array("129".utf8)).matches(Array("2001:db8::".utf8)))
}

@Test func mappedClientsMatchIPv4Rules() {
    #expect(StringPattern(Array("10.0.0.1".utf8)).matches(Array("::ffff:10.0.0.1".utf8)))
    #expect(!StringPattern(Array("[::ffff:10.0.0.1]".utf8)).matches(Array("::ffff:10.0.0.1".utf8)))
    #expect(StringPattern(Array("[2001:DB8::1]".utf8)).matches(Array("2001:db8:0::1".utf8)))
}

@Test func wildcardsComeBeforePrefixes() {
    #expect(StringPattern(Array("t*l?example.com.".utf8)).matches(Array("trail.example.com.".utf8)))
    #expect(StringPattern(Array("HOST.*".utf8)).matches(Array("host.X".utf8)))
    #expect(!StringPattern(Array(".exam*.com".utf8)).matches(Array("a.example.com".utf8)))
}

/// Verdicts of Debian's libwrap0 7.6.q-32 (hosts_ctl, 2026-12-07).
@Test func wildcardsAreTestedFirstAndTrailingStarRunsNeedOneByte() {
    func m(_ p: String, _ s: String) -> Bool { StringPattern(Array(p.utf8)).matches(Array(s.utf8)) }
    // A wildcard is tested before the suffix form: it matches from the first byte.
    #expect(m(".ex*.com", ".example.com"))
    #expect(!m(".ex*.com", "a.example.com"))
    #expect(m(".*", ".example.com") && !m(".*", "a.example.com"))
    #expect(m(".example.c?m", ".example.com"))
    // A run of two or more `*` at the end matches a non-empty rest only.
    #expect(m("10.0.0*", "10.0.0") && !m("10.0.0**", "10.0.0") && !m("10.0.0***", "10.0.0"))
    #expect(m("10.0.0**", "10.0.0.") && m("10.0.0***", "10.0.0.1"))
    #expect(!m("*.*.0**", "10.0.0") && m("*.*.0**", "10.0.0.1"))
    #expect(m("**", "x") && m("10**0.0", "10.0.0") && m("a**b", "AB"))
}

@Test func numericDaemonPatternsAreServerPorts() {
    var r = FakeRequest()
    r.daemonName = "22"
    #expect(matchedLine("22: ALL\n", &r) == nil)
    r.port = 22
    #expect(matchedLine("022: ALL\n", &r) == 1)
}

@Test func fileListsAreHostPatterns() {
    var r = FakeRequest()
    r.files["/etc/x.list"] = ["10.0.0.1", "192.168.1.0/255.255.255.0"]
    #expect(matchedLine("sshd: /etc/missing /etc/x.list\n", &r) == 1)
}

struct RecordingRunner: OptionRunner {
    var performed: [OptionAction] = []
    var warnings: [String] = []
    mutating func expand(_ value: Bytes) -> Bytes? { value }
    mutating func traceOption(name: Bytes, value: Bytes?) {}
    mutating func perform(_ action: OptionAction) -> OptionOutcome {
        performed.append(action)
        switch action {
        case .allow: return .permit
        case .deny: return .deny
        default: return .proceed
        }
    }
    mutating func warn(_ message: String) { warnings.append(message) }
}

@Test func optionsRunInOrderUntilAnError() {
    var r = RecordingRunner()
    #expect(Options.process(Array(" severity mail.info : umask 077 : nosuch".utf8), &r)
            == .error("bad option name: \"nosuch\""))
    #expect(r.performed == [.severity(16 | 6), .umask(0o77)])
}

@Test func optionsCheckTheirValues() {
    var r = RecordingRunner()
    #expect(Options.process(Array("umask 999".utf8), &r) == .error("bad umask value: \"999\""))
    #expect(Options.process(Array("allow : deny".utf8), &r) == .error("option \"allow\" must be at end"))
    #expect(Options.process(Array("keepalive 5".utf8), &r) == .error("option \"keepalive\" requires no value"))
    #expect(Options.process(Array("severity local0.bogus".utf8), &r) == .error("bad syslog facility or severity: \"bogus\""))
    #expect(Options.process(Array("spawn echo a\\:b : DENY".utf8), &r) == .deny)
    #expect(r.performed.last == .deny)
    #expect(r.performed.dropLast().last == .spawn(Array("echo a:b".utf8)))
}

@Test func optionsAreChoppedAsIsspaceSees() {
    // chop_string() strips \v and \f too; names and values split at " \t\r\n" only
    // (found by the differential fuzz target).
    var r = RecordingRunner()
    #expect(Options.process(Array("\u{0C}allow\u{0B}".utf8), &r) == .permit)
    #expect(Options.process(Array("\u{0B}22@1.\u{0C}".utf8), &r) == .error("bad option name: \"22@1.\""))
    #expect(Options.process(Array("umask\u{0C}077".utf8), &r) == .error("bad option name: \"umask\u{0C}077\""))
    #expect(Options.process(Array("setenv \u{0C}FOO\u{0B} \u{0C}x y\u{0B}".utf8), &r) == .proceed)
    #expect(r.performed.last == .setenv(name: Array("FOO".utf8), value: Array("x y".utf8)))
}

@Test func percentExpansionSanitizes() {
    let out = Percent.expand(Array("x %u %z %%".utf8), limit: 100,
                             value: { _ in Array("a;b`c d!e".utf8) }, warn: { _ in })
    #expect(out == Array("x a_b_c_d!e  %".utf8))
    #expect(Percent.expand(Array("%u%u".utf8), limit: 10, value: { _ in Array("abcdef".utf8) }, warn: { _ in }) == nil)
}

@Test func inetAddrFollowsGlibc() {
    // Expected values from glibc's inet_addr() (network order, as read on x86_64).
    let cases: [(String, UInt32)] = [
        ("1.2.3.4", 0x04030201), ("0x1.2.3.4", 0x04030201), ("010.0.0.1", 0x01000008),
        ("1.2.3.4x", 0xffffffff), ("1.2.3.4 x", 0x04030201), ("1.2.3.256", 0xffffffff),
        ("08.1.1.1", 0xffffffff), ("0x.1.1.1", 0xffffffff), ("1..2.3", 0xffffffff),
        ("255.255.255.255", 0xffffffff), ("0xff.0377.1.1", 0x0101ffff), (" 1.2.3.4", 0xffffffff),
    ]
    for (text, expected) in cases {
        #expect(dotQuadAddr(Array(text.utf8)) == expected, "\(text)")
    }
}

/// The three ways to evaluate a table - compiled and indexed, compiled and
/// visited in order, streamed line by line - must give the same match, the
/// same warnings and the same lookups, on every table of the conformance corpus.
@Test func indexedCompiledAndStreamedTablesAgree() throws {
    let dir = URLPath.corpusTables
    guard let names = try? listDirectory(dir), !names.isEmpty else {
        Issue.record("no corpus tables in \(dir)")
        return
    }
    let daemons = ["sshd", "in.ftpd", "rpcbind", "portmap", "mountd", "vsftpd", "22", "ALL", "x"]
    var compared = 0
    for name in names where name.hasSuffix(".allow") || name.hasSuffix(".deny") {
        let bytes = try readFile(dir + "/" + name)
        let table = CompiledTable(contents: bytes)
        for daemon in daemons {
            for port in [nil, 22] as [Int?] {
                var a = FakeRequest(); a.daemonName = daemon; a.port = port
                a.names[.client] = "alpha.example.com"
                var b = a, c = a
                let indexed = Matcher.match(table, &a)
                var plain: TableMatch = .none
                for entry in table.entries {
                    if let r = Matcher.visit(entry, &b) { plain = r; break }
                }
                var streamedResult: TableMatch = .none
                bytes.withUnsafeBytes { raw in
                    var position = 0
                    let s = ChunkSource(blockSize: 4096) { buffer in
                        let n = min(buffer.count, raw.count - position)
                        if n > 0 { buffer.baseAddress!.copyMemory(from: raw.baseAddress! + position, byteCount: n) }
                        position += n
                        return n
                    }
                    streamedResult = Matcher.match(streaming: s, &c)
                }
                #expect(indexed == plain, "\(name) \(daemon)")
                #expect(streamedResult == plain, "\(name) \(daemon)")
                #expect(a.warnings == b.warnings && c.warnings == b.warnings, "\(name) \(daemon)")
                #expect(a.asked == b.asked && c.asked == b.asked, "\(name) \(daemon)")
                compared += 1
            }
        }
    }
    #expect(compared > 1000)
}

enum URLPath {
    static var corpusTables: String {
        // #filePath is .../Tests/WrapCoreTests/WrapCoreTests.swift
        var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(2)
        return parts.joined(separator: "/") + "/Conformance/corpus/etc/tcpw"
    }
}

/// An indexed /file list gives the same answer and makes the same lookups,
/// in the same order, as trying its words one by one.
@Test func indexedFileListsAgreeWithWordByWord() {
    let vocabulary = [
        "10.0.0.1", "10.0.0.2", "192.168.1.10", "alpha.example.com", "ALPHA.example.COM", "beta",
        "unknown", "paranoid", ".example.com", "10.0.", "10.0.0.0/255.255.255.0", "10.0.0.0/8",
        "ALL", "KNOWN", "LOCAL", "UNKNOWN", "PARANOID", "a*", "?eta", "[::1]", "[2001:db8::]/32",
        "@group", "::ffff:10.0.0.1", "except", "127.0.0.1", "gamma.example.org",
    ]
    var rng = SystemRandomNumberGenerator()
    var matched = 0
    for _ in 0..<4000 {
        let count = Int.random(in: 0...12, using: &rng)
        let words = (0..<count).map { _ in Array(vocabulary.randomElement(using: &rng)!.utf8) }
        var a = FakeRequest()
        a.addrs[.client] = ["10.0.0.1", "192.168.1.10", "::ffff:10.0.0.2", "unknown", "2001:db8::5"].randomElement(using: &rng)!
        a.names[.client] = ["alpha.example.com", "beta", "unknown", "paranoid", "gamma.example.org"].randomElement(using: &rng)!
        var b = a
        let list = HostList(words: words)
        let indexed = Matcher.listMatch(list, .client, &a)
        var linear = false
        for w in words where Matcher.hostMatch(HostPattern(w), .client, &b) { linear = true; break }
        #expect(indexed == linear, "\(words.map { $0.text }) \(a.addrs) \(a.names)")
        #expect(a.asked == b.asked, "\(words.map { $0.text })")
        if linear { matched += 1 }
    }
    // Both outcomes must be common, or the comparison proves little.
    #expect(matched > 400 && matched < 3600, "\(matched) of 4000 lists matched")
}

/// The client-address index gives the same first match, the same lookups
/// and the same warnings as walking the table rule by rule - on random
/// tables built to stress it: many overlapping networks and prefixes, the
/// same address in several rules that differ only in order or daemon, ALL,
/// EXCEPT inside lists (which keep a rule out of the index), names that are
/// prefixes or suffixes of each other, user@ and server@host patterns, and
/// malformed lines. Rules kept as text (as in large tables) and kept parsed
/// give the same answers.
@Test func clientIndexAgreesWithTheWalk() {
    let clients = [
        "10.0.0.1", "10.0.0.2", "10.0.0.", "10.0.", "10.", "10.0.0.0/255.255.255.0", "10.0.0.0/24", "10.0.0.0/8",
        "10.0.0.1/32", "10.0.0.0/255.255.255.255", "10.0.0.0/0", "10.0.0.0/33", "10.0.0.5/24", "192.168.1.10",
        "192.168.1.", "192.168.", "0x0a.0.0.1", "010.0.0.1", "ALL", "[::1]", "[2001:db8::5]", "[2001:db8::]/32",
        "[2001:db8::]/129", "[::ffff:10.0.0.1]", "[zz]", "alpha.example.com", ".example.com", "example.com",
        "alpha", "a*", "10.0.0.?", "KNOWN", "LOCAL", "UNKNOWN", "PARANOID", "bob@10.0.0.1", "bob@ALL",
        "@group", "unknown", "127.0.0.1", "::ffff:10.0.0.1", "10.0.0.1.", "1.2.3",
    ]
    let daemons = ["ALL", "sshd", "ftpd", "sshd@10.0.0.9", "ALL EXCEPT ftpd", "22", "s*", "sshd,ftpd", "KNOWN"]
    let requests: [(addr: String, daemon: String, port: Int?)] = [
        ("10.0.0.1", "sshd", 22), ("10.0.0.2", "ftpd", nil), ("10.0.0.77", "sshd", nil), ("192.168.1.10", "x", nil),
        ("::ffff:10.0.0.1", "sshd", 22), ("2001:db8::5", "sshd", nil), ("::1", "ftpd", nil), ("unknown", "sshd", nil),
        ("10.1.2.3", "sshd", 21), ("127.0.0.1", "ALL", nil),
    ]
    var rng = SystemRandomNumberGenerator()
    var compared = 0, matched = 0, indexedRules = 0
    for _ in 0..<3000 {
        var text = ""
        for _ in 0..<Int.random(in: 1...25, using: &rng) {
            switch Int.random(in: 0..<20, using: &rng) {
            case 0: text += "# a comment\n"
            case 1: text += "no colon here\n"
            default:
                var list = (0..<Int.random(in: 1...3, using: &rng)).map { _ in clients.randomElement(using: &rng)! }
                if Int.random(in: 0..<8, using: &rng) == 0 { list.insert("EXCEPT", at: Int.random(in: 0...list.count, using: &rng)) }
                text += "\(daemons.randomElement(using: &rng)!): \(list.joined(separator: Bool.random(using: &rng) ? " " : ", "))"
                text += Int.random(in: 0..<6, using: &rng) == 0 ? ": allow\n" : "\n"
            }
        }
        // Half the tables keep no indexed rule parsed: each is parsed again from its line.
        let t = CompiledTable(contents: Array(text.utf8), keepParsed: Bool.random(using: &rng) ? 0 : 4096)
        indexedRules += t.byClient.isEmpty ? 0 : 1
        for req in requests {
            var a = FakeRequest()
            a.daemonName = req.daemon; a.port = req.port
            a.addrs[.client] = req.addr
            a.addrs[.server] = "10.0.0.9"
            a.names[.client] = ["alpha.example.com", "alpha", "unknown", "paranoid"].randomElement(using: &rng)!
            var b = a
            let indexed = Matcher.match(t, &a)
            var walked: TableMatch = .none
            for entry in t.entries {
                if let r = Matcher.visit(entry, &b) { walked = r; break }
            }
            #expect(indexed == walked, "\(text)\(req)")
            #expect(a.asked == b.asked, "\(text)\(req)")
            #expect(a.warnings == b.warnings, "\(text)\(req)")
            if case .matched = walked { matched += 1 }
            compared += 1
        }
    }
    // The cases must exercise the index: most tables have indexed rules, and
    // many requests are decided by a rule (not all "no match").
    #expect(indexedRules > 2000)
    #expect(matched > 5000)
}

/// The datagram verdict cache: fixed size, and a flood of one-shot keys
/// (spoofed sources) never evicts the keys in use.
@Test func segmentedCacheKeepsKeysInUseUnderAFlood() {
    var cache = SegmentedCache<Bytes, Int>(capacity: 64, ttl: 1.0)
    let real: [Bytes] = (0..<10).map { [1, UInt8($0)] }
    var now = 0.0
    for k in real { cache.store(k, 1, now: now) }
    for k in real { #expect(cache.lookup(k, now: now) == 1) }   // used twice: protected
    var misses = 0
    for i in 0..<1_000_000 {
        let spoofed: Bytes = [2, UInt8(i & 0xFF), UInt8(i >> 8 & 0xFF), UInt8(i >> 16 & 0xFF)]
        cache.store(spoofed, 0, now: now)
        if i % 1000 == 0 {
            now += 0.0005
            #expect(cache.count <= 128)
            for k in real where cache.lookup(k, now: now) == nil {
                misses += 1   // a real source evicted by the flood
                cache.store(k, 1, now: now)
            }
        }
    }
    #expect(misses == 0)
    for k in real { #expect(cache.lookup(k, now: now) == 1) }
    #expect(cache.count <= 128)
    // Entries expire ttl after they were stored.
    #expect(cache.lookup(real[0], now: now + 1.5) == nil)
}

/// storeIfAbsent keeps an entry's first stamp: it expires ttl after it was
/// made, however often it is stored again (the shim's reply window).
@Test func storeIfAbsentDoesNotRenew() {
    var cache = SegmentedCache<Bytes, Bool>(capacity: 8, ttl: 10)
    cache.storeIfAbsent([1], true, now: 0)
    cache.storeIfAbsent([1], true, now: 9)
    #expect(cache.lookup([1], now: 9.5) == true)
    #expect(cache.lookup([1], now: 10.5) == nil)
    cache.storeIfAbsent([1], true, now: 11)
    #expect(cache.lookup([1], now: 20.5) == true)
}
