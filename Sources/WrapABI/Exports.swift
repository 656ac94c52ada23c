// Exports.swift - the rest of libwrap's C functions, each a thin @_cdecl
// over the engine or over Request.swift. The C name is the libwrap function
// it stands for.

import CWrap
import CSystem
import WrapCore

@_cdecl("eval_user")
public func c_eval_user(_ r: UnsafeMutablePointer<request_info>?) -> UnsafeMutablePointer<CChar>? {
    keepingErrno { r.map { Eval.user($0) } }
}

@_cdecl("eval_hostname")
public func c_eval_hostname(_ h: UnsafeMutablePointer<host_info>?) -> UnsafeMutablePointer<CChar>? {
    keepingErrno { h.map { Eval.hostname($0) } }
}

@_cdecl("eval_hostaddr")
public func c_eval_hostaddr(_ h: UnsafeMutablePointer<host_info>?) -> UnsafeMutablePointer<CChar>? {
    keepingErrno { h.map { Eval.hostaddr($0) } }
}

@_cdecl("eval_hostinfo")
public func c_eval_hostinfo(_ h: UnsafeMutablePointer<host_info>?) -> UnsafeMutablePointer<CChar>? {
    keepingErrno { h.map { Eval.hostinfo($0) } }
}

@_cdecl("eval_client")
public func c_eval_client(_ r: UnsafeMutablePointer<request_info>?) -> UnsafeMutablePointer<CChar>? {
    keepingErrno { r.map { Eval.client($0) } }
}

@_cdecl("eval_server")
public func c_eval_server(_ r: UnsafeMutablePointer<request_info>?) -> UnsafeMutablePointer<CChar>? {
    keepingErrno { r.map { Eval.server($0) } }
}

@_cdecl("eval_port")
public func c_eval_port(_ sa: UnsafeMutableRawPointer?) -> UnsafeMutablePointer<CChar>? {
    Eval.port(sa)
}

/// split_at(): cuts the string at the first delimiter outside [brackets].
@_cdecl("split_at")
public func c_split_at(_ s: UnsafeMutablePointer<CChar>?, _ delimiter: Int32) -> UnsafeMutablePointer<CChar>? {
    guard let s else { return nil }
    let b = bytes(s)
    guard let (head, _) = splitAt(b[...], UInt8(truncatingIfNeeded: delimiter)) else { return nil }
    s[head.count] = 0
    return s + head.count + 1
}

/// dot_quad_addr(): a dotted quad in network order, or INADDR_NONE.
@_cdecl("dot_quad_addr")
public func c_dot_quad_addr(_ s: UnsafeMutablePointer<CChar>?) -> UInt {
    guard let s else { return UInt(inaddrNone) }
    return UInt(dotQuadAddr(bytes(s)))
}

/// cidr_mask_addr(): a prefix length 1..32 as a network-order mask, else 0.
@_cdecl("cidr_mask_addr")
public func c_cidr_mask_addr(_ s: UnsafeMutablePointer<CChar>?) -> UInt {
    guard let s else { return 0 }
    return UInt(cidrMaskAddr(bytes(s)))
}

/// xgets(): fgets() that joins backslash-continued lines and counts lines in tcpd_context.
@_cdecl("xgets")
public func c_xgets(_ buffer: UnsafeMutablePointer<CChar>?, _ length: Int32, _ fp: UnsafeMutablePointer<FILE>?) -> UnsafeMutablePointer<CChar>? {
    guard let start = buffer, let fp else { return nil }
    var ptr = start
    var len = length
    while len > 1, fgets(ptr, len, fp) != nil {
        var got = Int32(strlen(ptr))
        if got >= 1 && ptr[Int(got) - 1] == 0x0A {
            var file: UnsafeMutablePointer<CChar>? = nil
            var line: Int32 = 0
            cwrap_get_context(&file, &line)
            cwrap_set_context(file, line &+ 1)
            if got >= 2 && ptr[Int(got) - 2] == 0x5C {
                got -= 2
            } else {
                return start
            }
        }
        ptr += Int(got)
        len -= got
        ptr[0] = 0
    }
    return ptr > start ? start : nil
}

/// percent_m(): copies ibuf to obuf with %m replaced by strerror(errno).
@_cdecl("percent_m")
public func c_percent_m(_ obuf: UnsafeMutablePointer<CChar>?, _ ibuf: UnsafePointer<CChar>?) -> UnsafeMutablePointer<CChar>? {
    guard let obuf, let ibuf else { return obuf }
    let text = strerror(errno)!
    var o = obuf
    var i = ibuf
    while i[0] != 0 {
        if i[0] == 0x25 && i[1] == 0x6D {  // "%m"
            strcpy(o, text)
            o += strlen(text)
            i += 2
        } else {
            o[0] = i[0]
            o += 1
            i += 1
        }
    }
    o[0] = 0
    return obuf
}

/// percent_x(): %-expansion into result[len]. Where libwrap would exit on
/// overflow, we warn and return the expansion cut to fit.
@_cdecl("percent_x")
public func c_percent_x(
    _ result: UnsafeMutablePointer<CChar>?, _ len: Int32,
    _ pattern: UnsafeMutablePointer<CChar>?, _ r: UnsafeMutablePointer<request_info>?
) -> UnsafeMutablePointer<CChar>? {
    guard let result, len > 0 else { return result }
    guard let pattern, let r else { result[0] = 0; return result }
    let saved = errno
    defer { errno = saved }
    let p = bytes(pattern)
    if let out = Eval.expand(r, p, limit: Int(len)) {
        storeCString(result, out, size: Int(len))
    } else {
        Diag.warn("percent_x: expansion too long: \(p.textPrefix(30))")
        let out = Eval.expand(r, p, limit: Int.max) ?? []
        storeCString(result, out, size: Int(len))
    }
    return result
}

/// fix_options(): refuses source-routed connections, drops other IP options.
/// (It may end the process: nothing it holds is on the heap.)
@_cdecl("fix_options")
public func c_fix_options(_ r: UnsafeMutablePointer<request_info>?) {
    guard let r else { return }
    let saved = errno
    defer { errno = saved }
    let fd = r.pointee.fd
    var storage: (UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0)   // 40 bytes: the most IP options
    withUnsafeMutableBytes(of: &storage) { opts in
        var len = socklen_t(opts.count)
        guard let ipProto = getprotobyname("ip")?.pointee.p_proto else { return }
        if getsockopt(fd, ipProto, IP_OPTIONS, opts.baseAddress, &len) != 0 || len == 0 { return }
        var i = 0
        while i < Int(len) {
            let opt = opts[i]
            if opt == 131 || opt == 137 {  // IPOPT_LSRR, IPOPT_SSRR
                Diag.log(LOG_WARNING, "refused connect from \(latin1String(Eval.client(r))) with IP source routing options")
                Shell.cleanExit(r)
            }
            if opt == 0 { break }        // IPOPT_EOL
            if opt == 1 { i += 1; continue }  // IPOPT_NOP
            let optlen = i + 1 < Int(len) ? Int(opts[i + 1]) : 0
            if optlen <= 0 { break }
            i += optlen
        }
        do {   // the message's text is freed before a failure below can end the process
            let hex = Bytes(ascii: "0123456789abcdef")
            var text = ""
            for b in opts[0..<Int(len)] { text += " " + [hex[Int(b >> 4)], hex[Int(b & 15)]].text }
            Diag.log(LOG_NOTICE, "connect from \(latin1String(Eval.client(r))) with IP options (ignored):\(text)")
        }
        if setsockopt(fd, ipProto, IP_OPTIONS, nil, 0) != 0 {
            Diag.log(LOG_ERR, "setsockopt IP_OPTIONS NULL: \(Diag.errnoText())")
            Shell.cleanExit(r)
        }
    }
}
