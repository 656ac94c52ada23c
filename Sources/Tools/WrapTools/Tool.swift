// Tool.swift - what the admin tools (tcpdmatch, tcpdchk, try-from, tcpd)
// share: output through C's stdio (so that it is buffered, and ordered with
// what the library writes to a descriptor, as Debian's tools are), the
// library's diagnostics on standard error, argument handling, and the
// helpers of the original tools' "scaffold": find_inet_addr, check_path.

import CSystem
import CWrap
import WrapABI
import WrapCore

public enum Out {
    public static func print(_ s: String) {
        var b = Array(s.utf8)
        b.append(0)
        b.withUnsafeBufferPointer { p in
            p.baseAddress!.withMemoryRebound(to: CChar.self, capacity: p.count) { _ = fputs($0, csystem_stdout()) }
        }
    }

    /// Bytes as they are (host names and table text are not UTF-8 in general).
    public static func write(_ b: Bytes) {
        _ = b.withUnsafeBufferPointer { fwrite($0.baseAddress, 1, $0.count, csystem_stdout()) }
    }

    public static func error(_ s: String) {
        var b = Array(s.utf8)
        b.append(0)
        b.withUnsafeBufferPointer { p in
            p.baseAddress!.withMemoryRebound(to: CChar.self, capacity: p.count) { _ = fputs($0, csystem_stderr()) }
        }
    }

    public static func exit(_ status: Int32) -> Never {
        fflush(csystem_stdout())
        CSystem.exit(status)
    }
}

public enum Tool {
    /// The library's diagnostics (tcpd_warn, "matched:" lines) go to
    /// standard error instead of syslog: Debian's tools lose them (its
    /// library calls the fortified syslog its tools cannot catch).
    public static func start() {
        cwrap_set_log_stderr(1)
        IdentityOptions.checkOnly = true   // a dry run never changes the tool's ids
    }

    /// argv as byte strings.
    public static func arguments(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> [Bytes] {
        (0..<Int(argc)).map { argv[$0].map { bytes($0) } ?? [] }
    }

    public static func warn(_ message: String) {
        Out.error("warning: \(message)\n")
    }
}

/// A NUL-terminated copy, for C.
public func cString(_ b: Bytes) -> [CChar] {
    b.map { CChar(bitPattern: $0) } + [0]
}

public func bytes(_ p: UnsafePointer<CChar>) -> Bytes {
    Array(UnsafeRawBufferPointer(start: p, count: strlen(p)))
}

/// STR_EQ(): strcasecmp() equality.
public func strEq(_ a: Bytes, _ b: String) -> Bool {
    let bb = Array(b.utf8)
    guard a.count == bb.count else { return false }
    for i in 0..<a.count where a[i] | (a[i] >= 65 && a[i] <= 90 ? 0x20 : 0) != bb[i] | (bb[i] >= 65 && bb[i] <= 90 ? 0x20 : 0) {
        return false
    }
    return true
}

/// NOT_INADDR(): a byte other than digits, '.' and '/'.
public func notInaddr(_ s: Bytes) -> Bool {
    s.contains { !(($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2E || $0 == 0x2F) }
}

/// HOSTNAME_KNOWN(): neither "unknown" nor "paranoid" (any case).
public func hostnameKnown(_ s: Bytes) -> Bool {
    !strEq(s, "unknown") && !strEq(s, "paranoid")
}

/// dot_quad_addr() != INADDR_NONE.
public func isDotQuad(_ s: Bytes) -> Bool {
    var c = cString(s)
    return c.withUnsafeMutableBufferPointer { c_dot_quad_addr($0.baseAddress) } != 0xFFFF_FFFF
}

/// An address of a host, as a socket address.
public struct HostAddress {
    public var storage = sockaddr_storage()
    public init() {}
}

public enum Scaffold {
    /// find_inet_addr(): the addresses of a host, in the resolver's order
    /// (a numeric form, as inet_aton() and inet_pton() read it, is itself),
    /// or nil with a warning.
    public static func findInetAddr(_ host: Bytes) -> [HostAddress]? {
        if let numeric = resolve(host, flags: AI_NUMERICHOST) { return numeric }
        if !notInaddr(host) {
            Tool.warn("\(host.text): not an internet address")
            return nil
        }
        guard let found = resolve(host, flags: 0) else {
            Tool.warn("\(host.text): host not found")
            return nil
        }
        return found
    }

    static func resolve(_ host: Bytes, flags: Int32) -> [HostAddress]? {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | flags
        var res: UnsafeMutablePointer<addrinfo>? = nil
        guard getaddrinfo(cString(host), nil, &hints, &res) == 0 else { return nil }
        defer { freeaddrinfo(res) }
        var out: [HostAddress] = []
        var p = res
        while let r = p {
            p = r.pointee.ai_next
            let family = Int32(r.pointee.ai_family)
            guard family == AF_INET || family == AF_INET6 else { continue }
            var a = HostAddress()
            withUnsafeMutableBytes(of: &a.storage) { raw in
                raw.baseAddress!.copyMemory(from: r.pointee.ai_addr, byteCount: Int(r.pointee.ai_addrlen))
            }
            out.append(a)
        }
        return out.isEmpty ? nil : out
    }

    /// Debian's REAL_DAEMON_DIR: where tcpd finds servers named without a path.
    public static let realDaemonDir: Bytes = Array("/usr/sbin".utf8)

    /// "When confusion really strikes": warns if REAL_DAEMON_DIR is missing
    /// or not a directory (tcpdchk, tcpdmatch).
    public static func checkRealDaemonDir() {
        if let st = checkPath(realDaemonDir) {
            if csystem_file_type(st.st_mode) != S_IFDIR { Tool.warn("REAL_DAEMON_DIR \(realDaemonDir.text) is not a directory") }
        } else {
            Tool.warn("REAL_DAEMON_DIR \(realDaemonDir.text): \(bytes(strerror(errno)).text)")
        }
    }

    /// check_path(): whether `path` exists; warns about world-writable
    /// files and directories on the way up (not sticky ones).
    @discardableResult
    public static func checkPath(_ path: Bytes) -> stat? {
        var st = stat()
        let c = cString(path)
        guard stat(c, &st) == 0 else { return nil }
        // (A sticky directory such as /tmp lets nobody replace another's file.)
        if st.st_mode & 0o002 != 0 && st.st_mode & 0o1000 == 0 { Tool.warn("\(path.text): world writable") }
        if path.first == 0x2F && path.count > 1, let slash = path.lastIndex(of: 0x2F) {
            let parent = slash == 0 ? [UInt8(0x2F)] : Array(path[..<slash])
            checkPath(parent)
        }
        return st
    }

    /// percent_x() of `pattern` for `request`.
    public static func expand(_ pattern: String, _ request: UnsafeMutablePointer<request_info>) -> Bytes {
        var buf = [CChar](repeating: 0, count: Int(BUFSIZ))
        var pat = cString(Array(pattern.utf8))
        let n = buf.count
        return buf.withUnsafeMutableBufferPointer { b in
            pat.withUnsafeMutableBufferPointer { p in
                _ = c_percent_x(b.baseAddress, Int32(n), p.baseAddress, request)
                return bytes(b.baseAddress!)
            }
        }
    }
}

/// A JSON string of bytes (Latin-1 above 0x7F, as \u00XX: host names and
/// table text need not be UTF-8), as bytes.
public func jsonString(_ b: Bytes) -> Bytes {
    let hex = Array("0123456789abcdef".utf8)
    var s: Bytes = [0x22]
    for c in b {
        switch c {
        case 0x22, 0x5C: s += [0x5C, c]
        case 0x0A: s += [0x5C, UInt8(ascii: "n")]
        case 0x09: s += [0x5C, UInt8(ascii: "t")]
        case 0x0D: s += [0x5C, UInt8(ascii: "r")]
        case 0x20..<0x7F: s.append(c)
        default: s += Array("\\u00".utf8) + [hex[Int(c >> 4)], hex[Int(c & 15)]]
        }
    }
    s.append(0x22)
    return s
}

public func jsonString(_ s: String) -> Bytes { jsonString(Array(s.utf8)) }

/// What inetd.conf says: server name -> wrapped by tcpd or not.
public struct InetdServices {
    public var path: Bytes? = nil
    public var wrapped: [Bytes: Bool] = [:]

    public init() {}

    /// inet_cfg(): the file named with -i (which must exist: exit 1), or
    /// the first of /etc/inetd.conf and /etc/inet/inetd.conf there is.
    public static func load(_ given: Bytes?) -> InetdServices {
        var s = InetdServices()
        let candidates = given.map { [$0] } ?? [Array("/etc/inetd.conf".utf8), Array("/etc/inet/inetd.conf".utf8)]
        for path in candidates {
            guard let fp = fopen(cString(path), "r") else {
                if given != nil {
                    Out.error("error: cannot open \(path.text): \(bytes(strerror(errno)).text)\n")
                    Out.exit(1)
                }
                continue
            }
            defer { fclose(fp) }
            s.path = path
            var line = [CChar](repeating: 0, count: 4096)
            while fgets(&line, Int32(line.count), fp) != nil {
                let words = bytes(line).split(whereSeparator: { $0 == 0x20 || $0 == 0x09 || $0 == 0x0A }).map { Array($0) }
                guard words.count >= 6, words[0].first != 0x23 else { continue }
                let base = { (w: Bytes) -> Bytes in w.lastIndex(of: 0x2F).map { Array(w[($0 + 1)...]) } ?? w }
                if base(words[5]) == Array("tcpd".utf8), words.count >= 7 {
                    s.wrapped[base(words[6])] = true
                } else {
                    s.wrapped[base(words[5])] = s.wrapped[base(words[5])] ?? false
                    if words.count >= 7 { s.wrapped[base(words[6])] = s.wrapped[base(words[6])] ?? false }
                }
            }
            break
        }
        // Not run from inetd, with access control of their own.
        s.wrapped[Array("portmap".utf8)] = true
        s.wrapped[Array("rpcbind".utf8)] = true
        return s
    }
}

