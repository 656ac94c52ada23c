// SegmentedCache.swift - a fixed-size cache that a flood of new keys cannot empty.
//
// The shim caches datagram verdicts per source address. Sources are chosen
// by whoever sends (a spoofed-source flood brings a new one per packet), so
// the cache must have a fixed size, and new keys must not push out the keys
// that are really in use. Two segments, as in a segmented LRU: a key enters
// "probation"; a second use within its life promotes it to "protected".
// Each segment evicts its oldest entry when full, so one-shot keys only ever
// displace each other, and a key in use stays until protected fills with
// keys in use. Entries expire `ttl` seconds after they were stored (the
// caller stamps them when its decision is made, not when it began).

public struct SegmentedCache<Key: Hashable, Value> {
    struct Entry {
        var value: Value
        var stamp: Double
        var isProtected: Bool
    }

    private var entries: [Key: Entry] = [:]
    /// Each segment's keys, oldest at `next` once the ring is full; the rings
    /// grow as keys come (an idle cache costs nothing, not even at load).
    private var probation: [Key] = []
    private var probationNext = 0
    private var protected: [Key] = []
    private var protectedNext = 0
    private let capacity: Int
    public let ttl: Double

    /// At most `capacity` keys in each segment.
    public init(capacity: Int, ttl: Double) {
        self.capacity = max(capacity, 1)
        self.ttl = ttl
    }

    /// Puts `key` in a ring; returns the key it pushed out, if it was full.
    /// (Static: a method of `self` would hold a second reference to the
    /// ring while it is written, and the write would copy the whole ring.)
    private static func push(_ key: Key, _ ring: inout [Key], _ next: inout Int, capacity: Int) -> Key? {
        if ring.count < capacity {
            ring.append(key)
            return nil
        }
        let old = ring[next]
        ring[next] = key
        next = (next + 1) % capacity
        return old
    }

    public var count: Int { entries.count }

    /// The value stored for `key` less than `ttl` seconds before `now`; a
    /// hit promotes the key.
    public mutating func lookup(_ key: Key, now: Double) -> Value? {
        guard let e = entries[key], now - e.stamp < ttl else { return nil }
        if !e.isProtected { promote(key) }
        return e.value
    }

    /// Stores a value (decided at `now`): a known key is refreshed in place,
    /// a new one enters probation, evicting probation's oldest.
    public mutating func store(_ key: Key, _ value: Value, now: Double) {
        if var e = entries[key] {
            e.value = value
            e.stamp = now
            entries[key] = e
            return
        }
        if let old = Self.push(key, &probation, &probationNext, capacity: capacity), entries[old]?.isProtected == false { entries[old] = nil }
        entries[key] = Entry(value: value, stamp: now, isProtected: false)
    }

    /// Stores a value only if the key holds none that is still fresh: the
    /// entry keeps its first stamp, so it expires `ttl` after it was made
    /// however often it is stored again.
    public mutating func storeIfAbsent(_ key: Key, _ value: Value, now: Double) {
        if let e = entries[key], now - e.stamp < ttl { return }
        store(key, value, now: now)
    }

    private mutating func promote(_ key: Key) {
        if let old = Self.push(key, &protected, &protectedNext, capacity: capacity), entries[old]?.isProtected == true { entries[old] = nil }
        entries[key]?.isProtected = true
    }
}
