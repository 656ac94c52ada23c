// tcpdchk - examine every access control rule.
//
//   tcpdchk [-a] [-d] [-i inet_conf] [-v]
//
//   -a  report rules that grant access without an explicit "allow"
//   -d  examine hosts.allow and hosts.deny in the current directory
//   -i  the inetd.conf to check daemon names against
//   -v  list every rule (Debian's listing, byte for byte)
//   --allow FILE, --deny FILE   examine these tables instead (not in Debian's)
//   --no-inetd  do not check daemon names against inetd.conf (the shim's
//               daemons are not inetd services; not in Debian's)
//
// Debian's command line and standard output. Beyond Debian's (whose
// findings go to syslog, unseen): every problem on standard error as
// FILE:LINE: error|warning: what, with what follows from it and a hint,
// and exit status 1 when a table is broken - a rule that does not do what
// it says - so that `tcpdchk && systemctl reload ...` can gate a deploy.
// Warnings (a host name that does not resolve, a daemon inetd.conf does not
// name, an implicit allow with -a) leave the status 0. On clean tables it
// says nothing and exits 0.

import CSystem
import CWrap
import WrapABI
import WrapCore
import WrapTools

let separators: Set<UInt8> = [0x2C, 0x20, 0x09, 0x0A]     // ", \t\n"
let bufLen = 2048                                         // Debian's BUFLEN

nonisolated(unsafe) var verbose = 0
nonisolated(unsafe) var allowCheck = false
nonisolated(unsafe) var errors = 0
nonisolated(unsafe) var inetd = InetdServices()

enum Level { case error, warning }

/// One finding, on standard error: FILE:LINE[:COLUMN]: error|warning: ...
func report(_ level: Level, _ file: Bytes, _ line: Int, column: Int? = nil, _ message: String, hint: String? = nil) {
    if case .error = level { errors += 1 }
    let position = column.map { "\(line):\($0)" } ?? "\(line)"
    var text = "\(file.text):\(position): \(level == .error ? "error" : "warning"): \(message)\n"
    if let hint { text += "    hint: \(hint)\n" }
    Out.error(text)
}

func usage(_ me: Bytes) -> Never {
    Out.error("usage: \(me.text) [-a] [-d] [-i inet_conf] [-v]\n")
    Out.error("\t-a: report rules with implicit \"ALLOW\" at end\n")
    Out.error("\t-d: use allow/deny files in current directory\n")
    Out.error("\t-i: location of inetd.conf file\n")
    Out.error("\t-v: list all rules\n")
    Out.error("\t--allow FILE, --deny FILE: examine these tables (not in Debian's)\n")
    Out.error("\t--no-inetd: do not check daemon names against inetd.conf (not in Debian's)\n")
    Out.exit(1)
}

func tokens(_ list: Bytes) -> [Bytes] {
    list.split(whereSeparator: { separators.contains($0) }).map { Array($0) }
}

func isReserved(_ p: Bytes) -> Bool {
    strEq(p, "unknown") || strEq(p, "KNOWN") || strEq(p, "paranoid") || strEq(p, "ALL") || strEq(p, "LOCAL")
}

/// Where a rule is, for the findings about it.
struct Place {
    var file: Bytes
    var line: Int
    /// The line's text, to find a pattern's column in.
    var text: Bytes = []

    /// The 1-based column of the first `token` in the line (nil if not found).
    func column(_ token: Bytes) -> Int? {
        guard !token.isEmpty, token.count <= text.count else { return nil }
        for i in 0...(text.count - token.count) where text[i] == token[0] {
            if Array(text[i..<(i + token.count)]) == token { return i + 1 }
        }
        return nil
    }
}

func checkDaemon(_ pat: Bytes, _ at: Place) {
    let never = "no daemon name has that form: the rule never applies"
    if pat.first == 0x40 {
        report(.error, at.file, at.line, column: at.column(pat), "\(pat.text): daemon name begins with \"@\"", hint: never)
    } else if pat.first == 0x2F {
        report(.error, at.file, at.line, column: at.column(pat), "\(pat.text): daemon name begins with \"/\"",
               hint: "daemon names are program names without a directory (\(Array(pat[(pat.lastIndex(of: 0x2F)! + 1)...]).text))")
    } else if pat.first == 0x2E {
        report(.error, at.file, at.line, column: at.column(pat), "\(pat.text): daemon name begins with dot", hint: never)
    } else if pat.last == 0x2E {
        report(.error, at.file, at.line, column: at.column(pat), "\(pat.text): daemon name ends in dot", hint: never)
    } else if strEq(pat, "ALL") || strEq(pat, "unknown") {
    } else if strEq(pat, "FAIL") {
        report(.error, at.file, at.line, column: at.column(pat), "FAIL is no longer recognized", hint: "use EXCEPT or a deny rule instead")
    } else if isReserved(pat) {
        report(.warning, at.file, at.line, column: at.column(pat), "\(pat.text): daemon name may be reserved word")
    } else if let path = inetd.path {
        switch inetd.wrapped[pat] {
        case nil:
            report(.warning, at.file, at.line, column: at.column(pat), "\(pat.text): no such process name in \(path.text)",
                   hint: "fine for a daemon that is not started by inetd; check the spelling otherwise")
            inetd.wrapped[pat] = true
        case false?:
            report(.warning, at.file, at.line, column: at.column(pat), "\(pat.text): service possibly not wrapped",
                   hint: "\(path.text) starts it without tcpd")
            inetd.wrapped[pat] = true
        default:
            break
        }
    }
}

func checkUser(_ pat: Bytes, _ at: Place) {
    let never = "no user name has that form: the pattern never matches"
    if pat.first == 0x40 {
        report(.error, at.file, at.line, column: at.column(pat), "\(pat.text): user name begins with \"@\"", hint: never)
    } else if pat.first == 0x2F {
        report(.error, at.file, at.line, column: at.column(pat), "\(pat.text): user name begins with \"/\"", hint: never)
    } else if pat.first == 0x2E {
        report(.error, at.file, at.line, column: at.column(pat), "\(pat.text): user name begins with dot", hint: never)
    } else if pat.last == 0x2E {
        report(.error, at.file, at.line, column: at.column(pat), "\(pat.text): user name ends in dot", hint: never)
    } else if strEq(pat, "ALL") || strEq(pat, "unknown") || strEq(pat, "KNOWN") {
    } else if strEq(pat, "FAIL") {
        report(.error, at.file, at.line, column: at.column(pat), "FAIL is no longer recognized", hint: "use EXCEPT or a deny rule instead")
    } else if isReserved(pat) {
        report(.warning, at.file, at.line, column: at.column(pat), "\(pat.text): user name may be reserved word")
    }
}

func isIPv6Pattern(_ p: Bytes) -> Bool {
    guard p.count >= 2, p.first == 0x5B, p.last == 0x5D else { return false }
    var a = in6_addr()
    return inet_pton(AF_INET6, cString(Array(p[1..<(p.count - 1)])), &a) == 1
}

/// check_host(): the number of addresses a host name has (1 otherwise).
@discardableResult
func checkHost(_ pat: Bytes, _ at: Place) -> Int {
    if pat.first == 0x40 {                                     // @netgroup
        let group = cString(Array(pat.dropFirst()))
        setnetgrent(group)
        var host: UnsafeMutablePointer<CChar>? = nil, user: UnsafeMutablePointer<CChar>? = nil, domain: UnsafeMutablePointer<CChar>? = nil
        let found = getnetgrent(&host, &user, &domain) != 0
        endnetgrent()
        if !found {
            report(.warning, at.file, at.line, column: at.column(pat), "\(Array(pat.dropFirst()).text): unknown or empty netgroup",
                   hint: "the pattern matches no client until the netgroup has members")
        }
    } else if pat.first == 0x2F {                              // /file
        guard let fp = fopen(cString(pat), "r") else {
            if errno != ENOENT {
                report(.error, at.file, at.line, column: at.column(pat), "open \(pat.text): \(bytes(strerror(errno)).text)",
                       hint: "the list cannot be read: the pattern matches nothing")
            } else {
                report(.warning, at.file, at.line, column: at.column(pat), "\(pat.text): no such file", hint: "a missing list matches nothing")
            }
            return 1
        }
        defer { fclose(fp) }
        var buf = [CChar](repeating: 0, count: Int(BUFSIZ))
        var n = 0
        while fgets(&buf, Int32(buf.count), fp) != nil {
            n += 1
            for w in bytes(buf).split(whereSeparator: { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D || $0 == 0x0A }) {
                checkHost(Array(w), Place(file: pat, line: n, text: bytes(buf)))
            }
        }
    } else if let slash = pat.firstIndex(of: 0x2F) {           // net/mask
        let net = Array(pat[..<slash]), mask = Array(pat[(slash + 1)...])
        let v4 = isDotQuad(net) && isDotQuad(mask)
        var maskLength = -1
        if !mask.isEmpty && mask.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) && mask.count <= 3 {
            maskLength = mask.reduce(0) { $0 * 10 + Int($1 - 0x30) }
        }
        let v6 = isIPv6Pattern(net) && maskLength >= 0 && maskLength <= 128
        let cidr4 = isDotQuad(net) && maskLength >= 1 && maskLength <= 32
        if !v4 && !v6 && !cidr4 {
            report(.error, at.file, at.line, column: at.column(pat), "\(pat.text): bad net/mask pattern",
                   hint: "use n.n.n.n/m.m.m.m, n.n.n.n/len (1-32) or [v6]/len (0-128): as written it never matches")
        }
    } else if strEq(pat, "FAIL") {
        report(.error, at.file, at.line, column: at.column(pat), "FAIL is no longer recognized", hint: "use EXCEPT or a deny rule instead")
    } else if isReserved(pat) || isIPv6Pattern(pat) {
    } else if notInaddr(pat) {                                 // a name
        if pat.last == 0x2E {
            report(.error, at.file, at.line, column: at.column(pat), "\(pat.text): domain or host name ends in dot",
                   hint: "names are matched without a final dot: the pattern never matches")
        } else if pat.first != 0x2E && !pat.contains(where: { $0 == 0x2A || $0 == 0x3F }) {
            var hints = addrinfo()
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            var res: UnsafeMutablePointer<addrinfo>? = nil
            if getaddrinfo(cString(pat), nil, &hints, &res) != 0 {
                report(.warning, at.file, at.line, column: at.column(pat), "\(pat.text): host name does not resolve",
                       hint: "it matches only a client whose verified name is exactly this")
                return 0
            }
            var count = 0
            var p = res
            while let r = p { count += 1; p = r.pointee.ai_next }
            freeaddrinfo(res)
            return count
        }
    } else {                                                   // numeric
        if strEq(pat, "0.0.0.0") || strEq(pat, "255.255.255.255") {
        } else if pat.first == 0x2E {
            report(.error, at.file, at.line, column: at.column(pat), "\(pat.text): network number begins with dot", hint: "the pattern never matches")
        } else if pat.last != 0x2E && !isDotQuad(pat) {
            report(.error, at.file, at.line, column: at.column(pat), "\(pat.text): not an address",
                   hint: "an address is four numbers n.n.n.n, a prefix ends in a dot (n.n.n.): the pattern never matches")
        }
    }
    return 1
}

func checkDaemonList(_ list: Bytes, _ at: Place) {
    var daemons = 0
    for t in tokens(list) {
        if strEq(t, "EXCEPT") {
            daemons = 0
            continue
        }
        daemons += 1
        var name = t
        if let a = t.dropFirst().firstIndex(of: 0x40) {
            let host = Array(t[(a + 1)...])
            name = Array(t[..<a])
            if checkHost(host, at) > 1 {
                report(.warning, at.file, at.line, "host \(host.text) has more than one address",
                       hint: "consider using an address instead")
            }
        }
        checkDaemon(name, at)
    }
    if daemons == 0 {
        report(.error, at.file, at.line, "daemon list is empty or ends in EXCEPT", hint: "the rule never applies")
    }
}

func checkClientList(_ list: Bytes, _ at: Place) {
    var clients = 0
    for t in tokens(list) {
        if strEq(t, "EXCEPT") {
            clients = 0
            continue
        }
        clients += 1
        if let a = t.dropFirst().firstIndex(of: 0x40) {
            checkUser(Array(t[..<a]), at)
            checkHost(Array(t[(a + 1)...]), at)
        } else {
            checkHost(t, at)
        }
    }
    if clients == 0 {
        report(.error, at.file, at.line, "client list is empty or ends in EXCEPT", hint: "the rule never matches")
    }
}

/// split_at(s, ':'): the text before and after the first separating colon.
func splitAt(_ s: Bytes) -> (Bytes, Bytes)? {
    var c = cString(s)
    return c.withUnsafeMutableBufferPointer { p -> (Bytes, Bytes)? in
        guard let rest = c_split_at(p.baseAddress, 0x3A) else { return nil }
        return (bytes(p.baseAddress!), bytes(rest))
    }
}

func printList(_ title: String, _ list: Bytes) {
    Out.print(title)
    for (i, t) in tokens(list).enumerated() {
        if i > 0 { Out.print(" ") }
        Out.write(t)
    }
    Out.print("\n")
}

/// parse_table(): every rule of a table.
func parseTable(_ table: Bytes, permit: Bool, _ request: UnsafeMutablePointer<request_info>) {
    var path = cString(table)
    guard let fp = fopen(path, "r") else {
        if errno != ENOENT {
            report(.error, table, 0, "cannot open \(table.text): \(bytes(strerror(errno)).text)",
                   hint: "an unreadable table refuses every client")
        }
        return
    }
    defer { fclose(fp) }
    let isDeny = !permit
    var stopped = false   // the library stops reading this table at the first broken line
    var remainder = false
    path.withUnsafeMutableBufferPointer { cwrap_set_context($0.baseAddress, 0) }
    var buf = [CChar](repeating: 0, count: bufLen)
    while buf.withUnsafeMutableBufferPointer({ c_xgets($0.baseAddress, Int32(bufLen), fp) }) != nil {
        var file: UnsafeMutablePointer<CChar>? = nil
        var lineNumber: Int32 = 0
        cwrap_get_context(&file, &lineNumber)
        let line = bytes(buf)
        let at = Place(file: table, line: Int(lineNumber) + (line.last == 0x0A ? 0 : 1), text: line)
        if line.last != 0x0A {
            let atEnd = feof(fp) != 0
            let consequence = isDeny
                ? "from here on the library ignores the rest of \(table.text), and refuses every client that hosts.allow does not admit"
                : "from here on the library ignores the rest of \(table.text): no later rule in it admits anyone"
            report(.error, table, at.line, atEnd ? "missing newline at the end of the file" : "line too long (more than \(bufLen - 1) bytes)",
                   hint: consequence + (atEnd ? "; end the last line with a newline" : "; split the rule (a backslash continues a line)"))
            stopped = true
            remainder = !atEnd
            continue
        }
        // The rest of an overlong line is read as a line of its own (as
        // Debian's tcpdchk does; its listing shows it if it has a colon);
        // it is not a finding of its own.
        let isRemainder = remainder
        remainder = false
        _ = stopped
        let first = line.firstIndex(where: { !($0 == 0x20 || $0 == 0x09 || $0 == 0x0D || $0 == 0x0A) })
        if line.first == 0x23 || first == nil { continue }
        // split_at(), which passes over colons inside [IPv6] brackets.
        guard let (daemons, rest) = splitAt(line) else {
            if isRemainder { continue }
            report(.error, table, at.line, "missing \":\" separator",
                   hint: "a rule is DAEMONS : CLIENTS [: OPTIONS]; the library skips this line")
            continue
        }
        var clients = rest
        var options: Bytes? = nil
        if let (c, o) = splitAt(rest) {
            clients = c
            options = o
        }
        if verbose > 0 {
            Out.print("\n>>> Rule ")
            Out.write(table)
            Out.print(" line \(lineNumber):\n")
            printList("daemons:  ", daemons)
        }
        checkDaemonList(daemons, at)
        if verbose > 0 { printList("clients:  ", clients) }
        checkClientList(clients, at)

        var verdict = permit
        if let options {
            path.withUnsafeMutableBufferPointer { cwrap_set_position($0.baseAddress, lineNumber) }
            switch Access.dryRunOptions(options, request) {
            case .permit:
                verdict = true
            case .deny:
                verdict = false
            case .error(let message):
                verdict = false
                report(.error, table, at.line, message, hint: "a rule whose options are in error refuses the client it matches")
            case .proceed, .handedOff:
                if cwrap_dry_run() == 1 && verdict && allowCheck {
                    report(.warning, table, at.line, "implicit \"allow\" at end of rule",
                           hint: "end the rule with \": allow\" (or \": deny\") to say what it does")
                }
            }
            cwrap_set_position(nil, 0)
        } else if permit && allowCheck {
            report(.warning, table, at.line, "implicit \"allow\" at end of rule",
                   hint: "end the rule with \": allow\" (or \": deny\") to say what it does")
        }
        if verbose > 0 { Out.print("access:   \(verdict ? "granted" : "denied")\n") }
    }
}

@_cdecl("tcpdchk_main")
public func tcpdchkMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    Tool.start()
    let me = argv[0].map { bytes($0) } ?? Array("tcpdchk".utf8)
    // --allow FILE and --deny FILE are ours (the tables the shim's
    // launcher was given): taken out before getopt() sees the arguments.
    var args: [UnsafeMutablePointer<CChar>?] = []
    var allowPath: UnsafeMutablePointer<CChar>? = nil, denyPath: UnsafeMutablePointer<CChar>? = nil
    var noInetd = false
    var i = 0
    while i < Int(argc) {
        if let a = argv[i], strcmp(a, "--no-inetd") == 0 {
            noInetd = true
            i += 1
            continue
        }
        if let a = argv[i], strcmp(a, "--allow") == 0 || strcmp(a, "--deny") == 0 {
            guard i + 1 < Int(argc) else { usage(me) }
            if strcmp(a, "--allow") == 0 { allowPath = argv[i + 1] } else { denyPath = argv[i + 1] }
            i += 2
            continue
        }
        args.append(argv[i])
        i += 1
    }
    let n = Int32(args.count)
    args.append(nil)
    var inetcf: Bytes? = nil
    while true {
        let ch = getopt(n, &args, "adi:v")
        if ch == -1 { break }
        switch UInt8(truncatingIfNeeded: ch) {
        case UInt8(ascii: "a"): allowCheck = true
        case UInt8(ascii: "d"): cwrap_set_tables("hosts.allow", "hosts.deny")
        case UInt8(ascii: "i"): inetcf = csystem_optarg().map { bytes($0) }
        case UInt8(ascii: "v"): verbose += 1
        default: usage(me)
        }
    }
    if Int(csystem_optind()) != Int(n) { usage(me) }
    if allowPath != nil || denyPath != nil {
        cwrap_set_tables(allowPath ?? UnsafeMutablePointer(mutating: cwrap_allow_table()),
                         denyPath ?? UnsafeMutablePointer(mutating: cwrap_deny_table()))
    }

    Scaffold.checkRealDaemonDir()
    if !noInetd { inetd = InetdServices.load(inetcf) }
    if verbose > 0 {
        Out.print("Using network configuration file: ")
        Out.write(inetd.path ?? Array("(null)".utf8))
        Out.print("\n")
    }
    let allow = bytes(cwrap_allow_table()), deny = bytes(cwrap_deny_table())
    Scaffold.checkPath(allow)
    Scaffold.checkPath(deny)

    let r = UnsafeMutablePointer<request_info>.allocate(capacity: 1)
    requestReset(r)
    requestSetString(r, RQ_DAEMON, "daemon_name")
    requestSetString(r, RQ_SERVER_NAME, "server_hostname")
    requestSetString(r, RQ_SERVER_ADDR, "server_addr")
    requestSetString(r, RQ_USER, "user_name")
    requestSetString(r, RQ_CLIENT_NAME, "client_hostname")
    requestSetString(r, RQ_CLIENT_ADDR, "client_addr")
    r.pointee.fd = 1

    parseTable(allow, permit: true, r)
    parseTable(deny, permit: false, r)
    Out.exit(errors > 0 ? 1 : 0)
}
