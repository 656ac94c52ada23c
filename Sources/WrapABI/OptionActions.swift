// OptionActions.swift - carrying out the options of hosts_options(5).
//
// With dry_run set (tcpdmatch, tcpdchk) options are checked, not carried out,
// except those libwrap also applies in a dry run (umask, setenv, severity,
// rfc931). Commands run through posix_spawn() and are waited for by process
// id, so a daemon's own children are never reaped here.

import CWrap
import CSystem
import WrapCore

enum OptionActions {
    static func perform(_ action: OptionAction, _ r: RequestPtr, _ mode: AccessMode) -> OptionOutcome {
        let dryRun = cwrap_dry_run() != 0
        if mode == .resident {
            switch action {
            case .user, .group, .umask, .nice, .setenv:
                // These would change the whole daemon, not this one connection.
                Diag.warn("option \"\(action.name)\" ignored: it would change the whole process \(latin1String(Fields.daemon(r)))")
                return .proceed
            case .spawn(let command):
                if dryRun { return .proceed }
                if RateLimit.commands.take() {
                    Shell.detach(command, stdio: -1)
                } else if RateLimit.commandWarnings.take() {
                    Diag.warn("spawn skipped: more than 10 commands a second")
                }
                return .proceed
            case .twist(let command):
                if dryRun { break }
                if r.pointee.fd < 0 {
                    Diag.warn("twist ignored for a datagram: it is dropped")
                    return .deny
                }
                if !RateLimit.commands.take() {
                    if RateLimit.commandWarnings.take() { Diag.warn("twist refused: more than 10 commands a second") }
                    return .deny
                }
                Diag.log(cwrap_deny_severity(), "twist \(latin1String(Eval.client(r))) to \(command.text)")
                Shell.detach(command, stdio: r.pointee.fd)
                return .handedOff
            case .severity(let level):
                cwrap_set_request_severity(level)   // this request's log line only
                return .proceed
            case .rfc931(let timeout):
                if let timeout { cwrap_set_request_rfc931_timeout(timeout) }
                _ = Eval.user(r)
                return .proceed
            default:
                break
            }
        }
        switch action {
        case .allow:
            return .permit
        case .deny:
            return .deny
        case .severity(let level):
            cwrap_set_severities(level)
        case .umask(let mask):
            umask(mode_t(mask))
        case .setenv(let name, let value):
            let rc = withCString(name) { n in withCString(value) { v in setenv(n, v, 1) } }
            if rc != 0 { return .error("memory allocation failure") }
        case .rfc931(let timeout):
            if let timeout { cwrap_set_rfc931_timeout(timeout) }
            _ = Eval.user(r)
        case .group(let name):
            return group(name, dryRun)
        case .user(let name, let groupName):
            return user(name, groupName, dryRun)
        case .nice(let value):
            if !dryRun {
                errno = 0
                if nice(value) == -1 && errno != 0 { Diag.warn("nice(\(value)): \(Diag.errnoText())") }
            }
        case .keepalive:
            if !dryRun && r.pointee.fd >= 0 {
                var on: Int32 = 1
                if setsockopt(r.pointee.fd, SOL_SOCKET, SO_KEEPALIVE, &on, socklen_t(MemoryLayout<Int32>.size)) < 0 {
                    Diag.warn("setsockopt SO_KEEPALIVE: \(Diag.errnoText())")
                }
            }
        case .linger(let seconds):
            if !dryRun && r.pointee.fd >= 0 {
                var l = linger(l_onoff: seconds != 0 ? 1 : 0, l_linger: seconds)
                if setsockopt(r.pointee.fd, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size)) < 0 {
                    Diag.warn("setsockopt SO_LINGER \(seconds): \(Diag.errnoText())")
                }
            }
        case .spawn(let command):
            if !dryRun { Shell.run(command) }
        case .aclexec:
            break  // RequestOptions.perform runs it: its result is the rule's

        case .twist(let command):
            if dryRun {
                cwrap_set_dry_run(0)  // tells tcpdmatch the request was handed over
            } else {
                if cwrap_resident() > 0 { return .error("twist option in resident process") }
                Shell.twist(command, r)
            }
        case .banners(let dir):
            Banners.send(dir, r, resident: mode == .resident)
        }
        return .proceed
    }

    // Debian's user and group options act only when dry_run is set (its test
    // is inverted): tcpdmatch really changes its ids, tcpd never does. We keep
    // the dry-run behaviour, which the conformance corpus records, and in a
    // real run do what hosts_options(5) promises (see README, differences).

    static func group(_ name: Bytes, _ dryRun: Bool) -> OptionOutcome {
        guard let gr = withCString(name, { getgrnam($0) }) else {
            return .error("unknown group: \"\(name.text)\"")
        }
        let gid = gr.pointee.gr_gid
        endgrent()
        if dryRun && IdentityOptions.checkOnly { return .proceed }
        if setgid(gid) != 0 { return .error("setgid(\(name.text)): \(Diag.errnoText())") }
        if setgroups(0, nil) != 0 { return .error("setgroups(\(name.text)): \(Diag.errnoText())") }
        return .proceed
    }

    static func user(_ name: Bytes, _ groupName: Bytes?, _ dryRun: Bool) -> OptionOutcome {
        if let groupName {
            let g = group(groupName, dryRun)
            if g != .proceed { return g }
        }
        guard let pw = withCString(name, { getpwnam($0) }) else {
            return .error("unknown user: \"\(name.text)\"")
        }
        let uid = pw.pointee.pw_uid, gid = pw.pointee.pw_gid
        endpwent()
        if dryRun && IdentityOptions.checkOnly { return .proceed }
        if dryRun {
            // Debian's order: setuid first, then the user's group.
            if setuid(uid) != 0 { return .error("setuid(\(name.text)): \(Diag.errnoText())") }
            if groupName == nil {
                if setgid(gid) != 0 { return .error("setgid(\(name.text)): \(Diag.errnoText())") }
                if withCString(name, { initgroups($0, gid) }) != 0 {
                    return .error("initgroups(\(name.text)): \(Diag.errnoText())")
                }
            }
        } else {
            // Groups first, while we still may change them.
            if groupName == nil {
                if setgid(gid) != 0 { return .error("setgid(\(name.text)): \(Diag.errnoText())") }
                if withCString(name, { initgroups($0, gid) }) != 0 {
                    return .error("initgroups(\(name.text)): \(Diag.errnoText())")
                }
            }
            if setuid(uid) != 0 { return .error("setuid(\(name.text)): \(Diag.errnoText())") }
        }
        return .proceed
    }
}

extension OptionAction {
    var name: String {
        switch self {
        case .user: "user"
        case .group: "group"
        case .umask: "umask"
        case .linger: "linger"
        case .keepalive: "keepalive"
        case .spawn: "spawn"
        case .twist: "twist"
        case .aclexec: "aclexec"
        case .rfc931: "rfc931"
        case .setenv: "setenv"
        case .nice: "nice"
        case .severity: "severity"
        case .allow: "allow"
        case .deny: "deny"
        case .banners: "banners"
        }
    }
}

enum Banners {
    /// banners DIR: copies DIR/daemon to the client, %-expanded, lines ending in CRLF.
    /// In a resident daemon the write never waits (a client that does not
    /// read must not hold the daemon); SIGPIPE is never raised.
    static func send(_ dir: Bytes, _ r: RequestPtr, resident: Bool) {
        let path = dir + [UInt8(ascii: "/")] + bytes(Fields.daemon(r))
        let data: FileRead = withCString(path) { readWholeFile($0, limit: 64 << 10) }
        guard case .contents(let text, _, _) = data else {
            var st = stat()
            if withCString(dir, { stat($0, &st) }) < 0 { Diag.warn("\(dir.text): \(Diag.errnoText())") }
            return
        }
        let fd = r.pointee.fd
        if fd < 0 { return }
        var out = Bytes()
        var line = Bytes()
        func flush(_ l: Bytes) {
            var l = l
            if l.last == UInt8(ascii: "\n") { l.removeLast(); l += [13, 10] }
            out += Eval.expand(r, l, limit: 2 * Int(BUFSIZ)) ?? []
        }
        for c in text {
            line.append(c)
            if c == UInt8(ascii: "\n") { flush(line); line = [] }
        }
        if !line.isEmpty { flush(line) }
        var off = 0
        while off < out.count {
            let flags = Int32(MSG_NOSIGNAL) | (resident ? Int32(MSG_DONTWAIT) : 0)
            var n = out[off...].withUnsafeBytes { CSystem.send(fd, $0.baseAddress, $0.count, flags) }
            if n < 0 && errno == ENOTSOCK {
                n = out[off...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            }
            if n > 0 { off += n } else if n < 0 && errno == EINTR { continue } else { break }
        }
    }
}

/// Our admin tools (tcpdmatch, tcpdchk) only check that the user and group
/// an option names exist: Debian's, run as root, really change their ids in
/// a dry run (and then fail the next check, reporting "denied"). A
/// deliberate difference (README); the library keeps Debian's behaviour.
public enum IdentityOptions {
    nonisolated(unsafe) public static var checkOnly = false
}
