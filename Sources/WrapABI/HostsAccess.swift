// HostsAccess.swift - hosts_access(), hosts_ctl(), process_options().
//
// The policy, as libwrap states it: access is granted when a rule in
// hosts.allow matches; otherwise denied when a rule in hosts.deny matches;
// otherwise granted. A missing table is empty. When a table cannot be read,
// or a matched rule's options are in error, it seems better to play safe and
// deny service.

import CWrap
import CSystem
import WrapCore

/// The engine's view of a request_info, with lookups done on demand. Values
/// are prepared once per request, not once per rule.
struct RequestContext: MatchContext {
    let request: RequestPtr
    var table: UnsafeMutablePointer<CChar>
    let daemon: Subject
    private var userValue: Subject?
    private var clientName: Subject?, serverName: Subject?
    private var clientAddr: Subject?, serverAddr: Subject?
    /// True while the match has asked for nothing but the client's address
    /// (and the daemon name): no name, user, server endpoint, host file or
    /// netgroup, no warning, no table read as a stream. Such a verdict
    /// holds for every connection from that address while the tables stay
    /// as they are (the shim's AdmittedAddresses).
    var addressOnly = true

    init(request: RequestPtr, table: UnsafeMutablePointer<CChar>) {
        self.request = request
        self.table = table
        let name = Fields.daemon(request)
        if let known = Resident.daemonSubject, equalsCString(known.raw, name) {
            daemon = known
        } else {
            daemon = Subject(bytes(name))
        }
    }

    mutating func serverPort() -> Int? {
        addressOnly = false
        guard let sin = Sock.serverAddress(request) else { return nil }
        return Int(UInt16(bigEndian: UnsafeRawPointer(sin).load(fromByteOffset: 2, as: UInt16.self)))
    }

    mutating func user() -> Subject {
        addressOnly = false
        if let u = userValue { return u }
        let u = Subject(bytes(Eval.user(request)))
        userValue = u
        return u
    }

    mutating func hostName(_ side: Side) -> Subject {
        addressOnly = false
        if let n = side == .client ? clientName : serverName { return n }
        let n = Subject(bytes(Eval.hostname(Fields.host(request, side))))
        if side == .client { clientName = n } else { serverName = n }
        return n
    }

    mutating func hostAddr(_ side: Side) -> Subject {
        if side == .server { addressOnly = false }
        if let a = side == .client ? clientAddr : serverAddr { return a }
        let h = Fields.host(request, side)
        let a: Subject
        if let v4 = Sock.pendingIPv4(h) {
            // The text is written from these four bytes: nothing to parse back.
            a = Subject(dottedQuad: bytes(Eval.hostaddr(h)), address: v4)
        } else {
            a = Subject(bytes(Eval.hostaddr(h)))
        }
        if side == .client { clientAddr = a } else { serverAddr = a }
        return a
    }

    mutating func hostFile(_ path: Bytes) -> HostFile {
        addressOnly = false
        return withCString(path) { p in
            switch Caches.hostFiles.get(p) {
            case .value(let patterns): return .patterns(patterns)
            case .large:
                // Closed as soon as the matcher is done with it.
                guard let source = fileChunks(p, blockSize: 64 << 10) else {
                    return .unreadable("open \(path.text): \(Diag.errnoText())")
                }
                return .stream(source)
            case .missing, .wouldWait: return .missing   // probing: the probe state says it could wait
            case .failed(let why): return .unreadable("open \(path.text): \(why)")
            }
        }
    }

    mutating func inNetgroup(_ group: Bytes, host: Bytes) -> Bool {
        addressOnly = false
        if cwrap_probe_state() != 0 {
            cwrap_set_probe_state(2)   // NIS or LDAP may answer slowly
            return false
        }
        var domain = [CChar](repeating: 0, count: 256)
        let haveDomain = getdomainname(&domain, domain.count - 1) == 0
            && domain[0] != 0 && bytes(domain) != Bytes(ascii: "(none)")
        return withCString(group) { g in
            withCString(host) { h in
                haveDomain ? innetgr(g, h, nil, domain) != 0 : innetgr(g, h, nil, nil) != 0
            }
        }
    }

    mutating func warn(_ message: String) {
        addressOnly = false
        Diag.warn(message)
    }

    mutating func setPosition(line: Int) { cwrap_set_position(table, Int32(clamping: line)) }
}

/// Who is asking: a program calling libwrap for one request (tcpd, sshd),
/// or the preload shim inside a daemon that serves many clients, where
/// options that would change the whole process are refused and commands run
/// detached.
public enum AccessMode: Sendable { case library, resident }

/// Carries out (or in a dry run, checks) a matched rule's options.
struct RequestOptions: OptionRunner {
    let request: RequestPtr
    let mode: AccessMode
    /// An aclexec command failed: once all options have run, the rule counts
    /// as not matching (libwrap: "aclexec returned 1", and the table says NO).
    var aclexecFailed = false

    mutating func expand(_ value: Bytes) -> Bytes? {
        Eval.expand(request, value, limit: Int(BUFSIZ))
    }

    mutating func traceOption(name: Bytes, value: Bytes?) {
        if cwrap_verbose() != 0 {
            Diag.log(LOG_DEBUG, "option:   \(name.text) \((value ?? []).text)")
        }
    }

    mutating func warn(_ message: String) { Diag.warn(message) }

    mutating func perform(_ action: OptionAction) -> OptionOutcome {
        if case .aclexec(let command) = action {
            if cwrap_dry_run() != 0 { return .proceed }
            if mode == .library && cwrap_children_autoreaped() == 0 {
                if Shell.run(command) != 0 { aclexecFailed = true }
                return .proceed
            }
            if mode == .library {
                // The process ignores SIGCHLD: waitpid() cannot tell the
                // status (Debian's library then takes every command for a
                // failure: an aclexec rule in hosts.deny admits everyone).
                guard let status = Shell.runForStatus(command, closeOthers: false) else {
                    Diag.warn("aclexec: the command's exit status is unknown: denied")
                    return .deny
                }
                if status != 0 { aclexecFailed = true }
                return .proceed
            }
            // In a daemon that serves many clients, a command per client is
            // counted with spawn and twist; when it cannot run, or its exit
            // status cannot be learned, the request is denied (fail closed:
            // in hosts.deny a rule that "does not match" would admit).
            if !RateLimit.commands.take() {
                if RateLimit.commandWarnings.take() { Diag.warn("aclexec refused: more than 10 commands a second") }
                return .deny
            }
            guard let status = Shell.runForStatus(command) else {
                Diag.warn("aclexec: the command's exit status is unknown: denied")
                return .deny
            }
            if status != 0 { aclexecFailed = true }
            return .proceed
        }
        return OptionActions.perform(action, request, mode)
    }
}

/// What hosts_access() consulted, for tcpdmatch --json.
public enum Explain {
    public enum Event {
        case matched(Bytes, line: Int, options: Bytes?)
        case noMatch(Bytes)
        case unreadable(Bytes)
    }
    /// Set by a tool before it asks; nil in the libraries.
    nonisolated(unsafe) public static var observer: ((Event) -> Void)? = nil
}

public enum Access {
    public enum Verdict: Sendable { case permit, deny, handedOff }

    /// table_match() and what follows a match: YES, NO or ERR, or a decided verdict.
    enum TableResult { case yes, no, error, decided(Verdict) }

    /// The first rule of `table` that matches, without its options: nil
    /// when the table cannot be read (and said so).
    static func firstMatch(_ table: UnsafeMutablePointer<CChar>, _ request: RequestPtr) -> TableMatch? {
        var ctx = RequestContext(request: request, table: table)
        return firstMatch(table, &ctx)
    }

    /// The same with a context the caller keeps (its values prepared once
    /// for both tables; only where no option can change the request between).
    static func firstMatch(_ table: UnsafeMutablePointer<CChar>, _ ctx: inout RequestContext) -> TableMatch? {
        ctx.table = table
        switch Caches.tables.get(table) {
        case .missing, .wouldWait:   // probing: the probe state says it could wait
            return TableMatch.none
        case .failed(let why):
            Diag.warn("cannot open \(latin1String(table)): \(why)")
            return nil
        case .value(let compiled):
            cwrap_set_position(table, 0)
            return Matcher.match(compiled, &ctx)
        case .large:
            ctx.addressOnly = false
            cwrap_set_position(table, 0)
            guard let r = streamTable(table, &ctx) else {
                cwrap_set_position(nil, 0)
                Diag.warn("cannot open \(latin1String(table)): \(Diag.errnoText())")
                return nil
            }
            return r
        }
    }

    static func tableMatch(_ table: UnsafeMutablePointer<CChar>, _ request: RequestPtr, _ mode: AccessMode) -> TableResult {
        var savedFile: UnsafeMutablePointer<CChar>? = nil
        var savedLine: Int32 = 0
        cwrap_get_position(&savedFile, &savedLine)
        defer { cwrap_set_position(savedFile, savedLine) }

        guard let result = firstMatch(table, request) else {
            Explain.observer?(.unreadable(bytes(table)))
            return .error
        }
        if let observer = Explain.observer {
            if case .matched(let rule) = result {
                observer(.matched(bytes(table), line: rule.line, options: rule.options))
            } else {
                observer(.noMatch(bytes(table)))
            }
        }
        switch result {
        case .none:
            return .no
        case .error:
            return .error
        case .matched(let rule):
            cwrap_set_position(table, Int32(clamping: rule.line))
            if cwrap_verbose() > 1 {
                Diag.log(LOG_DEBUG, "matched:  \(latin1String(table)) line \(rule.line)")
            }
            if let options = rule.options {
                var runner = RequestOptions(request: request, mode: mode)
                let outcome = Options.process(options, &runner)
                if outcome == .proceed && runner.aclexecFailed {
                    Diag.log(LOG_INFO, "aclexec returned 1")
                    return .no
                }
                if outcome != .proceed {
                    // libwrap longjmp()s out here and never restores
                    // tcpd_context: later diagnostics keep this position.
                    cwrap_set_context(table, Int32(clamping: rule.line))
                }
                switch outcome {
                case .proceed: return .yes
                case .permit: return .decided(.permit)
                case .deny: return .decided(.deny)
                case .handedOff: return .decided(.handedOff)
                case .error(let message):
                    Diag.error(message)
                    return .decided(.deny)
                }
            }
            return .yes
        }
    }

    /// process_options() in a dry run, for tcpdchk: the outcome, errors
    /// returned rather than logged.
    public static func dryRunOptions(_ options: Bytes, _ request: UnsafeMutablePointer<request_info>) -> OptionOutcome {
        let saved = cwrap_dry_run()
        cwrap_set_dry_run(1)
        defer { cwrap_set_dry_run(saved) }
        return runOptions(options, request, .library)
    }

    static func runOptions(_ options: Bytes, _ request: RequestPtr, _ mode: AccessMode) -> OptionOutcome {
        var runner = RequestOptions(request: request, mode: mode)
        return Options.process(options, &runner)
    }

    public enum Probe: Sendable {
        /// Deciding could wait on a name, user or netgroup lookup.
        case couldWait
        /// Decided without options to run.
        case decided(Verdict)
        /// The matched rule has options: decide() runs them.
        case needsOptions
    }

    /// What deciding `request` would need, found without a lookup: the
    /// tables are matched with the names already known (the shim's name
    /// cache) and any other lookup counted as "could wait".
    /// `addressOnly` says whether a `.decided` verdict was found from the
    /// client's address alone (see RequestContext.addressOnly).
    public static func probe(_ request: UnsafeMutablePointer<request_info>, addressOnly: inout Bool) -> Probe {
        addressOnly = false
        guard let allow = UnsafeMutablePointer(mutating: cwrap_allow_table()),
              let deny = UnsafeMutablePointer(mutating: cwrap_deny_table()) else { return .decided(.deny) }
        var savedFile: UnsafeMutablePointer<CChar>? = nil
        var savedLine: Int32 = 0
        cwrap_get_position(&savedFile, &savedLine)
        cwrap_set_probe_state(1)
        defer {
            cwrap_set_probe_state(0)
            cwrap_set_position(savedFile, savedLine)
        }
        var ctx = RequestContext(request: request, table: allow)
        for pass in 0..<2 {
            let table = pass == 0 ? allow : deny
            let result = firstMatch(table, &ctx)
            if cwrap_probe_state() == 2 { return .couldWait }
            if cwrap_probe_state() == 3 { return .needsOptions }   // it has something to say
            switch result {
            case nil, .error?:
                return .needsOptions   // decide() says why, and denies
            case .matched(let rule)?:
                guard let options = rule.options else {
                    addressOnly = ctx.addressOnly
                    return .decided(pass == 0 ? .permit : .deny)
                }
                return optionsCouldWait(options) ? .couldWait : .needsOptions
            case .none?:
                continue
            }
        }
        addressOnly = ctx.addressOnly
        return .decided(.permit)
    }

    /// Options that may look a name or user up: %-expansions (in commands,
    /// banners), rfc931, banners (files full of them).
    static func optionsCouldWait(_ options: Bytes) -> Bool {
        if options.contains(UInt8(ascii: "%")) { return true }
        func has(_ word: Bytes) -> Bool {
            guard options.count >= word.count else { return false }
            for i in 0...(options.count - word.count) {
                var same = true
                for j in 0..<word.count where options[i + j] | 0x20 != word[j] {
                    same = false
                    break
                }
                if same { return true }
            }
            return false
        }
        return has(Bytes(ascii: "rfc931")) || has(Bytes(ascii: "banners"))
    }

    /// hosts_access(): the verdict on a request.
    public static func decide(_ request: UnsafeMutablePointer<request_info>, mode: AccessMode) -> Verdict {
        cwrap_bump_resident()
        guard let allow = UnsafeMutablePointer(mutating: cwrap_allow_table()),
              let deny = UnsafeMutablePointer(mutating: cwrap_deny_table()) else { return .deny }
        switch tableMatch(allow, request, mode) {
        case .yes: return .permit
        case .decided(let v): return v
        case .no, .error: break
        }
        switch tableMatch(deny, request, mode) {
        case .no: return .permit
        case .decided(let v): return v
        case .yes, .error: return .deny
        }
    }
}

@_cdecl("hosts_access")
public func c_hosts_access(_ request: UnsafeMutablePointer<request_info>?) -> Int32 {
    guard let request else { return 0 }
    let saved = errno
    defer { errno = saved }
    if Admitted.shared.covers(request) { return 1 }
    return Access.decide(request, mode: .library) == .permit ? 1 : 0
}

@_cdecl("hosts_ctl")
public func c_hosts_ctl(
    _ daemon: UnsafeMutablePointer<CChar>?, _ name: UnsafeMutablePointer<CChar>?,
    _ addr: UnsafeMutablePointer<CChar>?, _ user: UnsafeMutablePointer<CChar>?
) -> Int32 {
    let request = RequestPtr.allocate(capacity: 1)
    defer { request.deallocate() }
    requestReset(request)
    if let daemon { requestSetString(request, RQ_DAEMON, daemon) }
    if let name { requestSetString(request, RQ_CLIENT_NAME, name) }
    if let addr { requestSetString(request, RQ_CLIENT_ADDR, addr) }
    if let user { requestSetString(request, RQ_USER, user) }
    return c_hosts_access(request)
}

/// process_options() for callers with their own tcpd_buf (the C side jumps).
@_cdecl("swrap_process_options")
public func c_swrap_process_options(_ options: UnsafeMutablePointer<CChar>?, _ request: UnsafeMutablePointer<request_info>?) -> Int32 {
    guard let options, let request else { return 0 }
    let saved = errno
    defer { errno = saved }
    switch Access.runOptions(bytes(options), request, .library) {
    case .proceed: return 0
    case .permit: return AC_PERMIT
    case .deny, .handedOff: return AC_DENY
    case .error(let message):
        Diag.error(message)
        return AC_DENY
    }
}

/// request_init()'s first step: everything unknown, as a fresh request.
public func requestReset(_ r: UnsafeMutablePointer<request_info>) {
    memset(r, 0, MemoryLayout<request_info>.size)
    r.pointee.fd = -1
    strcpy(Fields.daemon(r), cwrap_unknown())
    storeCString(Fields.pid(r), cwrap_pid_text(), size: 10)
    Fields.host(r, .client).pointee.request = r
    Fields.host(r, .server).pointee.request = r
}

public func requestSetString(_ r: UnsafeMutablePointer<request_info>, _ key: Int32, _ value: UnsafePointer<CChar>) {
    let dst: UnsafeMutablePointer<CChar>
    switch key {
    case RQ_DAEMON: dst = Fields.daemon(r)
    case RQ_USER: dst = Fields.user(r)
    case RQ_CLIENT_NAME: dst = Fields.name(Fields.host(r, .client))
    case RQ_CLIENT_ADDR: dst = Fields.addr(Fields.host(r, .client))
    case RQ_SERVER_NAME: dst = Fields.name(Fields.host(r, .server))
    case RQ_SERVER_ADDR: dst = Fields.addr(Fields.host(r, .server))
    default: return
    }
    storeCString(dst, value)
}

@_cdecl("swrap_request_reset")
public func c_swrap_request_reset(_ r: UnsafeMutablePointer<request_info>?) {
    if let r { requestReset(r) }
}

@_cdecl("swrap_request_set_string")
public func c_swrap_request_set_string(_ r: UnsafeMutablePointer<request_info>?, _ key: Int32, _ value: UnsafePointer<CChar>?) {
    // libwrap would crash on a null string; we leave the field as it is.
    if let r, let value { requestSetString(r, key, value) }
}
