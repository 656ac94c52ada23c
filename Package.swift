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
//   CSystem   - the C library's headers for Swift (there is no Glibc overlay
//               in Embedded Swift), with pass-throughs for macros.
//
// Everything that goes into the libraries is Embedded Swift: no Swift
// runtime, no metadata, no lazy runtime initialisation - nothing a fork can
// strand and nothing to start up (see README, "Where the libraries are
// safe"). WrapCoreHosted compiles the same engine sources (symbolic links)
// with the full runtime, for the unit tests only.
import PackageDescription

/// Embedded Swift, whole-module: only libc at run time.
let embedded: [SwiftSetting] = [
    .enableExperimentalFeature("Embedded"),
    .unsafeFlags(["-wmo"]),
]

/// An admin tool: an Embedded Swift executable whose entry point is a
/// @_cdecl function. (Text is bytes, as in the libraries: String's Unicode
/// operations would need the stdlib's Unicode tables.)
let tool: [SwiftSetting] = embedded + [.unsafeFlags(["-parse-as-library"])]

/// A shared object whose exports are limited by a version script (which also
/// hides the Embedded Swift runtime's weak swift_retain & co.), with
/// undefined symbols caught at link time.
func sharedObject(soname: String, exports: String) -> [LinkerSetting] {
    [.unsafeFlags([
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
        .executable(name: "tcpdmatch", targets: ["tcpdmatch"]),
        .executable(name: "try-from", targets: ["try-from"]),
        .executable(name: "tcpd", targets: ["tcpd"]),
        .executable(name: "tcpdchk", targets: ["tcpdchk"]),
        .executable(name: "safe_finger", targets: ["safe_finger"]),
    ],
    targets: [
        .target(
            name: "CSystem",
            path: "Sources/CSystem"
        ),
        .target(
            name: "WrapCore",
            dependencies: ["CSystem"],
            path: "Sources/WrapCore",
            swiftSettings: embedded
        ),
        .target(
            name: "CWrap",
            path: "Sources/CWrap",
            cSettings: [.unsafeFlags(["-fvisibility=default"])]
        ),
        .target(
            name: "WrapABI",
            dependencies: ["WrapCore", "CWrap", "CSystem"],
            path: "Sources/WrapABI",
            swiftSettings: embedded
        ),
        .target(
            name: "Wrap",
            dependencies: ["WrapABI"],
            path: "Sources/Wrap",
            exclude: ["libwrap.map"],
            swiftSettings: embedded,
            linkerSettings: sharedObject(soname: "libwrap.so.0", exports: "Sources/Wrap/libwrap.map")
        ),
        .target(
            name: "CPreload",
            dependencies: ["CWrap"],
            path: "Sources/CPreload"
        ),
        .target(
            name: "WrapPreload",
            dependencies: ["WrapABI", "CPreload", "CSystem"],
            path: "Sources/WrapPreload",
            exclude: ["preload.map"],
            swiftSettings: embedded,
            linkerSettings: sharedObject(soname: "libwrap_preload.so", exports: "Sources/WrapPreload/preload.map")
        ),
        // The admin tools: Embedded Swift executables over the same engine
        // (WrapTools holds what they share). An executable's entry point is
        // a @_cdecl("<target>_main") function (Embedded Swift has no
        // CommandLine; SwiftPM renames an executable's main so).
        .target(
            name: "WrapTools",
            dependencies: ["WrapABI", "CSystem"],
            path: "Sources/Tools/WrapTools",
            swiftSettings: embedded
        ),
        .executableTarget(
            name: "tcpdmatch",
            dependencies: ["WrapTools"],
            path: "Sources/Tools/tcpdmatch",
            swiftSettings: tool
        ),
        .executableTarget(
            name: "try-from",
            dependencies: ["WrapTools"],
            path: "Sources/Tools/try-from",
            swiftSettings: tool
        ),
        .executableTarget(
            name: "tcpdchk",
            dependencies: ["WrapTools"],
            path: "Sources/Tools/tcpdchk",
            swiftSettings: tool
        ),
        .executableTarget(
            name: "safe_finger",
            dependencies: ["WrapTools"],
            path: "Sources/Tools/safe_finger",
            swiftSettings: tool
        ),
        .executableTarget(
            name: "tcpd",
            dependencies: ["WrapTools"],
            path: "Sources/Tools/tcpd",
            swiftSettings: tool
        ),
        .target(
            name: "WrapCoreHosted",
            dependencies: ["CSystem"],
            path: "Tests/WrapCoreHosted"
        ),
        .testTarget(
            name: "WrapCoreTests",
            dependencies: ["WrapCoreHosted"],
            path: "Tests/WrapCoreTests"
        ),
    ]
)
