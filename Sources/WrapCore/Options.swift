// Options.swift - the option language of hosts_options(5), parsed and checked.
//
// process_options() in libwrap runs options one at a time, left to right, so
// an option's effect happens before a later option fails. The engine keeps
// that order: it yields each option as an `OptionAction` for the caller to
// carry out, and stops at the first error, which it reports as a value
// (libwrap's tcpd_jump(): the request is denied).

/// One option, parsed and with its value checked.
public enum OptionAction: Sendable, Equatable {
    case user(name: Bytes, group: Bytes?)
    case group(Bytes)
    case umask(UInt32)
    case linger(Int32)
    case keepalive
    case spawn(Bytes)
    case twist(Bytes)
    case aclexec(Bytes)
    case rfc931(timeout: Int32?)
    case setenv(name: Bytes, value: Bytes)
    case nice(Int32)
    case severity(Int32)
    case allow
    case deny
    case banners(Bytes)
}

/// How an option (or all of them) ended.
public enum OptionOutcome: Sendable, Equatable {
    /// Go on with the next option; after the last, the table's verdict stands.
    case proceed
    /// `allow`, `deny`, a failed `aclexec`: the verdict is decided.
    case permit
    case deny
    /// A bad option or value (libwrap's tcpd_jump()): logged, then denied.
    case error(String)
    /// `twist` in a multi-client daemon: another program now serves the
    /// connection, the daemon must not see it.
    case handedOff

    /// Messages compare byte for byte (String's == needs Unicode tables that
    /// the libraries do not carry).
    public static func == (a: OptionOutcome, b: OptionOutcome) -> Bool {
        switch (a, b) {
        case (.proceed, .proceed), (.permit, .permit), (.deny, .deny), (.handedOff, .handedOff): return true
        case (.error(let m), .error(let n)): return m.utf8.elementsEqual(n.utf8)
        default: return false
        }
    }
}

/// What process_options() needs from its caller.
public protocol OptionRunner {
    /// %-expansion of an option value (see PercentExpander); nil if too long.
    mutating func expand(_ value: Bytes) -> Bytes?
    /// hosts_access_verbose: "option:   name value" at LOG_DEBUG.
    mutating func traceOption(name: Bytes, value: Bytes?)
    /// Carries out one option (or, in a dry run, checks it).
    mutating func perform(_ action: OptionAction) -> OptionOutcome
    /// "rule ends in ":"" and other warnings.
    mutating func warn(_ message: String)
}

public enum Options {
    /// Which option a Spec describes (compared as a value, not as text).
    enum Kind {
        case user, group, umask, linger, keepalive, aclexec, spawn, twist
        case rfc931, setenv, nice, severity, allow, deny, banners
    }

    struct Spec {
        var name: String
        var kind: Kind
        var needsValue: Bool
        var takesValue: Bool
        var expands: Bool
        var mustBeLast: Bool
    }

    /// libwrap's option table: name, value rules, %-expansion, must end the list.
    static let table: [Spec] = [
        Spec(name: "user", kind: .user, needsValue: true, takesValue: true, expands: false, mustBeLast: false),
        Spec(name: "group", kind: .group, needsValue: true, takesValue: true, expands: false, mustBeLast: false),
        Spec(name: "umask", kind: .umask, needsValue: true, takesValue: true, expands: false, mustBeLast: false),
        Spec(name: "linger", kind: .linger, needsValue: true, takesValue: true, expands: false, mustBeLast: false),
        Spec(name: "keepalive", kind: .keepalive, needsValue: false, takesValue: false, expands: false, mustBeLast: false),
        Spec(name: "aclexec", kind: .aclexec, needsValue: true, takesValue: true, expands: true, mustBeLast: false),
        Spec(name: "spawn", kind: .spawn, needsValue: true, takesValue: true, expands: true, mustBeLast: false),
        Spec(name: "twist", kind: .twist, needsValue: true, takesValue: true, expands: true, mustBeLast: true),
        Spec(name: "rfc931", kind: .rfc931, needsValue: false, takesValue: true, expands: false, mustBeLast: false),
        Spec(name: "setenv", kind: .setenv, needsValue: true, takesValue: true, expands: true, mustBeLast: false),
        Spec(name: "nice", kind: .nice, needsValue: false, takesValue: true, expands: false, mustBeLast: false),
        Spec(name: "severity", kind: .severity, needsValue: true, takesValue: true, expands: false, mustBeLast: false),
        Spec(name: "allow", kind: .allow, needsValue: false, takesValue: false, expands: false, mustBeLast: true),
        Spec(name: "deny", kind: .deny, needsValue: false, takesValue: false, expands: false, mustBeLast: true),
        Spec(name: "banners", kind: .banners, needsValue: true, takesValue: true, expands: false, mustBeLast: false),
    ]

    /// libwrap's `whitespace` (" \t\r\n"): what separates an option's name
    /// from its value and setenv's name from its value.
    static func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0D || c == 0x0A }

    /// chop_string(): without leading and trailing white space as isspace()
    /// sees it, \v and \f too (found by the differential fuzz target: an
    /// option "\fallow" is allow in libwrap).
    static func chop(_ s: ArraySlice<UInt8>) -> Bytes {
        var a = s.startIndex, b = s.endIndex
        while a < b && WordReader.isSpace(s[a]) { a += 1 }
        while b > a && WordReader.isSpace(s[b - 1]) { b -= 1 }
        return Array(s[a..<b])
    }

    /// get_field(): the colon-separated fields, with `\:` standing for a colon.
    /// The flag says the text ended in a colon (libwrap warns about that).
    static func fields(_ s: Bytes) -> (fields: [Bytes], endsInColon: [Bool]) {
        var out: [Bytes] = []
        var flags: [Bool] = []
        var i = 0
        while i < s.count {
            var field: Bytes = []
            var ends = false
            while i < s.count {
                let c = s[i]
                if c == UInt8(ascii: ":") {
                    i += 1
                    if i >= s.count { ends = true }
                    break
                }
                if c == UInt8(ascii: "\\") && i + 1 < s.count && s[i + 1] == UInt8(ascii: ":") {
                    i += 1
                }
                field.append(s[i])
                i += 1
            }
            out.append(field)
            flags.append(ends)
        }
        return (out, flags)
    }

    /// process_options(): parses, checks and runs the options of a matched rule.
    public static func process<R: OptionRunner>(_ text: Bytes, _ runner: inout R) -> OptionOutcome {
        let (list, endsInColon) = fields(text)
        // libwrap reads one field ahead, so a field's warning comes first.
        if endsInColon.first == true { runner.warn("rule ends in \":\"") }
        for (index, raw) in list.enumerated() {
            if index + 1 < list.count && endsInColon[index + 1] { runner.warn("rule ends in \":\"") }
            let isLast = index == list.count - 1
            let opt = chop(raw[...])
            // Name and value: one white-space run and/or one '=' between them.
            var nameEnd = 0
            while nameEnd < opt.count && !isSpace(opt[nameEnd]) && opt[nameEnd] != UInt8(ascii: "=") { nameEnd += 1 }
            let name = Array(opt[..<nameEnd])
            var v = nameEnd
            if v < opt.count {
                if opt[v] != UInt8(ascii: "=") {
                    v += 1
                    while v < opt.count && isSpace(opt[v]) { v += 1 }
                }
                if v < opt.count && opt[v] == UInt8(ascii: "=") {
                    v += 1
                    while v < opt.count && isSpace(opt[v]) { v += 1 }
                }
            }
            var value: Bytes? = v < opt.count ? Array(opt[v...]) : nil
            if name.isEmpty { return .error("missing option name") }
            guard let spec = table.first(where: { caseEqual(Array($0.name.utf8), name) }) else {
                return .error("bad option name: \"\(name.text)\"")
            }
            if value == nil && spec.needsValue { return .error("option \"\(name.text)\" requires value") }
            if value != nil && !spec.takesValue { return .error("option \"\(name.text)\" requires no value") }
            if !isLast && spec.mustBeLast { return .error("option \"\(name.text)\" must be at end") }
            if let raw = value, spec.expands {
                guard let expanded = runner.expand(raw) else {
                    return .error("percent_x: expansion too long: \(raw.textPrefix(30))")
                }
                value = chop(expanded[...])
            }
            runner.traceOption(name: name, value: value)
            let action: OptionAction
            switch parse(spec.kind, value) {
            case .success(let a): action = a
            case .failure(let e): return .error(e.message)
            }
            let outcome = runner.perform(action)
            if outcome != .proceed { return outcome }
        }
        return .proceed
    }

    struct BadValue: Error { var message: String }

    /// Checks an option's value as libwrap's option functions do before acting.
    static func parse(_ kind: Kind, _ value: Bytes?) -> Result<OptionAction, BadValue> {
        let v = value ?? []
        switch kind {
        case .user:
            if let (u, g) = splitAt(v[...], UInt8(ascii: ".")) {
                return .success(.user(name: Array(u), group: Array(g)))
            }
            return .success(.user(name: v, group: nil))
        case .group:
            return .success(.group(v))
        case .umask:
            guard let m = scanInteger(v, octal: true), m & 0o777 == m, m >= 0 else {
                return .failure(BadValue(message: "bad umask value: \"\(v.text)\""))
            }
            return .success(.umask(UInt32(m)))
        case .linger:
            guard let n = scanInteger(v, octal: false), n >= 0 else {
                return .failure(BadValue(message: "bad linger value: \"\(v.text)\""))
            }
            return .success(.linger(Int32(truncatingIfNeeded: n)))
        case .keepalive:
            return .success(.keepalive)
        case .spawn:
            return .success(.spawn(v))
        case .twist:
            return .success(.twist(v))
        case .aclexec:
            return .success(.aclexec(v))
        case .rfc931:
            guard let value else { return .success(.rfc931(timeout: nil)) }
            guard let n = scanInteger(value, octal: false), n > 0, n <= Int(Int32.max) else {
                return .failure(BadValue(message: "bad rfc931 timeout: \"\(v.text)\""))
            }
            return .success(.rfc931(timeout: Int32(n)))
        case .setenv:
            var i = 0
            while i < v.count && !isSpace(v[i]) { i += 1 }
            let n = chop(v[..<i])
            let rest = i < v.count ? chop(v[(i + 1)...]) : []
            return .success(.setenv(name: n, value: rest))
        case .nice:
            guard let value else { return .success(.nice(10)) }
            guard let n = scanInteger(value, octal: false) else {
                return .failure(BadValue(message: "bad nice value: \"\(v.text)\""))
            }
            return .success(.nice(Int32(truncatingIfNeeded: n)))
        case .severity:
            if let (fac, lev) = splitAt(v[...], UInt8(ascii: ".")) {
                guard let f = lookup(Array(fac), facilities) else {
                    return .failure(BadValue(message: "bad syslog facility or severity: \"\(Array(fac).text)\""))
                }
                guard let l = lookup(Array(lev), levels) else {
                    return .failure(BadValue(message: "bad syslog facility or severity: \"\(Array(lev).text)\""))
                }
                return .success(.severity(f | l))
            }
            guard let l = lookup(v, levels) else {
                return .failure(BadValue(message: "bad syslog facility or severity: \"\(v.text)\""))
            }
            return .success(.severity(l))
        case .allow:
            return .success(.allow)
        case .deny:
            return .success(.deny)
        case .banners:
            return .success(.banners(v))
        }
    }

    static let levels: [(String, Int32)] = [
        ("emerg", 0), ("alert", 1), ("crit", 2), ("err", 3),
        ("warning", 4), ("notice", 5), ("info", 6), ("debug", 7),
    ]
    static let facilities: [(String, Int32)] = [
        ("kern", 0 << 3), ("user", 1 << 3), ("mail", 2 << 3), ("daemon", 3 << 3),
        ("auth", 4 << 3), ("lpr", 6 << 3), ("news", 7 << 3), ("uucp", 8 << 3),
        ("cron", 9 << 3), ("local0", 16 << 3), ("local1", 17 << 3), ("local2", 18 << 3),
        ("local3", 19 << 3), ("local4", 20 << 3), ("local5", 21 << 3), ("local6", 22 << 3),
        ("local7", 23 << 3),
    ]

    static func lookup(_ name: Bytes, _ table: [(String, Int32)]) -> Int32? {
        table.first(where: { caseEqual(Array($0.0.utf8), name) })?.1
    }

    /// sscanf(value, "%d%c") == 1 (or "%o%c"): one integer and nothing after it.
    static func scanInteger(_ s: Bytes, octal: Bool) -> Int? {
        var i = 0
        while i < s.count && (s[i] == 0x20 || (s[i] >= 0x09 && s[i] <= 0x0D)) { i += 1 }
        var negative = false
        if i < s.count && (s[i] == UInt8(ascii: "-") || s[i] == UInt8(ascii: "+")) {
            negative = s[i] == UInt8(ascii: "-")
            i += 1
        }
        let base = octal ? 8 : 10
        var digits = 0
        var v = 0
        while i < s.count, s[i] >= 0x30, s[i] < 0x30 + UInt8(base) {
            if v < Int.max / 16 { v = v * base + Int(s[i] - 0x30) }
            i += 1; digits += 1
        }
        if digits == 0 || i != s.count { return nil }
        return negative ? -v : v
    }
}
