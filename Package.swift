// swift-tools-version:6.0
//
// TCP Wrappers in Swift.
//
// Layout (see README.md):
//   WrapCore  - the pure rule engine: table reader, patterns, matcher, options,
//               %-expansion. No global state, no I/O of its own.
//   CWrap     - the little C that Swift cannot express: libwrap's exported data
//               symbols and its variadic functions.
//   WrapABI   - the libwrap C ABI (@_cdecl), the table cache, syslog, lookups.
//   Wrap      - the libwrap.so.0 product (product "wrap"): linker settings only.
//   WrapPreload - the LD_PRELOAD shim libwrap_preload.so: accept/recv hooks
//               over the same engine, exporting the libwrap API as well.
//   CPreload  - the shim's load-time capture of its TCPWRAP_* settings.
import PackageDescription

/// A shared object with the Swift runtime linked in, its exports limited by a
/// version script, and undefined symbols caught at link time.
func sharedObject(soname: String, exports: String) -> [LinkerSetting] {
    [.unsafeFlags([
        "-static-stdlib",
        "-Xlinker", "-soname=\(soname)",
        "-Xlinker", "--version-script=\(exports)",
        "-Xlinker", "-z", "-Xlinker", "defs",
    ])]
}

let package = Package(
    name: "TCPWrappers",
    products: [
        .library(name: "wrap", type: .dynamic, targets: ["Wrap"]),
        .library(name: "wrap_preload", type: .dynamic, targets: ["WrapPreload"]),
    ],
    targets: [
        .target(
            name: "WrapCore",
            path: "Sources/WrapCore",
            // The matcher is generic over its caller's context: let the
            // callers (WrapABI) specialize it.
            swiftSettings: [.unsafeFlags(["-cross-module-optimization"])]
        ),
        .target(
            name: "CWrap",
            path: "Sources/CWrap",
            cSettings: [.unsafeFlags(["-fvisibility=default"])]
        ),
        .target(
            name: "WrapABI",
            dependencies: ["WrapCore", "CWrap"],
            path: "Sources/WrapABI"
        ),
        .target(
            name: "Wrap",
            dependencies: ["WrapABI"],
            path: "Sources/Wrap",
            exclude: ["libwrap.map"],
            linkerSettings: sharedObject(soname: "libwrap.so.0", exports: "Sources/Wrap/libwrap.map")
        ),
        .target(
            name: "CPreload",
            dependencies: ["CWrap"],
            path: "Sources/CPreload"
        ),
        .target(
            name: "WrapPreload",
            dependencies: ["WrapABI", "CPreload"],
            path: "Sources/WrapPreload",
            exclude: ["preload.map"],
            linkerSettings: sharedObject(soname: "libwrap_preload.so", exports: "Sources/WrapPreload/preload.map")
        ),
        .testTarget(
            name: "WrapCoreTests",
            dependencies: ["WrapCore"],
            path: "Tests/WrapCoreTests"
        ),
    ]
)
