// try-from - what the library makes of the client on standard input.
//
//   rsh host /usr/sbin/try-from      (or any server that runs it on the connection)
//
// As Debian's: the endpoints of descriptor 0, then each %-expansion on its
// own line; the daemon name is the program's own name. Diagnostics go to
// standard error.

import CSystem
import CWrap
import WrapABI
import WrapCore
import WrapTools

@_cdecl("try_from_main")
public func tryFromMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    Tool.start()
    var me = argv[0].map { bytes($0) } ?? Array("try-from".utf8)
    if let slash = me.lastIndex(of: 0x2F) { me = Array(me[(slash + 1)...]) }
    let r = UnsafeMutablePointer<request_info>.allocate(capacity: 1)
    requestReset(r)
    cString(me).withUnsafeBufferPointer { requestSetString(r, RQ_DAEMON, $0.baseAddress!) }
    r.pointee.fd = 0
    c_sock_host(r)   // fromhost()

    func line(_ label: String, _ value: UnsafeMutablePointer<CChar>?) {
        Out.print(label)
        Out.write(value.map { bytes($0) } ?? Array("unknown".utf8))
        Out.print("\n")
    }
    line("client address  (%a): ", c_eval_hostaddr(&r.pointee.client))
    line("client hostname (%n): ", c_eval_hostname(&r.pointee.client))
    line("client username (%u): ", c_eval_user(r))
    line("client info     (%c): ", c_eval_client(r))
    line("server address  (%A): ", c_eval_hostaddr(&r.pointee.server))
    line("server hostname (%N): ", c_eval_hostname(&r.pointee.server))
    Out.print("server process  (%d): ")
    Out.write(me)
    Out.print("\n")
    line("server info     (%s): ", c_eval_server(r))
    Out.exit(0)
}
