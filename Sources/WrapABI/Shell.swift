// Shell.swift - shell commands: shell_cmd(), spawn, aclexec, twist.
//
// A command runs as `/bin/sh -c COMMAND` with stdin, stdout and stderr on
// /dev/null, started with posix_spawn() (safe in a threaded process) and
// waited for by its own process id.

import CWrap
import CSystem
import WrapCore

enum Shell {
    /// Runs a command and waits for it; returns its exit status (or -1).
    @discardableResult
    static func run(_ command: Bytes) -> Int32 {
        spawnAndWait(["sh", "-c"], command, stdio: -1)
    }

    /// Starts a command that outlives the call: an intermediate shell starts it
    /// in the background and exits at once; we wait for that shell only, so
    /// no zombie is left and no child of the daemon's is ever reaped. With
    /// `stdio` >= 0 the command talks to that descriptor (twist).
    static func detach(_ command: Bytes, stdio: Int32) {
        spawnAndWait(["sh", "-c", "sh -c \"$1\" 0<&0 & exit 0", "sh"], command, stdio: stdio, closeOthers: true)
    }

    /// aclexec: runs a command with stdin, stdout and stderr on /dev/null
    /// (with `closeOthers`, no other descriptor of the process's either;
    /// otherwise it gets all but descriptor 3), and returns its exit status -
    /// learned through a pipe, so that it is known even when the process
    /// ignores SIGCHLD (then the kernel reaps the shell and waitpid() cannot
    /// tell). Nil when the status cannot be learned.
    static func runForStatus(_ command: Bytes, closeOthers: Bool = true) -> Int32? {
        var ends: [Int32] = [-1, -1]
        if csystem_pipe_cloexec(&ends) != 0 {
            Diag.warn("aclexec: pipe: \(Diag.errnoText())")
            return nil
        }
        defer { close(ends[0]) }
        // The outer shell gives the command no descriptor 3 and reports its
        // status on 3; the command itself sees only 0, 1 and 2.
        let spawned = spawnAndWait(["sh", "-c", "sh -c \"$1\" 3>&-; printf %d $? >&3", "sh"], command,
                                   stdio: -1, closeOthers: closeOthers, statusPipe: ends[1])
        close(ends[1])
        var text = Bytes()
        var buffer = [UInt8](repeating: 0, count: 16)
        while text.count < 16 {
            let n = buffer.withUnsafeMutableBytes { read(ends[0], $0.baseAddress, $0.count) }
            if n > 0 { text += buffer[0..<n] } else if n < 0 && errno == EINTR { continue } else { break }
        }
        guard spawned != spawnFailed, !text.isEmpty, text.count <= 3,
              text.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return Int32(strtolBase10(text))
    }

    /// spawnAndWait()'s result when no process could be started.
    static let spawnFailed: Int32 = -2

    /// `closeOthers`: the command gets stdin, stdout and stderr only (in a
    /// resident daemon: not its listeners or other clients' connections).
    /// `statusPipe`: a descriptor the command gets as 3 (aclexec's status).
    /// Returns the exit status, -1 when it is unknown, `spawnFailed` when
    /// nothing was started.
    @discardableResult
    static func spawnAndWait(_ args: [String], _ command: Bytes, stdio: Int32, closeOthers: Bool = false,
                             statusPipe: Int32 = -1) -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for fd: Int32 in 0...2 {
            if stdio >= 0 {
                posix_spawn_file_actions_adddup2(&actions, stdio, fd)
            } else {
                posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", O_RDWR, 0)
            }
        }
        if statusPipe >= 0 { posix_spawn_file_actions_adddup2(&actions, statusPipe, 3) }
        if closeOthers { _ = cwrap_spawn_close_from(&actions, statusPipe >= 0 ? 4 : 3) }
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGHUP)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigdefault(&attr, &defaults)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attr, &empty)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        var pid: pid_t = 0
        let rc = withCString(command) { cmd -> Int32 in
            var argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [cmd, nil]
            defer { for i in 0..<args.count { free(argv[i]) } }
            return posix_spawn(&pid, "/bin/sh", &actions, &attr, &argv, csystem_environ())
        }
        if rc != 0 {
            Diag.warn("cannot fork: \(Diag.errnoText(rc))")
            return statusPipe >= 0 ? spawnFailed : -1
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { return -1 }
        }
        if status & 0x7F != 0 {  // WIFSIGNALED
            Diag.warn("process \(pid) exited with signal \(status & 0x7F)")
            return -1
        }
        return (status >> 8) & 0xFF
    }

    /// twist: replaces this process by the command, talking to the client.
    static func twist(_ command: Bytes, _ r: RequestPtr) {
        Diag.log(cwrap_deny_severity(), "twist \(latin1String(Eval.client(r))) to \(command.text)")
        let fd = r.pointee.fd
        var failure = "twist_option: dup: \(Diag.errnoText(EBADF))"
        if fd >= 0 && (fd == 0 || dup2(fd, 0) == 0) && (fd == 1 || dup2(fd, 1) == 1) && (fd == 2 || dup2(fd, 2) == 2) {
            if fd > 2 { close(fd) }
            withCString(command) { cmd in
                var argv: [UnsafeMutablePointer<CChar>?] = [strdup("sh"), strdup("-c"), cmd, nil]
                _ = execv("/bin/sh", &argv)
                free(argv[0]); free(argv[1])
            }
            failure = "twist_option: /bin/sh: \(Diag.errnoText())"
        }
        Diag.warn(failure)
        cleanExit(r)
    }

    /// clean_exit(): drain a datagram, then leave (libwrap's contract for tcpd).
    static func cleanExit(_ r: RequestPtr) -> Never {
        if let sink = r.pointee.sink { sink(r.pointee.fd) }
        sleep(5)
        exit(0)
    }
}

@_cdecl("shell_cmd")
public func c_shell_cmd(_ command: UnsafeMutablePointer<CChar>?) {
    guard let command else { return }
    let saved = errno
    Shell.run(bytes(command))
    errno = saved
}

@_cdecl("clean_exit")
public func c_clean_exit(_ r: UnsafeMutablePointer<request_info>?) {
    if let r { Shell.cleanExit(r) }
    sleep(5)
    exit(0)
}

@_cdecl("refuse")
public func c_refuse(_ r: UnsafeMutablePointer<request_info>?) {
    guard let r else { exit(0) }
    let client = latin1String(Eval.client(r))
    let addr = latin1String(Eval.hostaddr(Fields.host(r, .client)))
    Diag.log(cwrap_deny_severity(), "refused connect from \(client) (\(addr))")
    Shell.cleanExit(r)
}
