// Judges.swift - decisions that could wait on a lookup, made off the
// daemon's thread.
//
// A decision that needs a name not in the name cache, an ident answer, a
// netgroup, or a table of a quarter MiB or more compiled first (Access.probe
// tells, without looking anything up or compiling) is not made in the hook: the connection (or the datagram, taken off the queue whole) is
// handed to a judge thread, and the hook goes on with the next client as if
// this one had not arrived yet. When the judge has decided, an admitted
// client is held for the daemon (Readiness.swift), a refused one reset or
// dropped; the daemon's waits, which look at held clients every 10 ms while
// any decision is pending, report it. So a client whose lookups hang (a
// silent identd, a silent DNS server) never delays another client; it is
// itself decided when its lookups end or time out (rfc931_timeout, the
// resolver's own timeouts).
//
// Bounds: at most 4 judge threads (started when a decision is first
// deferred, with every signal blocked; none in a process that never defers
// one), at most 256 decisions pending; beyond that a decision is made in the
// hook as before. A forked child has no judges: it closes its copies of the
// connections being judged and starts its own when it needs them.

import CPreload
import CWrap
import CSystem
import WrapABI
import WrapCore

final class Judges: @unchecked Sendable {
    static let shared = Judges()
    static let maxThreads = 4
    static let maxPending = 256
    /// How often a wait looks for judged clients while decisions are pending.
    static let slice = 0.01

    enum Work {
        case connection(listener: Int32, cookie: UInt64, fd: Int32, peer: sockaddr_storage, length: socklen_t, flags: Int32)
        case datagram(socket: Int32, cookie: UInt64, datagram: Held.Datagram, destination: [UInt8]?)

        var socket: Int32 {
            switch self {
            case .connection(let l, _, _, _, _, _): return l
            case .datagram(let s, _, _, _): return s
            }
        }
    }

    private let lock = cwrap_mutex_new()!
    private let wake = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)
    private var queue: [Work] = []
    private var threads = 0
    private var idle = 0
    private var judging: [Int32] = []          // connections being judged
    private var pending: [Int32: Int] = [:]    // socket -> decisions pending
    private var generation = 0                 // bumped in a forked child

    init() {
        sem_init(wake, 0, 0)
    }

    deinit {   // at dlclose() only, and only if no judge ever started
        sem_destroy(wake)
        wake.deallocate()
    }

    /// Hands a decision to a judge; false if it must be made here (too many
    /// pending, or no thread could be started).
    func submit(_ w: Work) -> Bool {
        cwrap_mutex_lock(lock)
        if queue.count + judging.count >= Judges.maxPending {
            cwrap_mutex_unlock(lock)
            return false
        }
        let start = idle == 0 && threads < Judges.maxThreads
        if start { threads += 1 }
        let gen = generation
        cwrap_mutex_unlock(lock)
        if start && !startThread(gen) {
            cwrap_mutex_lock(lock)
            threads -= 1
            let none = threads == 0
            cwrap_mutex_unlock(lock)
            if none { return false }
        }
        cwrap_mutex_lock(lock)
        queue.append(w)
        pending[w.socket, default: 0] += 1
        cpreload_pending_total_add(1)
        cwrap_mutex_unlock(lock)
        sem_post(wake)
        return true
    }

    /// Decisions pending for `socket` (0 at the cost of one load when none
    /// is pending anywhere).
    func pendingCount(_ socket: Int32) -> Int {
        if cpreload_pending_total() == 0 { return 0 }
        cwrap_mutex_lock(lock)
        defer { cwrap_mutex_unlock(lock) }
        return pending[socket] ?? 0
    }

    private func startThread(_ gen: Int) -> Bool {
        var all = sigset_t()
        var old = sigset_t()
        sigfillset(&all)
        pthread_sigmask(SIG_SETMASK, &all, &old)   // the daemon's signals stay the daemon's
        defer { pthread_sigmask(SIG_SETMASK, &old, nil) }
        var attr = pthread_attr_t()
        pthread_attr_init(&attr)
        pthread_attr_setdetachstate(&attr, Int32(PTHREAD_CREATE_DETACHED))
        pthread_attr_setstacksize(&attr, 256 << 10)
        defer { pthread_attr_destroy(&attr) }
        var thread = pthread_t()
        cwrap_thread_started()   // detached: nothing is freed at unload now
        let arg = UnsafeMutableRawPointer(bitPattern: gen + 1)
        return pthread_create(&thread, &attr, { arg in
            Judges.shared.run(generation: Int(bitPattern: arg) - 1)
            return nil
        }, arg) == 0
    }

    private func run(generation gen: Int) {
        cwrap_set_hook_busy(1)   // the judge's own calls (ident, DNS) pass the hooks
        while true {
            cwrap_mutex_lock(lock)
            idle += 1
            cwrap_mutex_unlock(lock)
            while sem_wait(wake) != 0 {}
            cwrap_mutex_lock(lock)
            idle -= 1
            if gen != generation { cwrap_mutex_unlock(lock); return }
            guard !queue.isEmpty else {
                cwrap_mutex_unlock(lock)
                continue
            }
            let w = queue.removeFirst()
            if case .connection(_, _, let fd, _, _, _) = w { judging.append(fd) }
            cwrap_mutex_unlock(lock)
            decide(w)
            cwrap_mutex_lock(lock)
            if case .connection(_, _, let fd, _, _, _) = w { judging.removeAll { $0 == fd } }
            if let n = pending[w.socket] { pending[w.socket] = n > 1 ? n - 1 : nil }
            cpreload_pending_total_add(-1)
            cwrap_mutex_unlock(lock)
        }
    }

    private func decide(_ w: Work) {
        switch w {
        case .connection(let listener, let cookie, let fd, var peer, let length, let flags):
            switch Shim.admitConnection(fd, &peer, mayDefer: false) ?? .deny {
            case .permit:
                withUnsafePointer(to: &peer) {
                    Admitted.shared.admitStream(fd: fd, peer: UnsafeRawPointer($0), daemon: Config.shared.daemonBytes)
                }
                if !Held.shared.hold(listener: listener, cookie: cookie, Held.Connection(fd: fd, peer: peer, length: length, flags: flags)) {
                    close(fd)   // the listener is gone
                }
            case .deny:
                Shim.reset(fd)
            case .handedOff:
                close(fd)
            }
        case .datagram(let socket, let cookie, var d, let destination):
            let v = withUnsafeMutablePointer(to: &d.source) {
                DatagramVerdicts.shared.verdict(fd: socket, source: UnsafeMutableRawPointer($0),
                                                destination: destination, mayDefer: false)
            }
            if v == .permit {
                withUnsafePointer(to: &d.source) {
                    Admitted.shared.admitDatagram(source: UnsafeRawPointer($0), daemon: Config.shared.daemonBytes)
                }
                _ = Held.shared.hold(socket: socket, cookie: cookie, d)
            }
        }
    }

    /// In a forked child: no judges; the work queued or under way is the
    /// parent's.
    func forkedChild() {
        cwrap_mutex_lock(lock)
        for w in queue {
            if case .connection(_, _, let fd, _, _, _) = w { close(fd) }
        }
        for fd in judging { close(fd) }
        queue.removeAll()
        judging.removeAll()
        pending.removeAll()
        threads = 0
        idle = 0
        generation += 1
        sem_init(wake, 0, 0)
        cpreload_pending_total_add(-cpreload_pending_total())
        cwrap_mutex_unlock(lock)
    }
}
