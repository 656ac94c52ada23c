// Waits.swift - poll(), ppoll(), select(), pselect() and epoll: a socket is
// reported readable only when an admitted client waits (Readiness.swift);
// and the calls that tell the hooks what a descriptor is (close, dup2,
// dup3, socket, listen, connect, epoll_ctl).
//
// Each wait hook makes the real call, then looks at the listening and
// datagram sockets it reports readable. If every one of them held only
// refused clients and nothing else is ready, the real call is made again
// for the time that is left, so the daemon sees neither the refused clients
// nor a wake-up for nothing. A socket with a held client is reported ready
// even when the kernel has nothing new to say (the wait is then made with no
// timeout). The result, the events and errno are otherwise the kernel's;
// an interrupted wait returns EINTR as the real one does.
//
// Cost for a daemon that never sees a refusal: a byte load per readable
// descriptor (and per polled descriptor while a client is held somewhere);
// getsockopt() the first time a descriptor is reported readable.

import CPreload
import CWrap
import CSystem
import WrapABI
import WrapCore

enum Waits {
    static let readable = Int16(POLLIN | POLLRDNORM)

    /// Runs a wait: `call` is the real call with the time left (nil: no
    /// limit; 0: do not wait), `owed` whether a held client must be
    /// reported, `adjust` filters a result and returns the new count.
    static func run(timeout: Double?, owed: () -> Bool, call: (Double?) -> Int32, adjust: (Int32) -> Int32) -> Int32 {
        let saved = errno
        let deadline = timeout.map { $0 > 0 ? monotonicSeconds() + $0 : 0 }
        var left = timeout
        while true {
            let forced = owed()
            // While judges decide, wake every 10 ms to look for their clients.
            let sliced = !forced && cpreload_pending_total() > 0
            let wait = forced ? 0 : sliced ? min(left ?? Judges.slice, Judges.slice) : left
            let n = call(wait)
            if n < 0 { return n }
            if n == 0 && !forced && !sliced {
                errno = saved
                return 0
            }
            let kept = n > 0 || forced ? adjust(n) : 0
            if kept > 0 {
                errno = saved
                return kept
            }
            // Only refused clients: wait again, for the time left.
            if let deadline {
                let l = deadline == 0 ? 0 : deadline - monotonicSeconds()
                if l <= 0 {
                    errno = saved
                    return 0
                }
                left = l
            }
        }
    }

    static func seconds(_ ts: UnsafePointer<timespec>?) -> Double? {
        guard let ts else { return nil }
        return max(0, Double(ts.pointee.tv_sec) + Double(ts.pointee.tv_nsec) / 1e9)
    }

    static func timespecOf(_ s: Double) -> timespec {
        let whole = Int(s)   // s >= 0: truncation is the floor (libm is not linked)
        return timespec(tv_sec: whole, tv_nsec: min(999_999_999, Int((s - Double(whole)) * 1e9)))
    }

    static func timevalOf(_ s: Double) -> timeval {
        let ts = timespecOf(s)
        return timeval(tv_sec: ts.tv_sec, tv_usec: ts.tv_nsec / 1000)
    }

    static func milliseconds(_ s: Double?) -> Int32 {
        guard let s else { return -1 }
        if s <= 0 { return 0 }
        let ms = min(s * 1000, Double(Int32.max - 1))
        let whole = Int32(ms)
        return Double(whole) < ms ? whole + 1 : whole   // rounded up: never wake early
    }

    // MARK: poll

    static func poll(_ fds: UnsafeMutablePointer<pollfd>, _ count: Int, timeout: Double?,
                     _ call: (Double?) -> Int32) -> Int32 {
        run(timeout: timeout, owed: {
            guard cpreload_held_total() > 0 else { return false }
            for i in 0..<count where fds[i].fd >= 0 && fds[i].events & readable != 0 {
                if cpreload_kind(fds[i].fd) & Kind.held != 0 { return true }
            }
            return false
        }, call: call, adjust: { _ in
            var kept: Int32 = 0
            for i in 0..<count {
                let fd = fds[i].fd
                var rev = fds[i].revents
                if fd >= 0 && fds[i].events & readable != 0 {
                    let k = cpreload_kind(fd)
                    if rev & readable != 0 {
                        if k & Kind.typeMask != Kind.other && !Readiness.ready(fd) {
                            rev &= ~readable
                            fds[i].revents = rev
                        }
                    } else if k & Kind.held != 0 && Kind.filtered(k) && Readiness.ready(fd) {
                        rev |= fds[i].events & readable
                        fds[i].revents = rev
                    }
                }
                if rev != 0 { kept += 1 }
            }
            return kept
        })
    }

    // MARK: select

    static func select(_ nfds: Int32, _ r: UnsafeMutableRawPointer?, _ w: UnsafeMutableRawPointer?,
                       _ e: UnsafeMutableRawPointer?, timeout: Double?, _ call: (Double?) -> Int32) -> Int32 {
        guard let r, nfds > 0 else { return call(timeout) }
        let words = (Int(nfds) + 63) / 64
        let bytes = words * 8
        return withUnsafeTemporaryAllocation(byteCount: bytes * 3, alignment: 8) { saved in
            let base = saved.baseAddress!
            let sr = base, sw = base + bytes, se = base + 2 * bytes
            memcpy(sr, r, bytes)
            if let w { memcpy(sw, w, bytes) }
            if let e { memcpy(se, e, bytes) }
            var first = true
            return run(timeout: timeout, owed: {
                guard cpreload_held_total() > 0 else { return false }
                for fd in 0..<nfds where cpreload_fd_isset(sr, fd) != 0 {
                    if cpreload_kind(fd) & Kind.held != 0 { return true }
                }
                return false
            }, call: { left in
                if !first {
                    memcpy(r, sr, bytes)
                    if let w { memcpy(w, sw, bytes) }
                    if let e { memcpy(e, se, bytes) }
                }
                first = false
                return call(left)
            }, adjust: { n in
                var count = n
                for word in 0..<words {
                    let asked = sr.load(fromByteOffset: word * 8, as: UInt64.self)
                    if asked == 0 { continue }
                    for bit in 0..<64 where asked & (1 << UInt64(bit)) != 0 {
                        let fd = Int32(word * 64 + bit)
                        if fd >= nfds { break }
                        let k = cpreload_kind(fd)
                        if cpreload_fd_isset(r, fd) != 0 {
                            if k & Kind.typeMask != Kind.other && !Readiness.ready(fd) {
                                cpreload_fd_clr(r, fd)
                                count -= 1
                            }
                        } else if k & Kind.held != 0 && Kind.filtered(k) && Readiness.ready(fd) {
                            cpreload_fd_set(r, fd)
                            count += 1
                        }
                    }
                }
                return count
            })
        }
    }

    // MARK: epoll

    static func epoll(_ epfd: Int32, _ events: UnsafeMutablePointer<epoll_event>, _ max: Int32,
                      timeout: Double?, _ call: (Double?) -> Int32) -> Int32 {
        let watches = Watches.shared.list(epfd)
        if watches.isEmpty { return call(timeout) }
        return run(timeout: timeout, owed: {
            for w in watches where Readiness.owed(cpreload_kind(w.fd)) { return true }
            return false
        }, call: call, adjust: { n in
            var out: Int32 = 0
            // Which registrations the kernel reported (a bit each; an array
            // only past 64 of them).
            var seenMask: UInt64 = 0
            var seenMore = watches.count > 64 ? [Bool](repeating: false, count: watches.count) : []
            for i in 0..<n {
                var ev = cpreload_epoll_events(events, i)
                let data = cpreload_epoll_data(events, i)
                if let j = watches.firstIndex(where: { $0.data == data }) {
                    if j < 64 { seenMask |= 1 << UInt64(j) } else { seenMore[j] = true }
                    if ev & EPOLLIN.rawValue != 0 && !Readiness.ready(watches[j].fd) {
                        ev &= ~(EPOLLIN.rawValue | EPOLLRDNORM.rawValue)
                        if watches[j].events & EPOLLONESHOT.rawValue != 0 { rearm(epfd, watches[j]) }
                        if ev & ~(EPOLLET.rawValue | EPOLLONESHOT.rawValue) == 0 { continue }
                    }
                }
                if out != i { cpreload_epoll_copy(events, out, i) }
                cpreload_epoll_set_events(events, out, ev)
                out += 1
            }
            for (j, w) in watches.enumerated() where out < max && w.events & EPOLLIN.rawValue != 0 {
                if j < 64 ? seenMask & (1 << UInt64(j)) != 0 : seenMore[j] { continue }
                if Readiness.owed(cpreload_kind(w.fd)) && Readiness.ready(w.fd) {
                    cpreload_epoll_put(events, out, EPOLLIN.rawValue, w.data)
                    out += 1
                }
            }
            return out
        })
    }

    /// A one-shot registration the kernel disabled for an event the daemon
    /// never saw: armed again as the daemon left it.
    static func rearm(_ epfd: Int32, _ w: Watches.Watch) {
        guard let ctl = Real.shared.epollCtl else { return }
        var ev = epoll_event()
        withUnsafeMutablePointer(to: &ev) { cpreload_epoll_put($0, 0, w.events, w.data) }
        let saved = errno
        _ = ctl(epfd, EPOLL_CTL_MOD, w.fd, &ev)
        errno = saved
    }

    @inline(__always)
    static func passing() -> Bool { cwrap_hook_busy() != 0 }
}

// MARK: - The hooks

@_cdecl("poll")
public func hook_poll(_ fds: UnsafeMutablePointer<pollfd>?, _ n: nfds_t, _ timeout: Int32) -> Int32 {
    guard let real = Real.shared.poll else { errno = ENOSYS; return -1 }
    guard let fds, n > 0, !Waits.passing() else { return real(fds, n, timeout) }
    return Waits.poll(fds, Int(n), timeout: timeout < 0 ? nil : Double(timeout) / 1000) {
        real(fds, n, Waits.milliseconds($0))
    }
}

/// The fortified poll() (_FORTIFY_SOURCE): checked as glibc checks it.
@_cdecl("__poll_chk")
public func hook_poll_chk(_ fds: UnsafeMutablePointer<pollfd>?, _ n: nfds_t, _ timeout: Int32, _ size: Int) -> Int32 {
    if size / MemoryLayout<pollfd>.stride < Int(n) {
        abort()   // glibc's __chk_fail: a buffer overflow in the caller
    }
    return hook_poll(fds, n, timeout)
}

@_cdecl("ppoll")
public func hook_ppoll(_ fds: UnsafeMutablePointer<pollfd>?, _ n: nfds_t, _ timeout: UnsafePointer<timespec>?,
                       _ mask: UnsafePointer<sigset_t>?) -> Int32 {
    guard let real = Real.shared.ppoll else { errno = ENOSYS; return -1 }
    guard let fds, n > 0, !Waits.passing() else { return real(fds, n, timeout, mask) }
    return Waits.poll(fds, Int(n), timeout: Waits.seconds(timeout)) { left in
        guard let left else { return real(fds, n, nil, mask) }
        var ts = Waits.timespecOf(left)
        return real(fds, n, &ts, mask)
    }
}

@_cdecl("__ppoll_chk")
public func hook_ppoll_chk(_ fds: UnsafeMutablePointer<pollfd>?, _ n: nfds_t, _ timeout: UnsafePointer<timespec>?,
                           _ mask: UnsafePointer<sigset_t>?, _ size: Int) -> Int32 {
    if size / MemoryLayout<pollfd>.stride < Int(n) { abort() }
    return hook_ppoll(fds, n, timeout, mask)
}

@_cdecl("select")
public func hook_select(_ nfds: Int32, _ r: UnsafeMutableRawPointer?, _ w: UnsafeMutableRawPointer?,
                        _ e: UnsafeMutableRawPointer?, _ timeout: UnsafeMutablePointer<timeval>?) -> Int32 {
    guard let real = Real.shared.select else { errno = ENOSYS; return -1 }
    guard r != nil, nfds > 0, !Waits.passing() else { return real(nfds, r, w, e, timeout) }
    let limit = timeout.map { max(0, Double($0.pointee.tv_sec) + Double($0.pointee.tv_usec) / 1e6) }
    let deadline = limit.map { monotonicSeconds() + $0 }
    let n = Waits.select(nfds, r, w, e, timeout: limit) { left in
        guard let left else { return real(nfds, r, w, e, nil) }
        var tv = Waits.timevalOf(left)
        return real(nfds, r, w, e, &tv)
    }
    // As Linux does: the time not slept is left in *timeout.
    if let timeout, let deadline {
        let saved = errno
        let left = max(0, deadline - monotonicSeconds())
        timeout.pointee = Waits.timevalOf(left)
        errno = saved
    }
    return n
}

@_cdecl("pselect")
public func hook_pselect(_ nfds: Int32, _ r: UnsafeMutableRawPointer?, _ w: UnsafeMutableRawPointer?,
                         _ e: UnsafeMutableRawPointer?, _ timeout: UnsafePointer<timespec>?,
                         _ mask: UnsafePointer<sigset_t>?) -> Int32 {
    guard let real = Real.shared.pselect else { errno = ENOSYS; return -1 }
    guard r != nil, nfds > 0, !Waits.passing() else { return real(nfds, r, w, e, timeout, mask) }
    return Waits.select(nfds, r, w, e, timeout: Waits.seconds(timeout)) { left in
        guard let left else { return real(nfds, r, w, e, nil, mask) }
        var ts = Waits.timespecOf(left)
        return real(nfds, r, w, e, &ts, mask)
    }
}

@_cdecl("epoll_wait")
public func hook_epoll_wait(_ epfd: Int32, _ events: UnsafeMutablePointer<epoll_event>?, _ max: Int32, _ timeout: Int32) -> Int32 {
    guard let real = Real.shared.epollWait else { errno = ENOSYS; return -1 }
    guard let events, max > 0, cpreload_kind(epfd) & Kind.watching != 0, !Waits.passing() else {
        return real(epfd, events, max, timeout)
    }
    return Waits.epoll(epfd, events, max, timeout: timeout < 0 ? nil : Double(timeout) / 1000) {
        real(epfd, events, max, Waits.milliseconds($0))
    }
}

@_cdecl("epoll_pwait")
public func hook_epoll_pwait(_ epfd: Int32, _ events: UnsafeMutablePointer<epoll_event>?, _ max: Int32, _ timeout: Int32,
                             _ mask: UnsafePointer<sigset_t>?) -> Int32 {
    guard let real = Real.shared.epollPwait else { errno = ENOSYS; return -1 }
    guard let events, max > 0, cpreload_kind(epfd) & Kind.watching != 0, !Waits.passing() else {
        return real(epfd, events, max, timeout, mask)
    }
    return Waits.epoll(epfd, events, max, timeout: timeout < 0 ? nil : Double(timeout) / 1000) {
        real(epfd, events, max, Waits.milliseconds($0), mask)
    }
}

@_cdecl("epoll_pwait2")
public func hook_epoll_pwait2(_ epfd: Int32, _ events: UnsafeMutablePointer<epoll_event>?, _ max: Int32,
                              _ timeout: UnsafePointer<timespec>?, _ mask: UnsafePointer<sigset_t>?) -> Int32 {
    guard let real = Real.shared.epollPwait2 else { errno = ENOSYS; return -1 }
    guard let events, max > 0, cpreload_kind(epfd) & Kind.watching != 0, !Waits.passing() else {
        return real(epfd, events, max, timeout, mask)
    }
    return Waits.epoll(epfd, events, max, timeout: Waits.seconds(timeout)) { left in
        guard let left else { return real(epfd, events, max, nil, mask) }
        var ts = Waits.timespecOf(left)
        return real(epfd, events, max, &ts, mask)
    }
}

@_cdecl("epoll_ctl")
public func hook_epoll_ctl(_ epfd: Int32, _ op: Int32, _ fd: Int32, _ event: UnsafeMutablePointer<epoll_event>?) -> Int32 {
    guard let real = Real.shared.epollCtl else { errno = ENOSYS; return -1 }
    let r = real(epfd, op, fd, event)
    if r == 0 && !Waits.passing() && (op == EPOLL_CTL_DEL || event != nil) {
        let saved = errno
        let events = event.map { cpreload_epoll_events($0, 0) } ?? 0
        let data = event.map { cpreload_epoll_data($0, 0) } ?? 0
        Watches.shared.update(epoll: epfd, op: op, fd: fd, events: events, data: data)
        errno = saved
    }
    return r
}

// MARK: - What a descriptor is

@_cdecl("close")
public func hook_close(_ fd: Int32) -> Int32 {
    guard let real = Real.shared.close else { errno = ENOSYS; return -1 }
    if cpreload_kind(fd) > Kind.other { keepingErrnoHere { Kind.forget(fd) } }
    let r = real(fd)
    if cpreload_kind(fd) != Kind.unknown { cpreload_set_kind(fd, Kind.unknown) }
    return r
}

@_cdecl("dup2")
public func hook_dup2(_ old: Int32, _ new: Int32) -> Int32 {
    guard let real = Real.shared.dup2 else { errno = ENOSYS; return -1 }
    if old != new && cpreload_kind(new) != Kind.unknown { keepingErrnoHere { Kind.forget(new) } }
    return real(old, new)
}

@_cdecl("dup3")
public func hook_dup3(_ old: Int32, _ new: Int32, _ flags: Int32) -> Int32 {
    guard let real = Real.shared.dup3 else { errno = ENOSYS; return -1 }
    if old != new && cpreload_kind(new) != Kind.unknown { keepingErrnoHere { Kind.forget(new) } }
    return real(old, new, flags)
}

@_cdecl("socket")
public func hook_socket(_ domain: Int32, _ type: Int32, _ proto: Int32) -> Int32 {
    guard let real = Real.shared.socket else { errno = ENOSYS; return -1 }
    let fd = real(domain, type, proto)
    if fd >= 0 && cpreload_kind(fd) != Kind.unknown { keepingErrnoHere { Kind.forget(fd) } }
    return fd
}

@_cdecl("listen")
public func hook_listen(_ fd: Int32, _ backlog: Int32) -> Int32 {
    guard let real = Real.shared.listen else { errno = ENOSYS; return -1 }
    let r = real(fd, backlog)
    if r == 0 && cpreload_kind(fd) & Kind.served == 0 {
        keepingErrnoHere {
            Kind.forget(fd)
            let t = Kind.classify(fd)
            cpreload_set_kind(fd, t == Kind.listener ? t | Kind.served : t)
        }
    }
    return r
}

@_cdecl("connect")
public func hook_connect(_ fd: Int32, _ addr: UnsafePointer<sockaddr>?, _ len: socklen_t) -> Int32 {
    guard let real = Real.shared.connect else { errno = ENOSYS; return -1 }
    let r = real(fd, addr, len)
    // A datagram socket connected (or disconnected: AF_UNSPEC) is another
    // kind of socket.
    if cpreload_kind(fd) != Kind.unknown { keepingErrnoHere { Kind.forget(fd) } }
    return r
}

@inline(__always)
func keepingErrnoHere(_ body: () -> Void) {
    let saved = errno
    body()
    errno = saved
}
