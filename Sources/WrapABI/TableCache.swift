// TableCache.swift - compiled tables, kept between calls.
//
// libwrap re-reads both tables (and every /file list) on each request; we
// compile a file once and reuse it while stat() says it is the same file:
// same device, inode, size, modification and change times. An edit, or a
// replace by rename, is seen on the next call, as with libwrap.
//
// Files that are not regular (FIFOs, devices) are refused with a warning
// instead of being read: libwrap hangs on a FIFO and loops on /dev/zero.

import CWrap
import CSystem
import WrapCore

struct FileStamp: Equatable {
    var dev: UInt64, ino: UInt64, size: Int64
    var mtime: timespec, ctime: timespec

    init(_ st: stat) {
        dev = UInt64(st.st_dev); ino = UInt64(st.st_ino); size = Int64(st.st_size)
        mtime = st.st_mtim; ctime = st.st_ctim
    }

    /// File times move in coarse steps (a clock tick): a file rewritten in
    /// place twice within one step can end with the stamp of a state read
    /// half-way (truncated, partly written). A version whose times are this
    /// recent is used once but not trusted by its stamp later.
    static let racyWindow = 0.1

    var isRecent: Bool {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        func seconds(_ t: timespec) -> Double { Double(t.tv_sec) + Double(t.tv_nsec) / 1e9 }
        let n = seconds(now)
        return n - seconds(mtime) < FileStamp.racyWindow || n - seconds(ctime) < FileStamp.racyWindow
    }

    static func == (a: FileStamp, b: FileStamp) -> Bool {
        a.dev == b.dev && a.ino == b.ino && a.size == b.size
            && a.mtime.tv_sec == b.mtime.tv_sec && a.mtime.tv_nsec == b.mtime.tv_nsec
            && a.ctime.tv_sec == b.ctime.tv_sec && a.ctime.tv_nsec == b.ctime.tv_nsec
    }
}

/// The result of reading a file.
enum FileRead {
    case contents(Bytes, FileStamp)
    case missing
    case failed(String)  // the %m text, or why the file was refused
}

/// Opens a file for reading without blocking on it (a FIFO would block
/// forever) and refuses anything but regular files and directories.
func openTableFile(_ path: UnsafePointer<CChar>) -> (fd: Int32, stat: stat)? {
    let fd = csystem_open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)
    if fd < 0 { return nil }
    var st = stat()
    if fstat(fd, &st) != 0 {
        let e = errno
        close(fd)
        errno = e
        return nil
    }
    return (fd, st)
}

/// A regular file read in blocks; its descriptor is closed when the source
/// is no longer used. Nil (errno set) for anything else.
func fileChunks(_ path: UnsafePointer<CChar>, blockSize: Int) -> ChunkSource? {
    guard let (fd, st) = openTableFile(path) else { return nil }
    if csystem_file_type(st.st_mode) != S_IFREG {
        close(fd)
        errno = EINVAL
        return nil
    }
    return ChunkSource(blockSize: blockSize, read: { buffer in
        while true {
            let n = read(fd, buffer.baseAddress, buffer.count)
            if n >= 0 { return n }
            if errno != EINTR { return 0 }
        }
    }, close: { close(fd) })
}

/// Reads a large table in blocks and matches it line by line.
func streamTable<C: MatchContext>(_ path: UnsafePointer<CChar>, _ ctx: inout C) -> TableMatch? {
    guard let source = fileChunks(path, blockSize: 1 << 20) else { return nil }
    return Matcher.match(streaming: source, &ctx)
}

/// Reads a whole file (or its first `limit` bytes) without blocking on it and
/// without leaking a descriptor.
func readWholeFile(_ path: UnsafePointer<CChar>, limit: Int = Int.max) -> FileRead {
    guard let (fd, st) = openTableFile(path) else {
        let e = errno
        return e == ENOENT ? .missing : .failed(Diag.errnoText(e))
    }
    defer { close(fd) }
    let type = csystem_file_type(st.st_mode)
    if type == S_IFDIR { return .contents([], FileStamp(st)) }   // fgets() fails: an empty table
    if type != S_IFREG { return .failed("not a regular file") }
    var out = Bytes()
    out.reserveCapacity(Int(min(Int64(st.st_size), 8 << 20)))
    var chunk = [UInt8](repeating: 0, count: 65536)
    while out.count < limit {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, min($0.count, limit - out.count)) }
        if n > 0 {
            out += chunk[0..<n]
        } else if n == 0 {
            break
        } else if errno == EINTR {
            continue
        } else {
            break  // as fgets(): what was read so far is the file
        }
    }
    return .contents(out, FileStamp(st))
}

/// A cache of compiled files, shared by all threads. A request looks up two
/// tables and maybe a few /file lists: a short list compared with memcmp()
/// beats hashing the path.
final class CompiledCache<Value>: @unchecked Sendable {
    private struct Entry {
        var path: [CChar]   // with its NUL
        var stamp: FileStamp
        var value: Value
        /// A newer version is being compiled in the background.
        var compiling = false
        /// When stat() last said this is the current version (monotonic).
        var checked = 0.0
        /// Read while the file was changing (FileStamp.isRecent): read again.
        var racy = false
    }
    /// Paths stat() last said do not exist, and when.
    private var absent: [(path: [CChar], checked: Double)] = []
    private let lock = cwrap_mutex_new()!
    private var entries: [Entry] = []
    private let compile: (Bytes) -> Value
    private static var limit: Int { 256 }

    init(_ compile: @escaping (Bytes) -> Value) {
        self.compile = compile
        
    }

    enum Lookup {
        case value(Value)
        case missing
        case failed(String)
        /// Larger than `streamAbove`: not kept; the caller reads it itself.
        case large
    }

    /// Files larger than this are not compiled and kept (memory would grow
    /// several times the file's size); they are read on each use, as libwrap does.
    let streamAbove: Int64 = 8 << 20

    private func absentIndex(_ path: UnsafePointer<CChar>, _ length: Int) -> Int? {
        for j in absent.indices where absent[j].path.count == length + 1 {
            if absent[j].path.withUnsafeBufferPointer({ memcmp($0.baseAddress!, path, length) }) == 0 { return j }
        }
        return nil
    }

    private func find(_ path: UnsafePointer<CChar>, _ length: Int) -> Int? {
        for i in entries.indices where entries[i].path.count == length + 1 {
            if entries[i].path.withUnsafeBufferPointer({ memcmp($0.baseAddress!, path, length) }) == 0 { return i }
        }
        return nil
    }

    func get(_ path: UnsafePointer<CChar>) -> Lookup {
        let length = strlen(path)
        // Checked a moment ago (a daemon that serves many clients): no
        // stat() per decision.
        let now = Background.freshFor > 0 ? monotonicSeconds() : 0
        if Background.freshFor > 0 {
            cwrap_mutex_lock(lock)
            var fresh: Lookup? = nil
            if let i = find(path, length) {
                if now - entries[i].checked < Background.freshFor { fresh = .value(entries[i].value) }
            } else if let j = absentIndex(path, length), now - absent[j].checked < Background.freshFor {
                fresh = .missing
            }
            cwrap_mutex_unlock(lock)
            if let fresh { return fresh }
        }
        var st = stat()
        let statted = stat(path, &st) == 0
        if Background.freshFor > 0 {
            cwrap_mutex_lock(lock)
            let j = absentIndex(path, length)
            if !statted && errno == ENOENT {
                if let j {
                    absent[j].checked = now
                } else if absent.count < CompiledCache.limit {
                    absent.append((Array(UnsafeBufferPointer(start: path, count: length + 1)), now))
                }
            } else if let j {
                absent.remove(at: j)
            }
            cwrap_mutex_unlock(lock)
        }
        if statted && csystem_file_type(st.st_mode) == S_IFREG {
            if Int64(st.st_size) > streamAbove { return .large }
            let stamp = FileStamp(st)
            cwrap_mutex_lock(lock)
            var hit: Value? = nil
            var stale: Value? = nil
            if let i = find(path, length) {
                if entries[i].stamp == stamp && !entries[i].racy {
                    hit = entries[i].value
                    entries[i].checked = now
                } else if let runner = Background.runner, Int64(st.st_size) >= Background.above {
                    // Changed, and large: compiled off the caller's path;
                    // the previous version decides until it is ready.
                    stale = entries[i].value
                    if !entries[i].compiling {
                        entries[i].compiling = true
                        let key = entries[i].path
                        cwrap_mutex_unlock(lock)
                        let started = runner { self.refresh(key) }
                        cwrap_mutex_lock(lock)
                        if !started, let j = find(path, length) {
                            entries[j].compiling = false
                            stale = nil
                        }
                    }
                }
            }
            cwrap_mutex_unlock(lock)
            if let hit { return .value(hit) }
            if let stale { return .value(stale) }
        }
        switch readWholeFile(path, limit: Int(streamAbove) + 1) {
        case .missing:
            return .missing
        case .failed(let why):
            return .failed(why)
        case .contents(let data, _) where data.count > Int(streamAbove):
            return .large   // it grew between stat() and read()
        case .contents(let data, let stamp):
            let value = compile(data)
            returnFreedMemory(afterCompiling: data.count)
            let key = Array(UnsafeBufferPointer(start: path, count: length + 1))
            cwrap_mutex_lock(lock)
            if let i = find(path, length) {
                entries[i] = Entry(path: key, stamp: stamp, value: value, checked: now, racy: stamp.isRecent)
            } else {
                if entries.count >= CompiledCache.limit { entries.removeFirst(entries.count / 2) }
                entries.append(Entry(path: key, stamp: stamp, value: value, checked: now, racy: stamp.isRecent))
            }
            cwrap_mutex_unlock(lock)
            return .value(value)
        }
    }
}

/// After a large table is compiled, the memory its reading and compiling
/// used and gave back is returned to the system: glibc keeps freed heap
/// memory for reuse, and a fail2ban table's growing arrays would leave the
/// process holding twice what the compiled table needs.
func returnFreedMemory(afterCompiling bytes: Int) {
    if bytes >= 1 << 20 { _ = malloc_trim(0) }
}

extension CompiledCache {
    /// In a forked child: compiles under way in the parent are not the
    /// child's; it compiles again when it needs to.
    func forgetCompiling() {
        cwrap_mutex_lock(lock)
        for i in entries.indices { entries[i].compiling = false }
        cwrap_mutex_unlock(lock)
    }

    /// Compiles the current version of `path` (with its NUL) in the
    /// background; a file that cannot be read now is forgotten, so that the
    /// next use reads it itself and says why.
    func refresh(_ path: [CChar]) {
        path.withUnsafeBufferPointer { p in
            let c = p.baseAddress!
            let length = p.count - 1
            let read = readWholeFile(c, limit: Int(streamAbove) + 1)
            var value: Value? = nil
            var stamp: FileStamp? = nil
            if case .contents(let data, let s) = read, data.count <= Int(streamAbove) {
                value = compile(data)
                returnFreedMemory(afterCompiling: data.count)
                stamp = s
            }
            cwrap_mutex_lock(lock)
            if let i = find(c, length) {
                if let value, let stamp {
                    entries[i] = Entry(path: path, stamp: stamp, value: value, racy: stamp.isRecent)
                } else {
                    entries.remove(at: i)
                }
            }
            cwrap_mutex_unlock(lock)
        }
    }
}

/// Where a daemon that serves many clients (the shim) compiles a changed
/// large table: off the path of the hook that noticed the change. The
/// runner starts the work and says whether it could; set once, at load.
/// Until the new version is compiled (about 60 ms a MiB), decisions use the
/// previous one.
public enum Background {
    nonisolated(unsafe) public static var runner: ((@escaping () -> Void) -> Bool)? = nil
    /// In a daemon that serves many clients: how long a stat() of a table
    /// stands (1 ms; 0 - libwrap.so.0 - a stat() per decision, as libwrap
    /// reads its tables on every request). An edit, rename or replacement is
    /// in force at most this long after it is made. Set once, at load.
    nonisolated(unsafe) public static var freshFor = 0.0
    /// Tables smaller than this are compiled where the change is noticed
    /// (a quarter MiB: about 15 ms).
    static let above: Int64 = 256 << 10
}

/// The words of a /file list: white-space separated, as fscanf("%s") reads
/// them, as C strings (a NUL ends what counts of a word), cut at 8191 bytes
/// where libwrap's buffer would overflow. (WordReader does the same on a stream.)
func hostFileWords(_ data: Bytes) -> [Bytes] {
    var out: [Bytes] = []
    data.withUnsafeBytes { raw in
        var position = 0
        let source = ChunkSource(blockSize: 64 << 10) { buffer in
            let n = min(buffer.count, raw.count - position)
            if n > 0 { buffer.baseAddress!.copyMemory(from: raw.baseAddress! + position, byteCount: n) }
            position += n
            return n
        }
        var words = WordReader(source)
        while let w = words.next() { out.append(w) }
    }
    return out
}

public enum Caches {
    static let tables = CompiledCache { CompiledTable(contents: $0) }
    static let hostFiles = CompiledCache { HostList(words: hostFileWords($0)) }

    /// In a forked child (see CompiledCache.forgetCompiling).
    public static func forkedChild() {
        tables.forgetCompiling()
        hostFiles.forgetCompiling()
    }

}
