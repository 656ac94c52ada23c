// Matcher.swift - hosts_access(): which rule, if any, a request matches.
//
// The engine asks its caller for everything it does not own: the request's
// attributes (looked up only when a pattern needs them, as libwrap does),
// the words of /file lists, netgroup membership, and where warnings go. It
// keeps no state between calls.

/// Which end of the connection.
public enum Side: Sendable { case client, server }

/// The contents of a `/file` pattern's file.
public enum HostFile {
    case words([Bytes])
    /// The words, already compiled and indexed (callers that cache the file do this once).
    case patterns(HostList)
    /// A file too large to hold: its words, read as the matcher goes.
    case stream(ChunkSource)
    case missing              // ENOENT: an empty list, silently
    case unreadable(String)   // any other error: a warning, an empty list
}

/// What the matcher needs from the world. Lookups may be slow; the matcher
/// calls them in libwrap's order and only when a pattern needs them.
public protocol MatchContext {
    var daemon: Subject { get }
    /// The server's port, when its socket address is known (asked only of
    /// tables with port rules: finding it may cost a system call).
    mutating func serverPort() -> Int?
    mutating func user() -> Subject
    mutating func hostName(_ side: Side) -> Subject
    mutating func hostAddr(_ side: Side) -> Subject
    mutating func hostFile(_ path: Bytes) -> HostFile
    mutating func inNetgroup(_ group: Bytes, host: Bytes) -> Bool
    /// A warning at the current table position.
    mutating func warn(_ message: String)
    /// The table position, for diagnostics (nil file: outside any table).
    mutating func setPosition(line: Int)
}

/// The result of matching one table.
public enum TableMatch: Sendable, Equatable {
    case none
    case matched(Rule)
    /// libwrap's ERR: the table could not be (fully) read.
    case error
}

public enum Matcher {
    /// table_match(): the first rule whose daemon and client lists both match.
    /// The rules found by the client's address are tried first (without
    /// side effects); the other entries are then walked in order, but only
    /// up to the earliest such hit (see CompiledTable). The first rule with
    /// a host name word is walked too, where it stands, so that the name is
    /// looked up exactly where libwrap would; after it, rules are found by
    /// the name as well.
    public static func match<C: MatchContext>(_ table: CompiledTable, _ ctx: inout C) -> TableMatch {
        let index = table.byClient, indexed = table.indexed
        // Slots of the indexed rules; compared with walked entries by table position.
        var hit = Int32.max
        var nameRule = Int32.max
        func daemonMatches(_ slot: Int32, _ ctx: inout C) -> Bool {
            listMatch(indexed.daemons(slot)[...], &ctx, { serverMatch($0, &$1) })
        }
        func position(_ slot: Int32) -> Int32 { slot == Int32.max ? Int32.max : indexed.position[Int(slot)] }
        if !index.isEmpty {
            let address = ctx.hostAddr(.client)
            hit = index.firstHit(address) { daemonMatches($0, &ctx) }
            if !index.nameRules.isEmpty { nameRule = index.firstNameRule(before: hit) { daemonMatches($0, &ctx) } }
        }
        var result = TableMatch.none
        var walkedNameRule = false
        /// Walks the name rule, where it stands; then finds by the name too.
        func walkNameRule(_ ctx: inout C) -> Bool {   // true: it matched
            walkedNameRule = true
            if let r = visit(.rule(indexed.rule(nameRule)), &ctx) { result = r; return true }
            // The name is known now (the rule looked it up): find by it too.
            hit = min(hit, index.firstNameHit(ctx.hostName(.client), after: nameRule) { daemonMatches($0, &ctx) })
            return false
        }
        let port = table.byPort.isEmpty ? nil : ctx.serverPort()
        table.forEachCandidate(daemon: ctx.daemon.folded, port: port) { w in
            let p = table.walkedPosition[Int(w)]
            if p >= position(hit) { return false }
            if !walkedNameRule && position(nameRule) < p {
                if walkNameRule(&ctx) { return false }
                if p >= position(hit) { return false }
            }
            guard let r = visit(table.walked[Int(w)], &ctx) else { return true }
            result = r
            return false
        }
        if case .none = result, !walkedNameRule, nameRule != Int32.max, nameRule <= hit {
            _ = walkNameRule(&ctx)   // it comes after every walked entry
        }
        if case .none = result, hit != Int32.max {
            let rule = indexed.rule(hit)
            ctx.setPosition(line: rule.line)
            result = .matched(rule)
        }
        return result
    }

    /// table_match() straight from the file's bytes, line by line, for tables
    /// too large to keep compiled.
    public static func match<C: MatchContext>(streaming source: ChunkSource, _ ctx: inout C) -> TableMatch {
        var reader = LineReader(source)
        let daemon = ctx.daemon.text
        while let (line, number) = reader.next() {
            if cannotMatch(line, daemon: daemon) { continue }
            guard let entry = TableEntry(line: line, number: number) else { continue }
            if let result = visit(entry, &ctx) { return result }
        }
        return .none
    }

    /// True when a well-formed rule line names only plain daemon names, none
    /// of them `daemon`: it cannot match, and skipping it is invisible (the
    /// comparison has no side effects). Checked in place, without allocating.
    static func cannotMatch(_ line: UnsafeRawBufferPointer, daemon: Bytes) -> Bool {
        guard line.last == UInt8(ascii: "\n"), let first = line.first, first != UInt8(ascii: "#") else { return false }
        var i = 0
        var tokens = 0
        while i < line.count {
            let c = line[i]
            if c == UInt8(ascii: ":") { break }
            if c == 0x2C || c == 0x20 || c == 0x09 || c == 0x0D || c == 0x0A { i += 1; continue }
            // One token: [start, i).
            let start = i
            var plain = true
            while i < line.count {
                let t = line[i]
                if t == 0x2C || t == 0x20 || t == 0x09 || t == 0x0D || t == 0x0A || t == UInt8(ascii: ":") { break }
                if t == UInt8(ascii: "@") || t == UInt8(ascii: "*") || t == UInt8(ascii: "?")
                    || t == UInt8(ascii: "[") || t == UInt8(ascii: "]") { plain = false }
                i += 1
            }
            let token = UnsafeRawBufferPointer(rebasing: line[start..<i])
            if !plain || token.first == UInt8(ascii: ".") || token.last == UInt8(ascii: ".") { return false }
            // A port number, as sscanf("%u") reads one (a sign included).
            if let f = token.first, (f >= 0x30 && f <= 0x39) || f == UInt8(ascii: "+") || f == UInt8(ascii: "-") { return false }
            if token.count <= 6 {
                let word = Bytes(token)
                if caseEqual(word, Lit.all) || caseEqual(word, Lit.known) || caseEqual(word, Lit.except) { return false }
            }
            if token.count == daemon.count {
                var same = true
                for k in 0..<token.count where asciiLower(token[k]) != asciiLower(daemon[k]) { same = false; break }
                if same { return false }
            }
            tokens += 1
        }
        // No colon: a malformed line, which must be reported.
        return tokens > 0 && i < line.count
    }

    /// One entry: a warning to log, the end of the readable table, or a rule to try.
    @inline(__always)
    static func visit<C: MatchContext>(_ entry: TableEntry, _ ctx: inout C) -> TableMatch? {
        switch entry {
        case .warning(let line, let message):
            ctx.setPosition(line: line)
            ctx.warn(message)
        case .stop(let line):
            ctx.setPosition(line: line)
            ctx.warn("missing newline or line too long")
            ctx.warn("all the subsequent rules will be ignored")
            return .error
        case .rule(let rule):
            ctx.setPosition(line: rule.line)
            if listMatch(rule.daemons[...], &ctx, { serverMatch($0, &$1) })
                && listMatch(rule.clients[...], &ctx, { clientMatch($0, &$1) }) {
                return .matched(rule)
            }
        }
        return nil
    }

    /// list_match(): the first matching word wins unless an EXCEPT list after it matches.
    static func listMatch<P, C: MatchContext>(
        _ items: ArraySlice<ListItem<P>>, _ ctx: inout C,
        _ one: (P, inout C) -> Bool
    ) -> Bool {
        var i = items.startIndex
        while i < items.endIndex {
            guard case .pattern(let p) = items[i] else { return false }
            i += 1
            if one(p, &ctx) {
                while i < items.endIndex {
                    if case .except = items[i] { break }
                    i += 1
                }
                if i == items.endIndex { return true }
                return !listMatch(items[(i + 1)...], &ctx, one)
            }
        }
        return false
    }

    static func serverMatch<C: MatchContext>(_ p: ServerPattern, _ ctx: inout C) -> Bool {
        switch p.daemon {
        case .port(let port):
            guard let server = ctx.serverPort(), server == port else { return false }
        case .name(let name):
            guard name.matches(ctx.daemon) else { return false }
        }
        guard let host = p.host else { return true }
        return hostMatch(host, .server, &ctx)
    }

    static func clientMatch<C: MatchContext>(_ p: ClientPattern, _ ctx: inout C) -> Bool {
        guard hostMatch(p.host, .client, &ctx) else { return false }
        guard let user = p.user else { return true }
        return user.matches(ctx.user())
    }

    /// How deep /file lists may name other /file lists. libwrap has no limit
    /// and crashes on a list that names itself; past this depth we warn and
    /// the list matches nothing.
    public static let maxFileDepth = 16

    static func hostMatch<C: MatchContext>(_ p: HostPattern, _ side: Side, _ ctx: inout C, depth: Int = 0) -> Bool {
        switch p {
        case .netgroup(let group):
            let name = ctx.hostName(side)
            return ctx.inNetgroup(group, host: name.raw)
        case .file(let path):
            if depth >= maxFileDepth {
                ctx.warn("\(path.text): /file lists nested too deep (a list that names itself?)")
                return false
            }
            switch ctx.hostFile(path) {
            case .missing:
                return false
            case .unreadable(let why):
                ctx.warn(why)
                return false
            case .words(let words):
                for w in words where hostMatch(HostPattern(w), side, &ctx, depth: depth + 1) { return true }
                return false
            case .patterns(let list):
                return listMatch(list, side, &ctx, depth: depth + 1)
            case .stream(let source):
                var words = WordReader(source)
                while let w = words.next() {
                    if hostMatch(HostPattern(w), side, &ctx, depth: depth + 1) { return true }
                }
                return false
            }
        case .known:
            let name = ctx.hostName(side)
            return !caseEqual(ctx.hostAddr(side).raw, Lit.unknown) && hostnameKnown(name.raw)
        case .local:
            let name = ctx.hostName(side).raw
            return !name.contains(UInt8(ascii: ".")) && hostnameKnown(name)
        case .masked(let m):
            return m.matches(ctx.hostAddr(side))
        case .plain(let s, let mayBeName):
            if s.matches(ctx.hostAddr(side)) { return true }
            return mayBeName && s.matches(ctx.hostName(side))
        }
    }
}
