// Real.swift - the libc functions the hooks stand in front of.
//
// Resolved once, on first use, with dlsym(RTLD_NEXT); a lookup that finds
// nothing, or finds our own hook, leaves the entry nil and the hook fails
// the call with ENOSYS rather than recursing.

import CWrap
import Glibc

typealias AcceptFn = @convention(c) (Int32, UnsafeMutablePointer<sockaddr>?, UnsafeMutablePointer<socklen_t>?) -> Int32
typealias Accept4Fn = @convention(c) (Int32, UnsafeMutablePointer<sockaddr>?, UnsafeMutablePointer<socklen_t>?, Int32) -> Int32
typealias RecvfromFn = @convention(c) (Int32, UnsafeMutableRawPointer?, Int, Int32, UnsafeMutablePointer<sockaddr>?, UnsafeMutablePointer<socklen_t>?) -> Int
typealias RecvmsgFn = @convention(c) (Int32, UnsafeMutablePointer<msghdr>?, Int32) -> Int
typealias RecvmmsgFn = @convention(c) (Int32, UnsafeMutablePointer<cwrap_mmsghdr>?, UInt32, Int32, UnsafeMutablePointer<timespec>?) -> Int32

final class Real: @unchecked Sendable {
    static let shared = Real()

    let accept: AcceptFn?
    let accept4: Accept4Fn?
    let recvfrom: RecvfromFn?
    let recvmsg: RecvmsgFn?
    let recvmmsg: RecvmmsgFn?

    private init() {
        func find<T>(_ name: String, _ mine: UnsafeRawPointer?, as: T.Type) -> T? {
            let next = UnsafeMutableRawPointer(bitPattern: -1)  // RTLD_NEXT
            guard let p = dlsym(next, name), UnsafeRawPointer(p) != mine else { return nil }
            return unsafeBitCast(p, to: T.self)
        }
        func addr<T>(_ f: T) -> UnsafeRawPointer { unsafeBitCast(f, to: UnsafeRawPointer.self) }
        accept = find("accept", addr(hook_accept as AcceptFn), as: AcceptFn.self)
        accept4 = find("accept4", addr(hook_accept4 as Accept4Fn), as: Accept4Fn.self)
        recvfrom = find("recvfrom", addr(hook_recvfrom as RecvfromFn), as: RecvfromFn.self)
        recvmsg = find("recvmsg", addr(hook_recvmsg as RecvmsgFn), as: RecvmsgFn.self)
        recvmmsg = find("recvmmsg", addr(hook_recvmmsg as RecvmmsgFn), as: RecvmmsgFn.self)
    }
}
