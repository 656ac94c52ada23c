// safe_finger - run finger for a reverse probe, with its output made safe.
//
//   safe_finger [finger options]      e.g. in hosts.deny:
//   ALL: ALL : spawn (/usr/sbin/safe_finger -l @%h | /usr/bin/mail -s %d-%h root) &
//
// As Debian's: never as root (the user nobody, else uid and gid 32767; here
// the supplementary groups are dropped too), with a fixed PATH; finger's
// output is filtered: every line starts with a space, lines are cut at 128
// columns (a backslash ends the cut part), backslashes are doubled, bytes
// that are neither printable ASCII nor white space become \ooo, at most
// 100,000 bytes are read, and after 60 seconds finger is killed. The exit
// status is 0 when finger exited with 0, else 1.

import CSystem
import WrapABI
import WrapCore
import WrapTools

let timeLimit: UInt32 = 60
let inputLength = 100_000
let lineLength = 128

nonisolated(unsafe) var fingerPid: pid_t = 0

@_cdecl("safe_finger_main")
public func safeFingerMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    // First of all, not as the superuser.
    if getuid() == 0 || geteuid() == 0 {
        _ = setgroups(0, nil)
        if let pw = getpwnam("nobody"), pw.pointee.pw_uid > 0 {
            _ = setgid(pw.pointee.pw_gid)
            _ = setuid(pw.pointee.pw_uid)
        } else {
            _ = setgid(32767)
            _ = setuid(32767)
        }
        if getuid() == 0 || geteuid() == 0 {
            Out.error("safe_finger: cannot give up root privileges\n")
            return 1
        }
    }
    _ = setenv("PATH", "/bin:/usr/bin:/usr/ucb:/usr/bsd:/etc:/usr/etc:/usr/sbin", 1)
    // Descriptors 0-2 must exist before the pipe is made.
    for fd: Int32 in 0..<3 {
        var st = stat()
        if fstat(fd, &st) != 0 && csystem_open("/dev/null", O_RDWR) != fd {
            Out.error("safe_finger: open /dev/null: \(bytes(strerror(errno)).text)\n")
            return 1
        }
    }
    var fds: [Int32] = [-1, -1]
    guard pipe(&fds) == 0 else {
        Out.error("safe_finger: pipe: \(bytes(strerror(errno)).text)\n")
        return 1
    }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    posix_spawn_file_actions_addclose(&actions, fds[0])
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
    posix_spawn_file_actions_addclose(&actions, fds[1])
    var args: [UnsafeMutablePointer<CChar>?] = [strdup("finger")]
    for i in 1..<Int(argc) { args.append(argv[i]) }
    args.append(nil)
    let spawned = posix_spawnp(&fingerPid, "finger", &actions, nil, &args, csystem_environ())
    posix_spawn_file_actions_destroy(&actions)
    close(fds[1])
    if spawned != 0 {
        Out.error("finger: \(bytes(strerror(spawned)).text)\n")
        return 1
    }
    // Do not wait forever.
    signal(SIGALRM) { _ in
        kill(fingerPid, SIGKILL)
        exit(0)
    }
    alarm(timeLimit)

    let out = csystem_stdout()
    var column = 0
    var count = 0
    var buf = [UInt8](repeating: 0, count: 4096)
    reading: while true {
        let n = buf.withUnsafeMutableBytes { read(fds[0], $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }
        for c in buf[0..<n] {
            if count >= inputLength {
                close(fds[0])
                fds[0] = -1
                _ = fputs("\n\n Input truncated to \(inputLength) bytes...\n", out)
                break reading
            }
            count += 1
            if c == 0x0A {
                putc(0x0A, out)
                column = 0
                continue
            }
            if column >= lineLength {
                _ = fputs("\\\n", out)
                column = 0
            }
            if column == 0 {
                putc(0x20, out)
                column += 1
            }
            let text = (c >= 0x20 && c < 0x7F) || c == 0x09 || c == 0x0B || c == 0x0C || c == 0x0D
            if text {
                if c == 0x5C {
                    putc(0x5C, out)
                    column += 1
                }
                putc(Int32(c), out)
                column += 1
            } else {
                let octal = [0x5C, 0x30 + (c >> 6), 0x30 + ((c >> 3) & 7), 0x30 + (c & 7)]
                for o in octal { putc(Int32(o), out) }
                column += 4
            }
        }
    }
    if fds[0] >= 0 { close(fds[0]) }
    fflush(out)
    var status: Int32 = 0
    var waited: pid_t
    repeat {
        waited = waitpid(fingerPid, &status, 0)
    } while waited < 0 && errno == EINTR
    return waited != fingerPid || status != 0 ? 1 : 0
}
