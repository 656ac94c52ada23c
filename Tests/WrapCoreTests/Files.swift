// Files.swift - reading test inputs without Foundation.

import Glibc
@testable import WrapCoreHosted

struct FileError: Error { var path: String }

func readFile(_ path: String) throws -> Bytes {
    guard let f = fopen(path, "rb") else { throw FileError(path: path) }
    defer { fclose(f) }
    var out = Bytes()
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = fread(&chunk, 1, chunk.count, f)
        if n <= 0 { break }
        out += chunk[0..<n]
    }
    return out
}

func listDirectory(_ path: String) throws -> [String] {
    guard let d = opendir(path) else { throw FileError(path: path) }
    defer { closedir(d) }
    var names: [String] = []
    while let e = readdir(d) {
        let name = withUnsafePointer(to: e.pointee.d_name) {
            $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
        }
        if name != "." && name != ".." { names.append(name) }
    }
    return names.sorted()
}
