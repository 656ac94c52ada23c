// Config.swift - the shim's settings, read once on first use.
//
//   TCPWRAP_DAEMON       daemon name for the rules (default: the program's short name)
//   TCPWRAP_HOSTS_ALLOW  allow table (default /etc/hosts.allow)
//   TCPWRAP_HOSTS_DENY   deny table (default /etc/hosts.deny)
//   TCPWRAP_LOG          a file to append log lines to, instead of syslog
//
// In setuid and setgid programs (AT_SECURE) every variable is ignored.

import CWrap
import Glibc

final class Config: @unchecked Sendable {
    static let shared = Config()

    /// The daemon name as a C string, NUL-terminated.
    let daemon: [CChar]

    private init() {
        let secure = cwrap_secure() != 0
        func env(_ name: String) -> String? {
            if secure { return nil }
            guard let v = getenv(name), v[0] != 0 else { return nil }
            return String(cString: v)
        }
        var name = env("TCPWRAP_DAEMON") ?? String(cString: cwrap_program_name())
        if name.isEmpty { name = "unknown" }
        daemon = Array(name.utf8CString)
        let allow = env("TCPWRAP_HOSTS_ALLOW")
        let deny = env("TCPWRAP_HOSTS_DENY")
        if allow != nil || deny != nil { cwrap_set_tables(allow, deny) }
        if let log = env("TCPWRAP_LOG") { cwrap_set_log_path(log) }
    }
}
