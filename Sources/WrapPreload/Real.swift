// Real.swift - the libc functions the hooks stand in front of.
//
// Resolved once, when the shim is loaded (Startup.swift), as
// dlsym(RTLD_NEXT) would (NextDefinitions; dlsym itself where that cannot
// tell); a lookup that finds nothing, or finds our own hook, leaves the
// entry nil and the hook fails the call with ENOSYS rather than recursing.

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
        let definitions = NextDefinitions()
        func find<T>(_ name: StaticString, as: T.Type) -> T? {
            let next = UnsafeMutableRawPointer(bitPattern: -1)  // RTLD_NEXT
            let cName = UnsafeRawPointer(name.utf8Start).assumingMemoryBound(to: CChar.self)
            guard let p = definitions.find(cName) ?? dlsym(next, cName) else { return nil }
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

/// What dlsym(RTLD_NEXT, name) finds, found the way the loader finds a
/// symbol: in the GNU hash table of each object loaded after this one, in
/// load order. A fraction of dlsym()'s cost (which is paid at the start of
/// every program that inherits the shim: 23 lookups, 0.04 ms here). Used
/// only when the shim was loaded with the program (the loader's own object
/// comes after it): the objects after it are then exactly those RTLD_NEXT
/// searches. Whatever it does not settle (an indirect function, a unique or
/// thread-local symbol, several default versions, an object without a GNU
/// hash table, a name no object defines, a shim loaded by dlopen()) it
/// leaves to dlsym().
struct NextDefinitions {
    private struct Object {
        let base: UInt
        let symbols: UnsafePointer<Elf64_Sym>
        let names: UnsafePointer<CChar>
        let hash: UnsafePointer<UInt32>
        let versions: UnsafePointer<UInt16>?

        init?(_ map: UnsafeMutablePointer<link_map>) {
            guard var d = UnsafePointer<Elf64_Dyn>(map.pointee.l_ld) else { return nil }
            let base = UInt(map.pointee.l_addr)
            var symtab: UInt = 0, strtab: UInt = 0, gnuHash: UInt = 0, versym: UInt = 0
            while d.pointee.d_tag != 0 {   // DT_NULL
                let v = UInt(d.pointee.d_un.d_ptr)
                switch d.pointee.d_tag {
                case 5: strtab = v               // DT_STRTAB
                case 6: symtab = v               // DT_SYMTAB
                case 0x6fff_fef5: gnuHash = v    // DT_GNU_HASH
                case 0x6fff_fff0: versym = v     // DT_VERSYM
                default: break
                }
                d += 1
            }
            // The loader adds the base to these in place, unless the
            // dynamic section is read-only (the vDSO's).
            func at(_ v: UInt) -> UnsafeRawPointer? { UnsafeRawPointer(bitPattern: v < base ? base &+ v : v) }
            guard symtab != 0, strtab != 0, gnuHash != 0,
                  let symbols = at(symtab), let names = at(strtab), let hash = at(gnuHash) else { return nil }
            self.base = base
            self.symbols = symbols.assumingMemoryBound(to: Elf64_Sym.self)
            self.names = names.assumingMemoryBound(to: CChar.self)
            self.hash = hash.assumingMemoryBound(to: UInt32.self)
            versions = versym == 0 ? nil : at(versym)?.assumingMemoryBound(to: UInt16.self)
        }

        enum Lookup { case absent, found(UnsafeMutableRawPointer), unsure }

        /// do_lookup_x() for one object, an unversioned lookup.
        func lookup(_ name: UnsafePointer<CChar>, _ h: UInt32) -> Lookup {
            let buckets = hash[0], bias = hash[1], words = hash[2], shift = hash[3]
            guard buckets > 0, words > 0, words & (words - 1) == 0 else { return .unsure }
            let bloom = UnsafeRawPointer(hash + 4).assumingMemoryBound(to: UInt64.self)
            let word = bloom[Int((h / 64) & (words - 1))]
            guard (word >> UInt64(h & 63)) & (word >> UInt64((h >> shift) & 63)) & 1 != 0 else { return .absent }
            let bucket = UnsafeRawPointer(bloom + Int(words)).assumingMemoryBound(to: UInt32.self)
            var i = bucket[Int(h % buckets)]
            guard i >= bias else { return .absent }
            let chain = bucket + Int(buckets)
            var versioned: UnsafePointer<Elf64_Sym>? = nil
            var defaults = 0
            while true {
                let link = chain[Int(i - bias)]
                if (link ^ h) >> 1 == 0, let sym = defines(Int(i), name) {
                    guard let versions, versions[Int(i)] & 0x7fff >= 2 else { return result(sym) }
                    if versions[Int(i)] & 0x8000 == 0 {   // a default version
                        defaults += 1
                        versioned = sym
                    }
                }
                if link & 1 != 0 { break }
                i += 1
            }
            if defaults == 1, let versioned { return result(versioned) }
            return defaults > 1 ? .unsure : .absent
        }

        /// Symbol `i` if it is a definition of `name` the loader could bind to.
        private func defines(_ i: Int, _ name: UnsafePointer<CChar>) -> UnsafePointer<Elf64_Sym>? {
            let sym = symbols + i
            let type = sym.pointee.st_info & 0xf
            guard sym.pointee.st_shndx != 0,                                // defined here
                  sym.pointee.st_value != 0 || type == 6,                   // STT_TLS
                  type <= 2 || type == 5 || type == 6 || type == 10,        // NOTYPE OBJECT FUNC COMMON TLS IFUNC
                  strcmp(names + Int(sym.pointee.st_name), name) == 0 else { return nil }
            return sym
        }

        private func result(_ sym: UnsafePointer<Elf64_Sym>) -> Lookup {
            let type = sym.pointee.st_info & 0xf, binding = sym.pointee.st_info >> 4
            if binding == 0 { return .absent }                          // STB_LOCAL: not seen
            if binding != 1 && binding != 2 { return .unsure }          // STB_GNU_UNIQUE
            if type == 6 || type == 10 { return .unsure }               // STT_TLS, STT_GNU_IFUNC
            guard let p = UnsafeMutableRawPointer(bitPattern: base &+ UInt(sym.pointee.st_value)) else { return .unsure }
            return .found(p)
        }
    }

    /// The objects after this one; empty when the lookups are left to dlsym().
    private var objects: [Object] = []

    init() {
        guard let own = cpreload_own_link_map() else { return }
        let loader = UInt64(cpreload_loader_base())
        var found: [Object] = []
        var loaderFollows = false
        var next = own.pointee.l_next
        while let map = next {
            if map.pointee.l_addr == loader { loaderFollows = true }
            guard let object = Object(map) else { return }
            found.append(object)
            next = map.pointee.l_next
        }
        if loaderFollows { objects = found }
    }

    /// The definition RTLD_NEXT would find; nil: ask dlsym().
    func find(_ name: UnsafePointer<CChar>) -> UnsafeMutableRawPointer? {
        var h: UInt32 = 5381   // the GNU hash of the name
        var c = name
        while c.pointee != 0 {
            h = h &* 33 &+ UInt32(UInt8(bitPattern: c.pointee))
            c += 1
        }
        for object in objects {
            switch object.lookup(name, h) {
            case .absent: continue
            case .found(let p): return p
            case .unsure: return nil
            }
        }
        return nil
    }
}
