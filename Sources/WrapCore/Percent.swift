// Percent.swift - %-expansion (percent_x()) of option values and banners.
//
// %a %A %c %d %h %H %n %N %p %r %R %s %u and %%. The expansion of a letter
// keeps only characters that are safe in a shell command; every other byte
// becomes '_'. An unknown letter expands to nothing, with a warning.

public enum Percent {
    /// Bytes that may pass through an expansion unchanged: letters, digits
    /// and "!@%-_=+:,./". (Functions, not tables: a global table is memory
    /// made at load, to be given back at unload.)
    static func isSafe(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "z"),
             UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "!"), UInt8(ascii: "@"), UInt8(ascii: "%"), UInt8(ascii: "-"), UInt8(ascii: "_"),
             UInt8(ascii: "="), UInt8(ascii: "+"), UInt8(ascii: ":"), UInt8(ascii: ","), UInt8(ascii: "."),
             UInt8(ascii: "/"):
            return true
        default:
            return false
        }
    }

    /// The letters percent_x() knows: aAcdhHnNprRsu.
    public static func isLetter(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "a"), UInt8(ascii: "A"), UInt8(ascii: "c"), UInt8(ascii: "d"), UInt8(ascii: "h"),
             UInt8(ascii: "H"), UInt8(ascii: "n"), UInt8(ascii: "N"), UInt8(ascii: "p"), UInt8(ascii: "r"),
             UInt8(ascii: "R"), UInt8(ascii: "s"), UInt8(ascii: "u"):
            return true
        default:
            return false
        }
    }

    /// Replaces every unsafe byte with '_'.
    public static func sanitize(_ s: Bytes) -> Bytes {
        s.map { isSafe($0) ? $0 : UInt8(ascii: "_") }
    }

    /// Expands `pattern`. `value` gives a known letter's raw value; `warn`
    /// receives "unrecognized %x". Returns nil when the result would not fit
    /// in `limit` bytes with its NUL (libwrap gives up on the process then).
    public static func expand(
        _ pattern: Bytes, limit: Int,
        value: (UInt8) -> Bytes, warn: (String) -> Void
    ) -> Bytes? {
        var out: Bytes = []
        var i = 0
        while i < pattern.count {
            let c = pattern[i]
            if c == UInt8(ascii: "%") && i + 1 < pattern.count {
                let letter = pattern[i + 1]
                i += 2
                var piece: Bytes
                if letter == UInt8(ascii: "%") {
                    piece = [UInt8(ascii: "%")]
                } else if isLetter(letter) {
                    piece = sanitize(value(letter))
                } else {
                    warn("unrecognized %\([letter].text)")
                    piece = []
                }
                if out.count + piece.count >= limit - 1 { return nil }
                out += piece
            } else {
                if out.count + 1 >= limit - 1 { return nil }
                out.append(c)
                i += 1
            }
        }
        return out
    }
}
