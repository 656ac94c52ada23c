// Table.swift - an access control table, read and compiled once.
//
// Reading follows libwrap byte for byte: physical lines are read into a
// 2048-byte buffer as fgets() would, a backslash before the newline joins the
// next line, a NUL byte ends the C string (so the rest of that read is lost),
// and a logical line that does not end in a newline - too long, or the last
// line of a file without one - makes libwrap give up on the rest of the table
// with an error, which the caller turns into "deny" for hosts.deny.
//
// The compiled form keeps every line's effect in order - rules, and the
// warnings libwrap would log on reaching a line - so evaluation reproduces
// libwrap's verdicts and diagnostics without reading the file again.

/// What one line of a table contributes.
public enum TableEntry: Sendable, Equatable {
    case rule(Rule)
    /// A line libwrap skips with a warning ("missing ":" separator").
    case warning(line: Int, message: String)
    /// A line without its newline: libwrap warns and ignores the rest.
    case stop(line: Int)
}

/// One rule: `daemon_list : client_list [: options]`.
public struct Rule: Sendable, Equatable {
    public var line: Int
    public var daemons: [ListItem<ServerPattern>]
    public var clients: [ListItem<ClientPattern>]
    /// The text after the second colon, if there is one (possibly empty).
    public var options: Bytes?
}

public struct CompiledTable: Sendable {
    public var entries: [TableEntry]

    public init(entries: [TableEntry]) { self.entries = entries }

    /// Compiles the contents of a table file.
    public init(contents: Bytes) {
        var entries: [TableEntry] = []
        var reader = LineReader(contents)
        while let (line, number) = reader.next() {
            if line.last != UInt8(ascii: "\n") {
                entries.append(.stop(line: number))
                break
            }
            if line.first == UInt8(ascii: "#") { continue }
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D || $0 == 0x0A }) { continue }
            guard let (daemons, rest) = splitAt(line[...], UInt8(ascii: ":")) else {
                entries.append(.warning(line: number, message: "missing \":\" separator"))
                continue
            }
            var clients = rest
            var options: Bytes? = nil
            if let (c, o) = splitAt(rest, UInt8(ascii: ":")) {
                clients = c
                options = Array(o)
            }
            entries.append(.rule(Rule(
                line: number,
                daemons: compileList(daemons, ServerPattern.init),
                clients: compileList(clients, ClientPattern.init),
                options: options)))
        }
        self.entries = entries
    }
}

/// xgets() over a byte array: logical lines with the physical line count at
/// their end, exactly as libwrap's buffer would hold them.
public struct LineReader {
    static let bufferSize = 2048
    let data: Bytes
    var offset = 0
    var lineNumber = 0

    public init(_ data: Bytes) { self.data = data }

    /// fgets(buf, room): up to room-1 bytes, through the first newline.
    mutating func fgets(_ room: Int) -> Bytes? {
        if offset >= data.count { return nil }
        var out: Bytes = []
        while out.count < room - 1 && offset < data.count {
            let c = data[offset]
            offset += 1
            out.append(c)
            if c == UInt8(ascii: "\n") { break }
        }
        return out
    }

    /// The next logical line (without the NUL) and the line counter after it.
    public mutating func next() -> (Bytes, Int)? {
        var buffer: Bytes = []
        var room = LineReader.bufferSize
        while room > 1, let chunk = fgets(room) {
            // strlen(): a NUL ends what this read contributes.
            let piece = chunk.firstIndex(of: 0).map { Array(chunk[..<$0]) } ?? chunk
            var got = piece.count
            if got >= 1 && piece[got - 1] == UInt8(ascii: "\n") {
                lineNumber += 1
                if got >= 2 && piece[got - 2] == UInt8(ascii: "\\") {
                    got -= 2
                } else {
                    buffer += piece
                    return (buffer, lineNumber)
                }
            }
            buffer += piece[..<got]
            room -= got
        }
        return buffer.isEmpty ? nil : (buffer, lineNumber)
    }
}
