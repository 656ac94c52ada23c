// Percent.swift - %-expansion (percent_x()) of option values and banners.
//
// %a %A %c %d %h %H %n %N %p %r %R %s %u and %%. The expansion of a letter
// keeps only characters that are safe in a shell command; every other byte
// becomes '_'. An unknown letter expands to nothing, with a warning.

public enum Percent {
    /// Bytes that may pass through an expansion unchanged.
    static let safe: [Bool] = {
        var t = [Bool](repeating: false, count: 256)
        for c in "1234567890!@%-_=+:,./abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8 { t[Int(c)] = true }
        return t
    }()

    /// The letters percent_x() knows.
    public static let letters = Set("aAcdhHnNprRsu".utf8)

    /// Replaces every unsafe byte with '_'.
    public static func sanitize(_ s: Bytes) -> Bytes {
        s.map { safe[Int($0)] ? $0 : UInt8(ascii: "_") }
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
                } else if letters.contains(letter) {
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
