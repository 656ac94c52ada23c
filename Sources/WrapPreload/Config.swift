// Config.swift - the shim's settings, read once when it is loaded.
//
//   TCPWRAP_DAEMON       daemon name for the rules (default: the program's short name)
//   TCPWRAP_HOSTS_ALLOW  allow table (default /etc/hosts.allow)
//   TCPWRAP_HOSTS_DENY   deny table (default /etc/hosts.deny)
//   TCPWRAP_LOG          a file to append log lines to, instead of syslog
//
// The values are those of the environment when the shim was loaded (see
// CPreload): daemons such as nginx clear it before they accept. In setuid
// and setgid programs (AT_SECURE) every variable is ignored.

import CPreload
import CWrap
import CSystem
import WrapABI

final class Config: @unchecked Sendable {
    static let shared = Config()

    /// The daemon name as a C string, NUL-terminated.
    let daemon: [CChar]
    /// The same, as bytes without the NUL.
    let daemonBytes: [UInt8]

    private init() {
        func setting(_ name: cpreload_setting_name) -> UnsafePointer<CChar>? {
            cpreload_setting(name)
        }
        if let name = setting(CPRELOAD_DAEMON) {
            daemon = Array(UnsafeBufferPointer(start: name, count: strlen(name) + 1))
        } else {
            let name = cwrap_program_name()!
            daemon = name[0] == 0 ? Array("unknown".utf8CString)
                : Array(UnsafeBufferPointer(start: name, count: strlen(name) + 1))
        }
        daemonBytes = daemon.dropLast().map { UInt8(bitPattern: $0) }
        // (The table paths and the log file were put in force at load time.)
        // A daemon linked with libwrap asks hosts_access() itself: remember
        // what we admit, so that it is granted without a second check.
        Admitted.shared.enable(cwrap_libwrap_loaded() != 0)
    }
}
