// Fuzz.swift - libFuzzer targets over the engine (compiled into one module
// with Sources/WrapCore by scripts/fuzz, with -sanitize=fuzzer,address).
//
// FUZZ_TARGET picks the target:
//   table     the input is a table: the indexed match, the plain walk and
//             the streamed match must agree (match, lookups asked,
//             warnings) for several requests; nothing may crash or hang
//   hostlist  the input is a /file list: the indexed list and trying its
//             words one by one must agree
//   options   the input is a rule's options: processing must not crash and
//             must give the same outcome twice
//   percent   the input is a %-pattern (first byte: the buffer size): the
//             result fits the buffer, and every expanded letter is sanitized
// A disagreement is a crash (fatalError), which libFuzzer saves.

import CSystem

struct FuzzRequest: MatchContext {
    var daemonName: Bytes = Array("sshd".utf8)
    var daemon: Subject { Subject(daemonName) }
    var port: Int? = nil
    mutating func serverPort() -> Int? { port }
    var names: [Side: Bytes] = [:]
    var addrs: [Side: Bytes] = [:]
    var userName: Bytes = Array("unknown".utf8)
    var asked: [Int] = []
    var warnings: [String] = []
    var line = 0

    mutating func ask(_ what: Int) { if !asked.contains(what) { asked.append(what) } }
    mutating func user() -> Subject { ask(0); return Subject(userName) }
    mutating func hostName(_ side: Side) -> Subject { ask(side == .client ? 1 : 2); return Subject(names[side] ?? Array("unknown".utf8)) }
    mutating func hostAddr(_ side: Side) -> Subject { Subject(addrs[side] ?? Array("unknown".utf8)) }
    mutating func hostFile(_ path: Bytes) -> HostFile { .words([Array("10.0.0.1".utf8), Array(".example.com".utf8)]) }
    mutating func inNetgroup(_ group: Bytes, host: Bytes) -> Bool { false }
    mutating func warn(_ message: String) { warnings.append("\(line): \(message)") }
    mutating func setPosition(line: Int) { self.line = line }
}

let daemons = ["sshd", "in.ftpd", "ALL", "x", "22"].map { Array($0.utf8) }
let clientAddrs = ["10.0.0.1", "192.168.1.10", "::ffff:10.0.0.2", "2001:db8::5", "127.0.0.1", "unknown"].map { Array($0.utf8) }
let clientNames = ["alpha.example.com", "beta", "unknown", "paranoid", "localhost"].map { Array($0.utf8) }

func requests(_ seed: UInt8) -> [FuzzRequest] {
    var out: [FuzzRequest] = []
    for i in 0..<4 {
        var r = FuzzRequest()
        let k = Int(seed) &+ i &* 7
        r.daemonName = daemons[k % daemons.count]
        r.addrs[.client] = clientAddrs[(k / 3) % clientAddrs.count]
        r.addrs[.server] = Array("10.0.0.9".utf8)
        r.names[.client] = clientNames[(k / 5) % clientNames.count]
        r.userName = i % 2 == 0 ? Array("unknown".utf8) : Array("alice".utf8)
        r.port = i == 3 ? 22 : nil
        out.append(r)
    }
    return out
}

func fuzzTable(_ input: Bytes) {
    guard input.count >= 2 else { return }
    let text = Array(input[2...])
    let table = CompiledTable(contents: text, keepParsed: input[1] & 1 == 0 ? 4096 : 0)
    for req in requests(input[0]) {
        var a = req, b = req, c = req
        let indexed = Matcher.match(table, &a)
        var walked: TableMatch = .none
        for entry in table.entries {
            if let r = Matcher.visit(entry, &b) { walked = r; break }
        }
        var streamed: TableMatch = .none
        text.withUnsafeBytes { raw in
            var position = 0
            let source = ChunkSource(blockSize: 512) { buffer in
                let n = min(buffer.count, raw.count - position)
                if n > 0 { buffer.baseAddress!.copyMemory(from: raw.baseAddress! + position, byteCount: n) }
                position += n
                return n
            }
            streamed = Matcher.match(streaming: source, &c)
        }
        if indexed != walked || a.asked != b.asked || a.warnings != b.warnings {
            fatalError("index and walk disagree: \(indexed) / \(walked), asked \(a.asked) / \(b.asked)")
        }
        if streamed != walked || c.asked != b.asked || c.warnings != b.warnings {
            fatalError("stream and walk disagree: \(streamed) / \(walked)")
        }
    }
}

func fuzzHostList(_ input: Bytes) {
    guard input.count >= 1 else { return }
    let words = input[1...].split(whereSeparator: { $0 == 0x20 || $0 == 0x0A || $0 == 0x09 || $0 == 0 }).map { Array($0) }
    let list = HostList(words: words)
    for req in requests(input[0]) {
        var a = req, b = req
        let indexed = Matcher.listMatch(list, .client, &a)
        var linear = false
        for w in words where Matcher.hostMatch(HostPattern(w), .client, &b) { linear = true; break }
        if indexed != linear || a.asked != b.asked {
            fatalError("list index and words disagree: \(indexed) / \(linear)")
        }
    }
}

struct FuzzRunner: OptionRunner {
    var performed: [OptionAction] = []
    var warnings: [String] = []
    mutating func expand(_ value: Bytes) -> Bytes? {
        Percent.expand(value, limit: 512, value: { _ in Array("x;y`$(z)".utf8) }, warn: { _ in })
    }
    mutating func traceOption(name: Bytes, value: Bytes?) {}
    mutating func perform(_ action: OptionAction) -> OptionOutcome {
        performed.append(action)
        return .proceed
    }
    mutating func warn(_ message: String) { warnings.append(message) }
}

func fuzzOptions(_ input: Bytes) {
    var r1 = FuzzRunner(), r2 = FuzzRunner()
    let o1 = Options.process(input, &r1)
    let o2 = Options.process(input, &r2)
    if o1 != o2 || r1.performed != r2.performed || r1.warnings != r2.warnings {
        fatalError("options are not deterministic")
    }
}

func fuzzPercent(_ input: Bytes) {
    guard input.count >= 1 else { return }
    let limit = Int(input[0]) + 2
    let pattern = Array(input[1...])
    let hostile: Bytes = [0x3B, 0x60, 0x24, 0x28, 0x0A, 0xFF, 0x20, 0x7C, 0x26]   // ; ` $ ( \n 0xFF space | &
    guard let out = Percent.expand(pattern, limit: limit, value: { _ in hostile }, warn: { _ in }) else { return }
    if out.count >= limit - 1 { fatalError("expansion overflows its buffer: \(out.count) for \(limit)") }
    // No byte of the hostile value may come through, except where the
    // pattern itself has it.
    for c in out where hostile.contains(c) && !pattern.contains(c) {
        fatalError("unsafe byte \(c) came through an expansion")
    }
}

nonisolated(unsafe) var target = 0

@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>) -> Int32 {
    let name = getenv("FUZZ_TARGET").map { String(cString: $0) } ?? "table"
    target = ["table": 0, "hostlist": 1, "options": 2, "percent": 3][name] ?? -1
    if target < 0 { fatalError("FUZZ_TARGET: table, hostlist, options or percent") }
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let input = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    switch target {
    case 0: fuzzTable(input)
    case 1: fuzzHostList(input)
    case 2: fuzzOptions(input)
    default: fuzzPercent(input)
    }
    return 0
}
