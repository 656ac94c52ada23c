// SharedCache.swift - a SegmentedCache that all threads of a daemon share.
//
// The shim keeps three: datagram verdicts per source, the answers to the
// daemon's own datagrams, and client names per address. Each is a fixed-size
// cache behind one of our fork-safe mutexes (cwrap_mutex_new); a value is
// stamped when it is put, that is, when it was decided. Never waits but for
// the mutex, held only around the lookup or store.

import CWrap
import WrapCore

public final class SharedCache<Key: Hashable, Value>: @unchecked Sendable {
    private let lock = cwrap_mutex_new()!
    private var cache: SegmentedCache<Key, Value>

    /// At most `capacity` keys in use and as many new ones; `ttl` seconds each.
    public init(capacity: Int, ttl: Double) {
        cache = SegmentedCache(capacity: capacity, ttl: ttl)
    }

    public func get(_ key: Key) -> Value? {
        get(key, now: monotonicSeconds())
    }

    /// The same, with the time (monotonicSeconds) the caller has just read.
    public func get(_ key: Key, now: Double) -> Value? {
        cwrap_mutex_lock(lock)
        defer { cwrap_mutex_unlock(lock) }
        return cache.lookup(key, now: now)
    }

    /// Stores (or refreshes) a value decided now.
    public func put(_ key: Key, _ value: Value) {
        let now = monotonicSeconds()
        cwrap_mutex_lock(lock)
        cache.store(key, value, now: now)
        cwrap_mutex_unlock(lock)
    }

    /// Stores a value unless a fresh one is there (which keeps its first stamp).
    public func putIfAbsent(_ key: Key, _ value: Value) {
        let now = monotonicSeconds()
        cwrap_mutex_lock(lock)
        cache.storeIfAbsent(key, value, now: now)
        cwrap_mutex_unlock(lock)
    }
}
