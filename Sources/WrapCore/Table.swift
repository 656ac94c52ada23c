// Table.swift - an access control table, read and compiled once.
//
// Reading follows libwrap byte for byte: physical lines are read into a
// 2048-byte buffer as fgets() would, a backslash before the newline joins the
// next line, a NUL byte ends the C string (so the rest of that read is lost),
// and a logical line that does not end in a newline - too long, or the last
// line of a file without one - makes libwrap give up on the rest of the table
// with an error, which the caller turns into "deny" for hosts.deny.
//
// The compiled form keeps every line's effect in order - rules, and the
// warnings libwrap would log on reaching a line - so evaluation reproduces
// libwrap's verdicts and diagnostics without reading the file again.

/// What one line of a table contributes.

import CSystem

public enum TableEntry: Sendable, Equatable {
    case rule(Rule)
    /// A line libwrap skips with a warning ("missing ":" separator").
    case warning(line: Int, message: String)
    /// A line without its newline: libwrap warns and ignores the rest.
    case stop(line: Int)

    /// Messages compare byte for byte (String's == needs Unicode tables that
    /// the libraries do not carry).
    public static func == (a: TableEntry, b: TableEntry) -> Bool {
        switch (a, b) {
        case (.rule(let x), .rule(let y)): return x == y
        case (.warning(let l, let m), .warning(let k, let n)): return l == k && m.utf8.elementsEqual(n.utf8)
        case (.stop(let l), .stop(let k)): return l == k
        default: return false
        }
    }
}

/// One rule: `daemon_list : client_list [: options]`.
public struct Rule: Sendable, Equatable {
    public var line: Int
    public var daemons: [ListItem<ServerPattern>]
    public var clients: [ListItem<ClientPattern>]
    /// The text after the second colon, if there is one (possibly empty).
    public var options: Bytes?
}

/// A table, compiled, with two indexes that let a request skip rules
/// without changing what libwrap would do or log:
///
/// - Rules that can match only by the client's address and name (see
///   ClientIndex) are found through `byClient`; they are kept in `indexed`,
///   compactly (a fail2ban list has hundreds of thousands).
/// - Every other entry is walked in order (`walked`); among those, a rule
///   whose daemon list is only plain names (or port numbers), without
///   EXCEPT, can match only a request for one of them, and is skipped for
///   other daemons.
///
/// Both kinds carry their position in the table, so that the first match is
/// the smaller of the first walked entry that matches (walked only up to the
/// best indexed hit) and the best indexed hit. A class: the cache hands out
/// one reference per request, not a copy of a dozen collections.
public final class CompiledTable: Sendable {
    /// The walked entries, in table order, and each one's table position.
    let walked: [TableEntry]
    let walkedPosition: [Int32]
    /// Lower-cased daemon name -> indexes into `walked` of the rules that name it.
    let byName: [Bytes: [Int32]]
    /// Server port -> indexes into `walked` of the rules that name it.
    let byPort: [Int: [Int32]]
    /// Indexes into `walked` of every other entry: rules with other patterns, warnings, the stop.
    let general: [Int32]
    /// The rules found by the client's address and name.
    let indexed: IndexedRules
    /// The index of `indexed` (its slots).
    let byClient: ClientIndex

    /// Every entry in table order (for tests and tools; the matcher does not use it).
    public var entries: [TableEntry] {
        var out: [TableEntry] = []
        var w = 0, s: Int32 = 0
        while w < walked.count || Int(s) < indexed.count {
            let wp = w < walked.count ? walkedPosition[w] : Int32.max
            let sp = Int(s) < indexed.count ? indexed.position[Int(s)] : Int32.max
            if wp < sp { out.append(walked[w]); w += 1 } else { out.append(.rule(indexed.rule(s))); s += 1 }
        }
        return out
    }

    public convenience init(entries: [TableEntry]) {
        var builder = Builder(keepParsed: Int.max)
        for entry in entries { builder.add(entry, text: nil) }
        self.init(builder)
    }

    /// Compiles the contents of a table file, line by line. The first
    /// `keepParsed` indexed rules are kept parsed; later ones are kept as
    /// their line's bytes and parsed again when one matches.
    public convenience init(contents: Bytes, keepParsed: Int = IndexedRules.defaultKeptParsed) {
        var builder = Builder(keepParsed: keepParsed)
        contents.withUnsafeBytes { raw in
            var reader = LineReader(raw)
            while let (line, number) = reader.next() {
                guard let entry = TableEntry(line: line, number: number) else { continue }
                builder.add(entry, text: line)
                if case .stop = entry { break }
            }
        }
        self.init(builder)
    }

    /// The table as it is read, one entry at a time (nothing but the
    /// compiled form is kept: a large table never exists twice).
    struct Builder {
        var walked: [TableEntry] = []
        var walkedPosition: [Int32] = []
        var byName: [Bytes: [Int32]] = [:]
        var byPort: [Int: [Int32]] = [:]
        var general: [Int32] = []
        var indexed: IndexedRules
        var byClient = ClientIndex()
        var position: Int32 = 0

        init(keepParsed: Int) { indexed = IndexedRules(keepParsed: keepParsed) }

        mutating func add(_ entry: TableEntry, text: UnsafeRawBufferPointer?) {
            let i = position
            position += 1
            if case .rule(let rule) = entry, let keys = ClientIndex.keys(rule) {
                if keys.isEmpty { return }   // a rule that never matches, and does nothing on the way
                byClient.add(keys, indexed.add(rule, text: text, position: i))
                return
            }
            let w = Int32(walked.count)
            walked.append(entry)
            walkedPosition.append(i)
            guard case .rule(let rule) = entry, let keys = CompiledTable.indexKeys(rule) else {
                general.append(w)
                return
            }
            for name in keys.names where byName[name]?.last != w { byName[name, default: []].append(w) }
            for port in keys.ports where byPort[port]?.last != w { byPort[port, default: []].append(w) }
        }
    }

    init(_ b: Builder) {
        walked = b.walked
        walkedPosition = b.walkedPosition
        byName = b.byName
        byPort = b.byPort
        general = b.general
        indexed = b.indexed
        var index = b.byClient
        index.finish()
        byClient = index
    }

    /// The names and ports a rule is limited to, or nil if it is not.
    static func indexKeys(_ rule: Rule) -> (names: [Bytes], ports: [Int])? {
        var names: [Bytes] = []
        var ports: [Int] = []
        for item in rule.daemons {
            guard case .pattern(let p) = item, p.host == nil else { return nil }
            switch p.daemon {
            case .port(let n): ports.append(n)
            case .name(.exact(let name)): names.append(name.map(asciiLower))
            default: return nil
            }
        }
        return names.isEmpty && ports.isEmpty ? nil : (names, ports)
    }

    /// The indexes into `walked` of the entries a request for `daemon` must
    /// visit, in order (a merge of the name, port and general lists, without copying).
    @inline(__always)
    func forEachCandidate(daemon: Bytes, port: Int?, _ body: (Int32) -> Bool) {
        let named = byName[daemon] ?? []   // daemon: lower case
        let ported = port.flatMap { byPort[$0] } ?? []
        if named.isEmpty && ported.isEmpty {
            for i in general where !body(i) { return }
            return
        }
        var a = 0, b = 0, c = 0
        while true {
            let x = a < named.count ? named[a] : Int32.max
            let y = b < ported.count ? ported[b] : Int32.max
            let z = c < general.count ? general[c] : Int32.max
            let m = min(x, y, z)
            if m == Int32.max { return }
            if x == m { a += 1 }
            if y == m { b += 1 }
            if z == m { c += 1 }
            if !body(m) { return }
        }
    }
}

/// The rules found through the client index, slot by slot in table order.
/// The first `keepParsed` are kept parsed; the others as the bytes of their
/// line (parsed again, as TableEntry(line:) did the first time, when one
/// matches), with their daemon lists shared: a fail2ban list of 490,000
/// `ALL: <address>` lines then costs about 3 times its file's size, not 20.
public struct IndexedRules: Sendable {
    public static let defaultKeptParsed = 4096
    let keepParsed: Int
    /// Each slot's position in the table.
    var position: [Int32] = []
    /// Each slot's daemon list (an index into `daemonLists`); empty while
    /// every slot has list 0 (a fail2ban table's `ALL`: 4 bytes a rule saved).
    var daemonList: [UInt32] = []
    var daemonLists: [[ListItem<ServerPattern>]] = []
    var daemonListIDs: [Bytes: UInt32] = [:]
    /// The first `keepParsed` rules.
    var parsed: [Rule] = []
    /// The later rules' lines: bytes, start of each (and the end), line numbers.
    var text: Bytes = []
    var start: [UInt32] = [0]
    var number: [Int32] = []

    init(keepParsed: Int) { self.keepParsed = keepParsed }

    var count: Int { position.count }

    /// Adds a rule (its line's bytes, when known) and returns its slot.
    mutating func add(_ rule: Rule, text line: UnsafeRawBufferPointer?, position p: Int32) -> Int32 {
        let slot = Int32(position.count)
        position.append(p)
        // The daemon list's own words, as its key: equal words, equal lists.
        var key = Bytes()
        for item in rule.daemons {
            switch item {
            case .except: key += [0, 0]
            case .pattern(let s): key += ServerPattern.identity(s); key.append(0)
            }
        }
        let id: UInt32
        if let known = daemonListIDs[key] {
            id = known
        } else {
            id = UInt32(daemonLists.count)
            daemonListIDs[key] = id
            daemonLists.append(rule.daemons)
        }
        if id != 0 && daemonList.isEmpty {   // the first slot with another list
            daemonList = [UInt32](repeating: 0, count: Int(slot))
        }
        if !daemonList.isEmpty || id != 0 { daemonList.append(id) }
        if Int(slot) < keepParsed {
            parsed.append(rule)
            return slot
        }
        guard let line else { fatalError("IndexedRules.add: rule \(rule.line) kept unparsed without its line") }
        text.append(contentsOf: line)
        start.append(UInt32(text.count))
        number.append(Int32(clamping: rule.line))
        return slot
    }

    func daemons(_ slot: Int32) -> [ListItem<ServerPattern>] {
        daemonLists[daemonList.isEmpty ? 0 : Int(daemonList[Int(slot)])]
    }

    /// The rule in a slot (parsed again from its line if it is not kept).
    func rule(_ slot: Int32) -> Rule {
        let s = Int(slot)
        if s < parsed.count { return parsed[s] }
        let k = s - parsed.count
        let a = Int(start[k]), b = Int(start[k + 1])
        let entry = text[a..<b].withUnsafeBytes { TableEntry(line: $0, number: Int(number[k])) }
        guard case .rule(let rule) = entry else {
            fatalError("IndexedRules.rule: slot \(slot) no longer parses as a rule")
        }
        return rule
    }
}

extension ServerPattern {
    /// Bytes that identify a daemon word without a host (for sharing equal daemon lists).
    static func identity(_ p: ServerPattern) -> Bytes {
        switch p.daemon {
        case .port(let n): return [1] + Swift.Array(String(n).utf8)
        case .name(let s): return [2] + StringPattern.identity(s)
        }
    }
}

extension StringPattern {
    /// Bytes that identify a pattern: its kind and its text.
    static func identity(_ s: StringPattern) -> Bytes {
        switch s {
        case .suffix(let t): return [1] + t
        case .all: return [2]
        case .known: return [3]
        case .wildcard(let t): return [4] + t
        case .prefix(let t): return [5] + t
        case .ipv6(let a): return [6] + (a ?? [0xFF])
        case .exact(let t): return [7] + t
        }
    }
}

extension TableEntry {
    /// One logical line of a table, as table_match() treats it; nil for
    /// comments and blank lines.
    public init?(line: UnsafeRawBufferPointer, number: Int) {
        if line.last != UInt8(ascii: "\n") {
            self = .stop(line: number)
            return
        }
        if line.first == UInt8(ascii: "#") { return nil }
        if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D || $0 == 0x0A }) { return nil }
        let text = Bytes(line)
        guard let (daemons, rest) = splitAt(text[...], UInt8(ascii: ":")) else {
            self = .warning(line: number, message: "missing \":\" separator")
            return
        }
        var clients = rest
        var options: Bytes? = nil
        if let (c, o) = splitAt(rest, UInt8(ascii: ":")) {
            clients = c
            options = Array(o)
        }
        self = .rule(Rule(
            line: number,
            daemons: compileList(daemons, ServerPattern.init),
            clients: compileList(clients, ClientPattern.init),
            options: options))
    }
}

/// xgets() over bytes in memory: logical lines with the physical line count
/// at their end, exactly as libwrap's 2048-byte buffer would hold them
/// (fgets() reads, a NUL ends what a read contributes, a backslash before
/// the newline joins the next line).
public struct LineReader {
    static let bufferSize = 2048
    var data: UnsafeRawBufferPointer
    var offset = 0
    var lineNumber = 0
    let storage = LineBuffer()
    let source: ChunkSource?

    /// Reads from memory; `data` must stay valid while the reader is used.
    public init(_ data: UnsafeRawBufferPointer) {
        self.data = data
        source = nil
    }

    /// Reads from a stream (a file too large to keep), a window at a time.
    public init(_ source: ChunkSource) {
        self.source = source
        data = source.window(keeping: UnsafeRawBufferPointer(start: nil, count: 0))
    }

    /// The next logical line (valid until the next call) and the line counter after it.
    public mutating func next() -> (UnsafeRawBufferPointer, Int)? {
        var used = 0
        var room = LineReader.bufferSize
        let buffer = storage.bytes
        var base = data.baseAddress
        while room > 1 {
            if let source, data.count - offset < room {
                data = source.window(keeping: UnsafeRawBufferPointer(rebasing: data[offset...]))
                offset = 0
                base = data.baseAddress
            }
            guard offset < data.count, let base else { break }
            // fgets(ptr, room): up to room-1 bytes, through the first newline.
            let limit = min(data.count - offset, room - 1)
            let start = base + offset
            let nl = memchr(start, 0x0A, limit)
            let take = nl.map { UnsafeRawPointer($0) - start + 1 } ?? limit
            offset += take
            // strlen(): a NUL ends what this read contributes.
            let got0 = memchr(start, 0, take).map { UnsafeRawPointer($0) - start } ?? take
            var got = got0
            let endsLine = got >= 1 && start.load(fromByteOffset: got - 1, as: UInt8.self) == 0x0A
            if endsLine {
                lineNumber += 1
                if got >= 2 && start.load(fromByteOffset: got - 2, as: UInt8.self) == UInt8(ascii: "\\") {
                    got -= 2
                } else {
                    buffer.baseAddress!.advanced(by: used).copyMemory(from: start, byteCount: got)
                    used += got
                    return (UnsafeRawBufferPointer(rebasing: buffer[0..<used]), lineNumber)
                }
            }
            buffer.baseAddress!.advanced(by: used).copyMemory(from: start, byteCount: got)
            used += got
            room -= got
        }
        if used == 0 { return nil }
        return (UnsafeRawBufferPointer(rebasing: buffer[0..<used]), lineNumber)
    }
}

/// Bytes arriving a window at a time (a file read in large blocks).
public final class ChunkSource {
    let buffer: UnsafeMutableRawBufferPointer
    let read: (UnsafeMutableRawBufferPointer) -> Int
    var atEnd = false

    let close: (() -> Void)?

    /// `read` fills what it is given and returns the count, 0 at the end;
    /// `close`, if given, runs when the source is no longer used.
    public init(blockSize: Int = 1 << 20, read: @escaping (UnsafeMutableRawBufferPointer) -> Int,
                close: (() -> Void)? = nil) {
        buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(blockSize, 2 * LineReader.bufferSize), alignment: 1)
        self.read = read
        self.close = close
    }

    deinit {
        buffer.deallocate()
        close?()
    }

    /// The unread bytes `keeping` (a tail of the previous window) followed by
    /// as much new data as fits.
    func window(keeping: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        var used = keeping.count
        if used > 0 { memmove(buffer.baseAddress!, keeping.baseAddress!, used) }
        while !atEnd && used < buffer.count {
            let n = read(UnsafeMutableRawBufferPointer(rebasing: buffer[used...]))
            if n <= 0 { atEnd = true } else { used += n }
        }
        return UnsafeRawBufferPointer(rebasing: buffer[0..<used])
    }
}

/// libwrap's line buffer, owned by one reader.
final class LineBuffer {
    let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: LineReader.bufferSize, alignment: 1)
    deinit { bytes.deallocate() }
}

/// The white-space separated words of a stream, as fscanf("%s") reads them
/// and libwrap then sees them: as C strings, so a NUL ends what counts of a
/// word (the rest up to white space is skipped); libwrap's buffer holds 8192
/// bytes, which a longer word overflows - here it is cut.
public struct WordReader {
    static let maxWord = 8191
    var data: UnsafeRawBufferPointer
    var offset = 0
    let source: ChunkSource

    public init(_ source: ChunkSource) {
        self.source = source
        data = source.window(keeping: UnsafeRawBufferPointer(start: nil, count: 0))
    }

    static func isSpace(_ c: UInt8) -> Bool { c == 0x20 || (c >= 0x09 && c <= 0x0D) }

    public mutating func next() -> Bytes? {
        var word = Bytes()
        var cut = false
        while true {
            if offset >= data.count {
                if source.atEnd { return word.isEmpty ? nil : word }
                data = source.window(keeping: UnsafeRawBufferPointer(start: nil, count: 0))
                offset = 0
                if data.isEmpty { return word.isEmpty ? nil : word }
                continue
            }
            let c = data[offset]
            offset += 1
            if WordReader.isSpace(c) {
                if !word.isEmpty { return word }
                cut = false   // an empty C string (a word that began with NUL) never matches: skip it
            } else if c == 0 {
                cut = true
            } else if !cut && word.count < WordReader.maxWord {
                word.append(c)
            }
        }
    }
}
