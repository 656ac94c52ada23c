// tcpdmatch - what tcpd (or a libwrap daemon) would do for a client.
//
//   tcpdmatch [-d] [-i inet_conf] [--json] daemon[@host] [user@]host
//
// Debian's command line, output and exit status: the same stdout for the
// same tables and arguments (the differential tests compare them). Beyond
// Debian: the library's warnings and "matched:" lines reach standard error
// (Debian's go to syslog, unseen), and --json explains the verdict: each
// table consulted, the rule that matched and its options.
//
// The entry point is named <target>_main, as SwiftPM renames an
// executable's main (Embedded Swift has no CommandLine).

import CSystem
import CWrap
import WrapABI
import WrapCore
import WrapTools


struct Explanation {
    var fields: [(String, Bytes)] = []
    var tables: [Bytes] = []
    var access = ""
}

nonisolated(unsafe) var explanation = Explanation()
nonisolated(unsafe) var json = false
nonisolated(unsafe) var blocks: [Bytes] = []

func usage(_ me: Bytes) -> Never {
    Out.error("usage: \(me.text) [-d] [-i inet_conf] daemon[@host] [user@]host\n")
    Out.error("\t-d: use allow/deny files in current directory\n")
    Out.error("\t-i: location of inetd.conf file\n")
    Out.error("\t--json: explain the verdict as JSON (not in Debian's)\n")
    Out.exit(1)
}

/// Prints a line unless the value is "unknown" (`key`: its JSON name).
func expand(_ label: String, _ key: String, _ pattern: String, _ r: UnsafeMutablePointer<request_info>) {
    let value = Scaffold.expand(pattern, r)
    if strEq(value, "unknown") { return }
    if json {
        explanation.fields.append((key, value))
    } else {
        Out.print(label + " ")
        Out.write(value)
        Out.print("\n")
    }
}

/// tcpdmatch(): what is known of the request, then the verdict.
func match(_ r: UnsafeMutablePointer<request_info>) {
    explanation = Explanation()
    expand("client:   hostname", "client_hostname", "%n", r)
    expand("client:   address ", "client_address", "%a", r)
    expand("client:   username", "client_username", "%u", r)
    expand("server:   hostname", "server_hostname", "%N", r)
    expand("server:   address ", "server_address", "%A", r)
    expand("server:   process ", "server_process", "%d", r)
    cwrap_set_rfc931_timeout(10)
    cwrap_set_severity_defaults()
    cwrap_set_dry_run(1)
    let verdict = c_hosts_access(r)
    let access = cwrap_dry_run() == 0 ? "delegated" : verdict != 0 ? "granted" : "denied"
    if json {
        explanation.access = access
        blocks.append(render(explanation))
    } else {
        Out.print("access:   \(access)\n")
    }
}

func render(_ e: Explanation) -> Bytes {
    var out: Bytes = [UInt8(ascii: "{")]
    for (key, value) in e.fields {
        out += jsonString(key) + Array(": ".utf8) + jsonString(value) + Array(", ".utf8)
    }
    out += Array("\"tables\": [".utf8)
    for (i, t) in e.tables.enumerated() {
        if i > 0 { out += Array(", ".utf8) }
        out += t
    }
    out += Array("], \"access\": ".utf8) + jsonString(e.access) + [UInt8(ascii: "}")]
    return out
}

func trimmed(_ b: Bytes) -> Bytes {
    let blank: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }
    guard let first = b.firstIndex(where: { !blank($0) }), let last = b.lastIndex(where: { !blank($0) }) else { return [] }
    return Array(b[first...last])
}

/// Where the library says what it consulted (--json).
func observe(_ event: Explain.Event) {
    switch event {
    case .matched(let table, let line, let options):
        let opts = options.map { jsonString(trimmed($0)) } ?? Array("null".utf8)
        explanation.tables.append(Array("{\"table\": ".utf8) + jsonString(table) + Array(", \"matched_line\": \(line), \"options\": ".utf8) + opts + [UInt8(ascii: "}")])
    case .noMatch(let table):
        explanation.tables.append(Array("{\"table\": ".utf8) + jsonString(table) + Array(", \"matched_line\": null}".utf8))
    case .unreadable(let table):
        explanation.tables.append(Array("{\"table\": ".utf8) + jsonString(table) + Array(", \"error\": \"unreadable\"}".utf8))
    }
}

/// inet_get(): what inetd.conf says of the daemon (warnings only).
func checkInetd(_ path: Bytes?, daemon: Bytes) {
    let services = InetdServices.load(path)
    guard let file = services.path else { return }
    switch services.wrapped[daemon] {
    case nil: Tool.warn("\(daemon.text): no such process name in \(file.text)")
    case false?: Tool.warn("\(daemon.text): service possibly not wrapped")
    default: break
    }
}

@_cdecl("tcpdmatch_main")
public func tcpdmatchMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    Tool.start()
    cwrap_set_verbose(2)   // show what rule matched (on standard error)
    let me = argv[0].map { bytes($0) } ?? Array("tcpdmatch".utf8)

    // --json is ours: taken out before getopt() sees the arguments.
    var args: [UnsafeMutablePointer<CChar>?] = []
    for i in 0..<Int(argc) {
        if let a = argv[i], strcmp(a, "--json") == 0 { json = true } else { args.append(argv[i]) }
    }
    let n = Int32(args.count)
    args.append(nil)
    var inetcf: Bytes? = nil
    while true {
        let ch = getopt(n, &args, "di:")
        if ch == -1 { break }
        switch UInt8(truncatingIfNeeded: ch) {
        case UInt8(ascii: "d"): cwrap_set_tables("hosts.allow", "hosts.deny")
        case UInt8(ascii: "i"): inetcf = csystem_optarg().map { bytes($0) }
        default: usage(me)
        }
    }
    let first = Int(csystem_optind())
    if Int(n) != first + 2 { usage(me) }
    if json { Explain.observer = observe }

    // When confusion really strikes...
    Scaffold.checkRealDaemonDir()

    // daemon[@host]
    var daemonArg = bytes(args[first]!)
    var server: Bytes = Array("unknown".utf8)
    if let at = daemonArg.firstIndex(of: 0x40) {
        server = Array(daemonArg[(at + 1)...])
        daemonArg = Array(daemonArg[..<at])
    }
    var daemon = daemonArg
    if daemonArg.first == 0x2F {
        daemon = Array(daemonArg[(daemonArg.lastIndex(of: 0x2F)! + 1)...])
        Tool.warn("\(daemonArg.text): daemon name normalized to: \(daemon.text)")
    }

    // [user@]host
    var client = bytes(args[first + 1]!)
    var user: Bytes = Array("unknown".utf8)
    if let at = client.firstIndex(of: 0x40) {
        user = Array(client[..<at])
        client = Array(client[(at + 1)...])
    }

    checkInetd(inetcf, daemon: daemon)
    Scaffold.checkPath(bytes(cwrap_allow_table()))
    Scaffold.checkPath(bytes(cwrap_deny_table()))

    let r = UnsafeMutablePointer<request_info>.allocate(capacity: 1)
    requestReset(r)
    cString(daemon).withUnsafeBufferPointer { requestSetString(r, RQ_DAEMON, $0.baseAddress!) }
    cString(user).withUnsafeBufferPointer { requestSetString(r, RQ_USER, $0.baseAddress!) }
    r.pointee.fd = 1   // banners become visible
    requestUseSocketMethods(r)

    // A server host must map to one address.
    let serverSin = UnsafeMutablePointer<sockaddr_storage>.allocate(capacity: 1)
    if !notInaddr(server) || hostnameKnown(server) {
        guard let addresses = Scaffold.findInetAddr(server) else { Out.exit(1) }
        r.pointee.server.sin = UnsafeMutableRawPointer(serverSin).assumingMemoryBound(to: sockaddr_in.self)
        for a in addresses {
            serverSin.pointee = a.storage
            requestSetString(r, RQ_SERVER_NAME, "")
            requestSetString(r, RQ_SERVER_ADDR, "")
            if strEq(bytes(c_eval_hostname(&r.pointee.server)!), "unknown") {
                Tool.warn("host address \(bytes(c_eval_hostaddr(&r.pointee.server)!).text)->name lookup failed")
            }
        }
        if addresses.count > 1 {
            Out.error("Error: \(server.text) has more than one address\n")
            Out.error("Please specify an address instead\n")
            Out.exit(1)
        }
    } else {
        cString(server).withUnsafeBufferPointer { requestSetString(r, RQ_SERVER_NAME, $0.baseAddress!) }
    }

    func finish() -> Never {
        if json {
            if blocks.count == 1 {
                Out.write(blocks[0])
            } else {
                Out.print("[")
                for (i, b) in blocks.enumerated() {
                    if i > 0 { Out.print(", ") }
                    Out.write(b)
                }
                Out.print("]")
            }
            Out.print("\n")
        }
        Out.exit(0)
    }

    // A client address: as if its name lookup failed.
    var numeric6 = in6_addr()
    if isDotQuad(client) || inet_pton(AF_INET6, cString(client), &numeric6) == 1 {
        cString(client).withUnsafeBufferPointer { requestSetString(r, RQ_CLIENT_ADDR, $0.baseAddress!) }
        match(r)
        finish()
    }
    // Special client names that are not host names (unknown, paranoid).
    if notInaddr(client) && !hostnameKnown(client) {
        cString(client).withUnsafeBufferPointer { requestSetString(r, RQ_CLIENT_NAME, $0.baseAddress!) }
        match(r)
        finish()
    }
    // A client name: each of its addresses.
    guard let addresses = Scaffold.findInetAddr(client) else { Out.exit(1) }
    let clientSin = UnsafeMutablePointer<sockaddr_storage>.allocate(capacity: 1)
    r.pointee.client.sin = UnsafeMutableRawPointer(clientSin).assumingMemoryBound(to: sockaddr_in.self)
    for (i, a) in addresses.enumerated() {
        clientSin.pointee = a.storage
        requestSetString(r, RQ_CLIENT_NAME, "")
        requestSetString(r, RQ_CLIENT_ADDR, "")
        let linkLocal = a.storage.ss_family == sa_family_t(AF_INET6) && withUnsafeBytes(of: a.storage) {
            $0[8] == 0xFE && $0[9] & 0xC0 == 0x80
        }
        if !linkLocal && strEq(bytes(c_eval_hostname(&r.pointee.client)!), "unknown") {
            Tool.warn("host address \(bytes(c_eval_hostaddr(&r.pointee.client)!).text)->name lookup failed")
        }
        match(r)
        if i + 1 < addresses.count && !json { Out.print("\n") }
    }
    finish()
}
