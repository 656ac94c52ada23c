// Diag.swift - diagnostics, the only output this library makes.
//
// Everything goes to syslog, in libwrap's words: "warning: FILE, line N: ..."
// (LOG_ERR) for problems it survives, "error: FILE, line N: ..." (LOG_ERR)
// for those that deny the request. Nothing is ever written to stdout or
// stderr: in an inetd-launched daemon those are the client's connection.

import CWrap
import CSystem
import WrapCore

enum Diag {
    static func log(_ priority: Int32, _ message: String) {
        // A probe says nothing; it notes that the decision must be made in
        // full, so that the diagnostic is given (a /file list that cannot
        // be read says so only here).
        if cwrap_probe_state() != 0 {
            if cwrap_probe_state() == 1 { cwrap_set_probe_state(3) }
            return
        }
        var b = message.latin1Bytes
        b.removeAll { $0 == 0 }
        b.append(0)
        b.withUnsafeBufferPointer { p in
            p.baseAddress!.withMemoryRebound(to: CChar.self, capacity: p.count) { cwrap_syslog(priority, $0) }
        }
    }

    static func emit(_ tag: String, _ message: String) {
        var file: UnsafeMutablePointer<CChar>? = nil
        var line: Int32 = 0
        cwrap_get_position(&file, &line)
        if file == nil { cwrap_get_context(&file, &line) }
        if let file {
            log(LOG_ERR, "\(tag): \(latin1String(file)), line \(line): \(message)")
        } else {
            log(LOG_ERR, "\(tag): \(message)")
        }
    }

    /// tcpd_warn(): a problem that is survived.
    static func warn(_ message: String) { emit("warning", message) }

    /// The message of tcpd_jump(), without the jump: the caller denies.
    static func error(_ message: String) { emit("error", message) }

    /// strerror(errno), for %m.
    static func errnoText(_ e: Int32 = errno) -> String { latin1String(strerror(e)) }
}

/// A C string as diagnostic text, byte for byte (see Bytes.text).
func latin1String(_ p: UnsafePointer<CChar>) -> String {
    bytes(p).text
}

/// Runs `body` and gives the caller back the errno it had: code that runs
/// inside someone else's daemon must not change errno behind its back.
@inline(__always)
func keepingErrno<T>(_ body: () -> T) -> T {
    let saved = errno
    defer { errno = saved }
    return body()
}

/// Seconds on the monotonic clock (timeouts, rate limits, cache ages).
public func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
