// Resident.swift - the engine for a daemon that serves many clients.
//
// The preload shim hands over a socket address pair; this builds the request
// libwrap would (daemon name, endpoints, socket methods for lazy name
// lookups), decides with options in resident mode, and logs refusals the way
// tcpd does, rate-limited so that a flood cannot flood syslog.

import CWrap
import CSystem
import WrapCore

public enum Resident {
    /// A datagram has no connection to send banners or options to, and
    /// libwrap makes no ident lookup for it (a non-null sink says so).
    static let datagramSink: @convention(c) (Int32) -> Void = { _ in }

    /// The daemon name every request of the shim carries, prepared once
    /// (at load, before any thread can ask) rather than once per client.
    nonisolated(unsafe) static var daemonSubject: Subject? = nil

    public static func prepare(daemon: Bytes) { daemonSubject = Subject(daemon) }

    /// The verdict on a connection (fd >= 0) or a datagram (fd < 0) from `peer`
    /// to `local`, for `daemon` (a NUL-terminated C string). A connection's
    /// local endpoint is read from its socket only if a rule or an option
    /// asks for it (local nil).
    ///
    /// With `mayDefer`, a decision that could wait on a lookup (a name not in
    /// the name cache, an ident query, a netgroup) is not made: nil says so,
    /// and the caller has it made off the daemon's thread.
    ///
    /// `addressOnly`, if given, is set when the verdict is to admit and was
    /// found from the client's address alone, without options
    /// (RequestContext.addressOnly).
    public static func decide(
        fd: Int32, peer: UnsafeMutableRawPointer, local: UnsafeMutableRawPointer?,
        daemon: UnsafePointer<CChar>, mayDefer: Bool = false,
        addressOnly: UnsafeMutablePointer<Bool>? = nil
    ) -> Access.Verdict? {
        // The request, and room after it for the local endpoint: on the
        // stack (about 1 KiB), as nothing keeps it past this call; no
        // allocation per decision.
        withUnsafeTemporaryAllocation(byteCount: Sock.lazyRequestSize, alignment: 16) { block in
            decide(block.baseAddress!.bindMemory(to: request_info.self, capacity: 1),
                   fd: fd, peer: peer, local: local, daemon: daemon, mayDefer: mayDefer,
                   addressOnly: addressOnly)
        }
    }

    private static func decide(
        _ r: RequestPtr, fd: Int32, peer: UnsafeMutableRawPointer, local: UnsafeMutableRawPointer?,
        daemon: UnsafePointer<CChar>, mayDefer: Bool, addressOnly: UnsafeMutablePointer<Bool>?
    ) -> Access.Verdict? {
        addressOnly?.pointee = false
        requestReset(r)
        requestSetString(r, RQ_DAEMON, daemon)
        r.pointee.fd = fd
        r.pointee.client.sin = peer.assumingMemoryBound(to: sockaddr_in.self)
        r.pointee.server.sin = local?.assumingMemoryBound(to: sockaddr_in.self)
        if fd >= 0 && local == nil { Sock.setLazyServerMethods(r) } else { Sock.setMethods(r) }
        if fd < 0 { r.pointee.sink = datagramSink }
        cwrap_reset_request_settings()
        defer { cwrap_reset_request_settings() }
        var verdict: Access.Verdict
        var byAddress = false
        switch mayDefer ? Access.probe(r, addressOnly: &byAddress) : .needsOptions {
        case .couldWait:
            return nil
        case .decided(let v):
            cwrap_bump_resident()
            verdict = v
            addressOnly?.pointee = byAddress && v == .permit
        case .needsOptions:
            verdict = Access.decide(r, mode: .resident)
        }
        if verdict == .deny {
            let own = cwrap_request_severity()
            RefusalLog.shared.note(priority: own >= 0 ? own : cwrap_deny_severity()) {
                "refused connect from \(latin1String(Eval.client(r)))"
            }
        }
        return verdict
    }
}

/// At most `burst` events at once, refilled at `rate` per second.
final class RateLimit: @unchecked Sendable {
    private let lock = cwrap_mutex_new()!
    private var tokens: Double
    private var last = 0.0
    private let rate: Double, burst: Double

    init(rate: Double, burst: Double) {
        self.rate = rate
        self.burst = burst
        tokens = burst
    }

    /// Takes a token if there is one.
    func take() -> Bool {
        cwrap_mutex_lock(lock)
        defer { cwrap_mutex_unlock(lock) }
        let now = monotonicSeconds()
        tokens = min(burst, tokens + (now - last) * rate)
        last = now
        if tokens < 1 { return false }
        tokens -= 1
        return true
    }

    /// Commands started by spawn and twist in a resident daemon: a flood of
    /// (possibly spoofed) clients must not become a flood of processes.
    static let commands = RateLimit(rate: 10, burst: 20)
    /// Warnings about skipped commands.
    static let commandWarnings = RateLimit(rate: 0.2, burst: 1)
}

/// At most 50 refusal lines at once, 10 a second after that; the
/// number left out is reported with the next line that gets through.
final class RefusalLog: @unchecked Sendable {
    static let shared = RefusalLog()
    private let lock = cwrap_mutex_new()!
    private let limit = RateLimit(rate: 10, burst: 50)
    private var suppressed = 0

    init() {}

    func note(priority: Int32, _ message: () -> String) {
        let go = limit.take()
        cwrap_mutex_lock(lock)
        let skipped = suppressed
        suppressed = go ? 0 : suppressed + 1
        cwrap_mutex_unlock(lock)
        guard go else { return }
        let text = message()
        Diag.log(priority, skipped > 0 ? "\(text) (\(skipped) similar messages suppressed)" : text)
    }
}
