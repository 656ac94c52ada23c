// Real.swift - the libc functions the hooks stand in front of.
//
// Resolved once, when the shim is loaded (Startup.swift), with
// dlsym(RTLD_NEXT); a lookup that finds nothing, or finds our own hook,
// leaves the entry nil and the hook fails the call with ENOSYS rather than
// recursing.

import CPreload
import CWrap
import CSystem

typealias AcceptFn = @convention(c) (Int32, UnsafeMutablePointer<sockaddr>?, UnsafeMutablePointer<socklen_t>?) -> Int32
typealias Accept4Fn = @convention(c) (Int32, UnsafeMutablePointer<sockaddr>?, UnsafeMutablePointer<socklen_t>?, Int32) -> Int32
typealias RecvfromFn = @convention(c) (Int32, UnsafeMutableRawPointer?, Int, Int32, UnsafeMutablePointer<sockaddr>?, UnsafeMutablePointer<socklen_t>?) -> Int
typealias RecvFn = @convention(c) (Int32, UnsafeMutableRawPointer?, Int, Int32) -> Int
typealias RecvmsgFn = @convention(c) (Int32, UnsafeMutablePointer<msghdr>?, Int32) -> Int
typealias RecvmmsgFn = @convention(c) (Int32, UnsafeMutablePointer<cwrap_mmsghdr>?, UInt32, Int32, UnsafeMutablePointer<timespec>?) -> Int32
typealias SendtoFn = @convention(c) (Int32, UnsafeRawPointer?, Int, Int32, UnsafePointer<sockaddr>?, socklen_t) -> Int
typealias SendmsgFn = @convention(c) (Int32, UnsafePointer<msghdr>?, Int32) -> Int
typealias PollFn = @convention(c) (UnsafeMutablePointer<pollfd>?, nfds_t, Int32) -> Int32
typealias PpollFn = @convention(c) (UnsafeMutablePointer<pollfd>?, nfds_t, UnsafePointer<timespec>?, UnsafePointer<sigset_t>?) -> Int32
typealias SelectFn = @convention(c) (Int32, UnsafeMutableRawPointer?, UnsafeMutableRawPointer?, UnsafeMutableRawPointer?, UnsafeMutablePointer<timeval>?) -> Int32
typealias PselectFn = @convention(c) (Int32, UnsafeMutableRawPointer?, UnsafeMutableRawPointer?, UnsafeMutableRawPointer?, UnsafePointer<timespec>?, UnsafePointer<sigset_t>?) -> Int32
typealias EpollCtlFn = @convention(c) (Int32, Int32, Int32, UnsafeMutablePointer<epoll_event>?) -> Int32
typealias EpollWaitFn = @convention(c) (Int32, UnsafeMutablePointer<epoll_event>?, Int32, Int32) -> Int32
typealias EpollPwaitFn = @convention(c) (Int32, UnsafeMutablePointer<epoll_event>?, Int32, Int32, UnsafePointer<sigset_t>?) -> Int32
typealias EpollPwait2Fn = @convention(c) (Int32, UnsafeMutablePointer<epoll_event>?, Int32, UnsafePointer<timespec>?, UnsafePointer<sigset_t>?) -> Int32
typealias IntFn = @convention(c) (Int32) -> Int32
typealias Int2Fn = @convention(c) (Int32, Int32) -> Int32
typealias Int3Fn = @convention(c) (Int32, Int32, Int32) -> Int32
typealias ConnectFn = @convention(c) (Int32, UnsafePointer<sockaddr>?, socklen_t) -> Int32
typealias SendmmsgFn = @convention(c) (Int32, UnsafeMutablePointer<cwrap_mmsghdr>?, UInt32, Int32) -> Int32

final class Real: @unchecked Sendable {
    static let shared = Real()

    let accept: AcceptFn?
    let accept4: Accept4Fn?
    let recvfrom: RecvfromFn?
    let recv: RecvFn?
    let recvmsg: RecvmsgFn?
    let recvmmsg: RecvmmsgFn?
    let sendto: SendtoFn?
    let sendmsg: SendmsgFn?
    let sendmmsg: SendmmsgFn?
    let poll: PollFn?
    let ppoll: PpollFn?
    let select: SelectFn?
    let pselect: PselectFn?
    let epollCtl: EpollCtlFn?
    let epollWait: EpollWaitFn?
    let epollPwait: EpollPwaitFn?
    let epollPwait2: EpollPwait2Fn?
    let close: IntFn?
    let dup2: Int2Fn?
    let dup3: Int3Fn?
    let socket: Int3Fn?
    let listen: Int2Fn?
    let connect: ConnectFn?

    private init() {
        var lo: UnsafeRawPointer? = nil, hi: UnsafeRawPointer? = nil
        cwrap_own_span(&lo, &hi)
        func find<T>(_ name: StaticString, as: T.Type) -> T? {
            let next = UnsafeMutableRawPointer(bitPattern: -1)  // RTLD_NEXT
            let cName = UnsafeRawPointer(name.utf8Start).assumingMemoryBound(to: CChar.self)
            guard let p = dlsym(next, cName) else { return nil }
            if let lo, let hi, UnsafeRawPointer(p) >= lo && UnsafeRawPointer(p) < hi { return nil }   // our own hook
            return unsafeBitCast(p, to: T.self)
        }
        accept = find("accept", as: AcceptFn.self)
        accept4 = find("accept4", as: Accept4Fn.self)
        recvfrom = find("recvfrom", as: RecvfromFn.self)
        recv = find("recv", as: RecvFn.self)
        recvmsg = find("recvmsg", as: RecvmsgFn.self)
        recvmmsg = find("recvmmsg", as: RecvmmsgFn.self)
        sendto = find("sendto", as: SendtoFn.self)
        sendmsg = find("sendmsg", as: SendmsgFn.self)
        sendmmsg = find("sendmmsg", as: SendmmsgFn.self)
        poll = find("poll", as: PollFn.self)
        ppoll = find("ppoll", as: PpollFn.self)
        select = find("select", as: SelectFn.self)
        pselect = find("pselect", as: PselectFn.self)
        epollCtl = find("epoll_ctl", as: EpollCtlFn.self)
        epollWait = find("epoll_wait", as: EpollWaitFn.self)
        epollPwait = find("epoll_pwait", as: EpollPwaitFn.self)
        epollPwait2 = find("epoll_pwait2", as: EpollPwait2Fn.self)
        close = find("close", as: IntFn.self)
        dup2 = find("dup2", as: Int2Fn.self)
        dup3 = find("dup3", as: Int3Fn.self)
        socket = find("socket", as: Int3Fn.self)
        listen = find("listen", as: Int2Fn.self)
        connect = find("connect", as: ConnectFn.self)
    }
}
