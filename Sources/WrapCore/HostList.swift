// HostList.swift - a /file list, compiled and indexed.
//
// A list is matched word by word, in order, until one matches. Most words
// are plain addresses or names, and comparing one has no side effect except
// one: the first plain word that could be a name makes libwrap look the
// client's name up. So the plain words are indexed (first position of each,
// ignoring case), and matching visits only the other words, the first
// indexed hit, and the position where the name lookup would happen - in list
// order, so that lookups and warnings happen exactly as libwrap's would.

public struct HostList: Sendable {
    public let patterns: [HostPattern]
    /// Lower-cased plain word -> its first position (compared with the address).
    let byAddress: [Bytes: Int32]
    /// The same for the plain words that may be names (NOT_INADDR).
    let byName: [Bytes: Int32]
    /// Positions of all other words, in order.
    let general: [Int32]
    /// Position of the first plain word that may be a name: libwrap looks the
    /// name up there, if nothing matched before.
    let firstName: Int32?

    public init(_ patterns: [HostPattern]) {
        self.patterns = patterns
        var byAddress: [Bytes: Int32] = [:]
        var byName: [Bytes: Int32] = [:]
        var general: [Int32] = []
        var firstName: Int32? = nil
        for (i, p) in patterns.enumerated() {
            guard case .plain(.exact(let word), let mayBeName) = p else {
                general.append(Int32(i))
                continue
            }
            let key = word.map(asciiLower)
            if byAddress[key] == nil { byAddress[key] = Int32(i) }
            if mayBeName {
                if byName[key] == nil { byName[key] = Int32(i) }
                if firstName == nil { firstName = Int32(i) }
            }
        }
        self.byAddress = byAddress
        self.byName = byName
        self.general = general
        self.firstName = firstName
    }

    public init(words: [Bytes]) { self.init(words.map(HostPattern.init)) }
}

extension Matcher {
    /// hostfile_match() over a compiled list: the same answer, lookups and
    /// warnings as trying every word in order.
    static func listMatch<C: MatchContext>(_ list: HostList, _ side: Side, _ ctx: inout C, depth: Int = 1) -> Bool {
        if list.patterns.isEmpty { return false }
        // The address costs no lookup that anyone can see (it is numeric).
        let byAddress = list.byAddress[ctx.hostAddr(side).text.map(asciiLower)]
        var byName: Int32? = nil
        var nameLooked = false
        var g = 0
        while true {
            let general = g < list.general.count ? list.general[g] : Int32.max
            let lookup = nameLooked ? Int32.max : (list.firstName ?? Int32.max)
            let next = min(general, byAddress ?? .max, lookup, byName ?? .max)
            if next == Int32.max { return false }
            if next == byAddress { return true }          // an address word, before anything else here
            if next == general {
                if hostMatch(list.patterns[Int(general)], side, &ctx, depth: depth) { return true }
                g += 1
            } else if next == lookup {
                nameLooked = true
                byName = list.byName[ctx.hostName(side).text.map(asciiLower)]
            } else if next == byName {
                return true
            }
        }
    }
}
