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

    /// File times move in coarse steps (a clock tick, a few ms; a whole
    /// second on file systems that keep no fraction): a file rewritten in
    /// place twice within one step can end with the stamp of a state read
    /// half-way (truncated, partly written). A version whose times were
    /// this recent when it was opened is not trusted by its stamp later.
    static let racyWindow = 0.1
    /// Times with no fraction at all: a file system with whole seconds
    /// (FAT keeps two).
    static let racyWindowWholeSeconds = 2.1

    var isRecent: Bool {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        func seconds(_ t: timespec) -> Double { Double(t.tv_sec) + Double(t.tv_nsec) / 1e9 }
        let n = seconds(now)
        let window = mtime.tv_nsec == 0 && ctime.tv_nsec == 0 ? FileStamp.racyWindowWholeSeconds : FileStamp.racyWindow
        return n - seconds(mtime) < window || n - seconds(ctime) < window
    }

    static func == (a: FileStamp, b: FileStamp) -> Bool {
        a.dev == b.dev && a.ino == b.ino && a.size == b.size
            && a.mtime.tv_sec == b.mtime.tv_sec && a.mtime.tv_nsec == b.mtime.tv_nsec
            && a.ctime.tv_sec == b.ctime.tv_sec && a.ctime.tv_nsec == b.ctime.tv_nsec
    }
}

/// The result of reading a file.
enum FileRead {
    /// `racy`: the file's times were recent when it was opened
    /// (FileStamp.isRecent), so it may change after this read under the
    /// same stamp.
    case contents(Bytes, FileStamp, racy: Bool)
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
    let stamp = FileStamp(st)
    let racy = stamp.isRecent   // now, not after the read and compile
    if type == S_IFDIR { return .contents([], stamp, racy: racy) }   // fgets() fails: an empty table
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
    return .contents(out, stamp, racy: racy)
}

/// A cache of compiled files, shared by all threads. A request looks up two
/// tables and maybe a few /file lists: a short list compared with memcmp()
/// beats hashing the path.
///
/// A file is read and compiled by one thread at a time: another that needs
/// the same version waits for it (polled, at most `compileWait`) rather than
/// compile it again. In the shim, a hook's probe never waits: when a table
/// of a quarter MiB or more must be compiled (or streamed), the probe says
/// "could wait" and the decision is made by a judge thread, so the daemon's
/// thread goes on and no client is ever decided by an out-of-date version.
final class CompiledCache<Value>: @unchecked Sendable {
    private struct Entry {
        var path: [CChar]   // with its NUL
        var stamp: FileStamp
        var value: Value
        /// When stat() last said this is the current version (monotonic).
        var checked = 0.0
        /// Read while the file was changing (FileStamp.isRecent).
        var racy = false
    }
    /// Paths stat() last said do not exist, and when.
    private var absent: [(path: [CChar], checked: Double)] = []
    /// Paths some thread is reading and compiling now.
    private var compiling: [[CChar]] = []
    private let lock = cwrap_mutex_new()!
    private var entries: [Entry] = []
    /// Counts the changes to what `get` can answer (a version kept,
    /// replaced or dropped; a path found missing or present again), under
    /// the lock: equal generations, the same answers for every path.
    private var changes: UInt64 = 0
    private let compile: (Bytes) -> Value
    private static var limit: Int { 256 }
    /// How long a thread waits for another's compile of the same file
    /// before it compiles the file itself (8 MiB compile in ~0.5 s).
    static var compileWait: Double { 5 }

    init(_ compile: @escaping (Bytes) -> Value) {
        self.compile = compile
    }

    enum Lookup {
        case value(Value)
        case missing
        case failed(String)
        /// Larger than `streamAbove`: not kept; the caller reads it itself.
        case large
        /// Probing (Access.probe): the file must be compiled or streamed
        /// first, which could take a while; the probe state says so.
        case wouldWait
    }

    /// Files larger than this are not compiled and kept (memory would grow
    /// several times the file's size); they are read on each use, as libwrap does.
    let streamAbove: Int64 = 8 << 20

    private static func same(_ key: [CChar], _ path: UnsafePointer<CChar>, _ length: Int) -> Bool {
        key.count == length + 1 && key.withUnsafeBufferPointer({ memcmp($0.baseAddress!, path, length) }) == 0
    }

    private func index(_ list: [[CChar]], _ path: UnsafePointer<CChar>, _ length: Int) -> Int? {
        list.firstIndex { Self.same($0, path, length) }
    }

    private func absentIndex(_ path: UnsafePointer<CChar>, _ length: Int) -> Int? {
        absent.firstIndex { Self.same($0.path, path, length) }
    }

    private func find(_ path: UnsafePointer<CChar>, _ length: Int) -> Int? {
        entries.firstIndex { Self.same($0.path, path, length) }
    }

    /// Whether a kept entry is the version stat() describes. A version read
    /// while the file was changing may have been read half-way under the
    /// stamp of its final state: libwrap.so.0 reads it again on every call;
    /// the shim uses it while the file's times are younger than the racy
    /// window (a rewrite in progress, seen as it was read) and reads it
    /// again once they are older (so once the writer stops, its final
    /// version is in force within 0.1 s plus the compile).
    private func usable(_ e: Entry, _ stamp: FileStamp) -> Bool {
        e.stamp == stamp && (!e.racy || (Background.freshFor > 0 && stamp.isRecent))
    }

    private static func mustWait() -> Lookup {
        cwrap_set_probe_state(2)
        return .wouldWait
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
                } else {
                    if absent.count < CompiledCache.limit {
                        absent.append((Array(UnsafeBufferPointer(start: path, count: length + 1)), now))
                    }
                    changes &+= 1
                }
            } else if let j {
                absent.remove(at: j)
                changes &+= 1
            }
            cwrap_mutex_unlock(lock)
        }
        let probing = cwrap_probe_state() != 0
        var marked = false
        if statted && csystem_file_type(st.st_mode) == S_IFREG {
            if Int64(st.st_size) > streamAbove { return probing ? Self.mustWait() : .large }
            let stamp = FileStamp(st)
            let giveUp = monotonicSeconds() + Self.compileWait
            cwrap_mutex_lock(lock)
            while true {
                if let i = find(path, length), usable(entries[i], stamp) {
                    entries[i].checked = now
                    let hit = entries[i].value
                    cwrap_mutex_unlock(lock)
                    return .value(hit)
                }
                if index(compiling, path, length) == nil { break }
                // Another thread reads and compiles this file: its result
                // is likely this version.
                if probing || monotonicSeconds() >= giveUp { break }
                cwrap_mutex_unlock(lock)
                usleep(1000)
                cwrap_mutex_lock(lock)
            }
            if probing && Int64(st.st_size) >= Background.above {
                cwrap_mutex_unlock(lock)
                return Self.mustWait()
            }
            if index(compiling, path, length) == nil {
                compiling.append(Array(UnsafeBufferPointer(start: path, count: length + 1)))
                marked = true
            }
            cwrap_mutex_unlock(lock)
        }
        defer {
            if marked {
                cwrap_mutex_lock(lock)
                if let i = index(compiling, path, length) { compiling.remove(at: i) }
                cwrap_mutex_unlock(lock)
            }
        }
        switch readWholeFile(path, limit: Int(streamAbove) + 1) {
        case .missing:
            return .missing
        case .failed(let why):
            return .failed(why)
        case .contents(let data, _, _) where data.count > Int(streamAbove):
            return probing ? Self.mustWait() : .large   // it grew between stat() and read()
        case .contents(let data, let stamp, let racy):
            let value = compile(data)
            let key = Array(UnsafeBufferPointer(start: path, count: length + 1))
            let entry = Entry(path: key, stamp: stamp, value: value, checked: now, racy: racy)
            cwrap_mutex_lock(lock)
            if let i = find(path, length) {
                entries[i] = entry
            } else {
                if entries.count >= CompiledCache.limit { entries.removeFirst(entries.count / 2) }
                entries.append(entry)
            }
            changes &+= 1
            cwrap_mutex_unlock(lock)
            returnFreedMemory(afterCompiling: data.count)   // the version replaced included
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
    /// The count of changes so far (see `changes`).
    var generation: UInt64 {
        cwrap_mutex_lock(lock)
        defer { cwrap_mutex_unlock(lock) }
        return changes
    }

    /// In a forked child: compiles under way in the parent's other threads
    /// are not the child's; it compiles again when it needs to.
    func forgetCompiling() {
        cwrap_mutex_lock(lock)
        compiling.removeAll()
        cwrap_mutex_unlock(lock)
    }
}

/// How a daemon that serves many clients (the shim) uses the cache; set
/// once, at load.
public enum Background {
    /// In a daemon that serves many clients: how long a stat() of a table
    /// stands (1 ms; 0 - libwrap.so.0 - a stat() per decision, as libwrap
    /// reads its tables on every request). An edit, rename or replacement is
    /// in force at most this long (plus its compile) after it is made.
    nonisolated(unsafe) public static var freshFor = 0.0
    /// Tables this large or larger are not compiled (or streamed) in a
    /// hook's probe: the decision is handed to a judge thread (a quarter
    /// MiB compiles in about 15 ms).
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

    /// The tables' generation once both have been checked as `get` checks
    /// them (a stat() at most `Background.freshFor` old), in a probe's
    /// manner (a table that would take a while to compile is not compiled
    /// here); nil when either is not a kept version or known missing.
    /// Equal generations: the same versions of both tables.
    public static func confirmTables() -> UInt64? {
        guard let allow = cwrap_allow_table(), let deny = cwrap_deny_table() else { return nil }
        let saved = cwrap_probe_state()
        cwrap_set_probe_state(1)
        defer { cwrap_set_probe_state(saved) }
        func kept(_ path: UnsafePointer<CChar>) -> Bool {
            switch tables.get(path) {
            case .value, .missing: return true
            case .failed, .large, .wouldWait: return false
            }
        }
        return kept(allow) && kept(deny) ? tables.generation : nil
    }

    /// The tables' generation now (see CompiledCache.changes).
    public static var tablesGeneration: UInt64 { tables.generation }

    /// In a forked child (see CompiledCache.forgetCompiling).
    public static func forkedChild() {
        tables.forgetCompiling()
        hostFiles.forgetCompiling()
    }

}
