// tcpd - the access control wrapper that inetd runs instead of a server.
//
//   inetd.conf:  ftp  stream  tcp  nowait  root  /usr/sbin/tcpd  in.ftpd -l -a
//
// As Debian's: the daemon name is argv[0] (the server inetd names); the
// server is argv[0] itself when it is a path, else REAL_DAEMON_DIR/argv[0].
// The client on descriptor 0 is looked up, IP source-routed connections are
// refused (fix_options), the tables decide (options included: spawn, twist,
// banners, ...); a refused client is logged ("refused connect from ...") and
// the wrapper exits (a datagram it had is read off first, so that inetd
// does not start it again at once); an admitted one is logged ("connect
// from HOST (ADDRESS)", at allow_severity) and the server is executed in tcpd's place
// with the same arguments and descriptors. Logs go to syslog under the
// daemon's name, with its pid, at the daemon facility as in Debian's build.
// tcpd never writes to descriptors 0-2: they are the client's.

import CSystem
import CWrap
import WrapABI
import WrapCore
import WrapTools


@_cdecl("tcpd_main")
public func tcpdMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    guard argc >= 1, let given = argv[0] else { return 1 }
    let arg0 = bytes(given)
    // The path of the real server; the daemon name (and the server's
    // argv[0]) is its last component.
    let path: Bytes = arg0.contains(0x2F) ? arg0 : Scaffold.realDaemonDir + [0x2F] + arg0
    if let slash = strrchr(given, 0x2F) { argv[0] = slash + 1 }
    let name = argv[0]!
    var ident = cString(bytes(name))
    ident.withUnsafeMutableBufferPointer { openlog($0.baseAddress, LOG_PID, LOG_DAEMON) }
    // (openlog keeps the pointer: `ident` lives until exec or exit.)

    let r = UnsafeMutablePointer<request_info>.allocate(capacity: 1)
    requestReset(r)
    requestSetString(r, RQ_DAEMON, name)
    r.pointee.fd = 0
    // A "wait" datagram service: the datagram that made inetd start us may
    // still be on its way (the library only peeks without waiting). tcpd
    // is its own process: it waits, as Debian's blocking peek does.
    var type: Int32 = 0
    var size = socklen_t(MemoryLayout<Int32>.size)
    if getsockopt(0, SOL_SOCKET, SO_TYPE, &type, &size) == 0 && type == Int32(SOCK_DGRAM.rawValue) {
        var p = pollfd(fd: 0, events: Int16(POLLIN), revents: 0)
        while poll(&p, 1, -1) < 0 && errno == EINTR {}
    }
    c_sock_host(r)          // fromhost(): the endpoints of descriptor 0
    c_fix_options(r)        // refuses source-routed connections (and exits)
    if c_hosts_access(r) == 0 {
        c_refuse(r)         // logs, reads a datagram off, exits
        exit(0)
    }
    let client = bytes(c_eval_client(r)!)
    let address = bytes(c_eval_hostaddr(&r.pointee.client)!)
    var message = Array("connect from ".utf8) + client + Array(" (".utf8) + address + Array(")".utf8) + [0]
    message.withUnsafeMutableBufferPointer { m in
        m.baseAddress!.withMemoryRebound(to: CChar.self, capacity: m.count) { cwrap_syslog(cwrap_allow_severity(), $0) }
    }
    closelog()
    var target = cString(path)
    target.withUnsafeMutableBufferPointer { t in
        _ = execv(t.baseAddress!, argv)
    }
    let reason = bytes(strerror(errno))
    var failure = Array("error: cannot execute ".utf8) + path + Array(": ".utf8) + reason + [0]
    failure.withUnsafeMutableBufferPointer { m in
        m.baseAddress!.withMemoryRebound(to: CChar.self, capacity: m.count) { cwrap_syslog(LOG_ERR, $0) }
    }
    c_clean_exit(r)
    return 0
}
