// Real.swift - the libc functions the hooks stand in front of.
//
// Resolved once, when the shim is loaded (Startup.swift), with
// dlsym(RTLD_NEXT); a lookup that finds nothing, or finds our own hook,
// leaves the entry nil and the hook fails the call with ENOSYS rather than
// recursing.

import CWrap
import CSystem

typealias AcceptFn = @convention(c) (Int32, UnsafeMutablePointer<sockaddr>?, UnsafeMutablePointer<socklen_t>?) -> Int32
typealias Accept4Fn = @convention(c) (Int32, UnsafeMutablePointer<sockaddr>?, UnsafeMutablePointer<socklen_t>?, Int32) -> Int32
typealias RecvfromFn = @convention(c) (Int32, UnsafeMutableRawPointer?, Int, Int32, UnsafeMutablePointer<sockaddr>?, UnsafeMutablePointer<socklen_t>?) -> Int
typealias RecvmsgFn = @convention(c) (Int32, UnsafeMutablePointer<msghdr>?, Int32) -> Int
typealias RecvmmsgFn = @convention(c) (Int32, UnsafeMutablePointer<cwrap_mmsghdr>?, UInt32, Int32, UnsafeMutablePointer<timespec>?) -> Int32
typealias SendtoFn = @convention(c) (Int32, UnsafeRawPointer?, Int, Int32, UnsafePointer<sockaddr>?, socklen_t) -> Int
typealias SendmsgFn = @convention(c) (Int32, UnsafePointer<msghdr>?, Int32) -> Int
typealias SendmmsgFn = @convention(c) (Int32, UnsafeMutablePointer<cwrap_mmsghdr>?, UInt32, Int32) -> Int32

final class Real: @unchecked Sendable {
    static let shared = Real()

    let accept: AcceptFn?
    let accept4: Accept4Fn?
    let recvfrom: RecvfromFn?
    let recvmsg: RecvmsgFn?
    let recvmmsg: RecvmmsgFn?
    let sendto: SendtoFn?
    let sendmsg: SendmsgFn?
    let sendmmsg: SendmmsgFn?

    private init() {
        func find<T>(_ name: String, as: T.Type) -> T? {
            let next = UnsafeMutableRawPointer(bitPattern: -1)  // RTLD_NEXT
            guard let p = dlsym(next, name), cwrap_is_own_address(p) == 0 else { return nil }
            return unsafeBitCast(p, to: T.self)
        }
        accept = find("accept", as: AcceptFn.self)
        accept4 = find("accept4", as: Accept4Fn.self)
        recvfrom = find("recvfrom", as: RecvfromFn.self)
        recvmsg = find("recvmsg", as: RecvmsgFn.self)
        recvmmsg = find("recvmmsg", as: RecvmmsgFn.self)
        sendto = find("sendto", as: SendtoFn.self)
        sendmsg = find("sendmsg", as: SendmsgFn.self)
        sendmmsg = find("sendmmsg", as: SendmmsgFn.self)
    }
}
