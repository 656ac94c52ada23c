// swift-tools-version:6.0
//
// TCP Wrappers in Swift.
//
// Layout (see README.md):
//   WrapCore  - the pure rule engine: table reader, patterns, matcher, options,
//               %-expansion. No global state, no I/O of its own.
//   CWrap     - the little C that Swift cannot express: libwrap's exported data
//               symbols and its variadic functions.
//   Wrap      - the libwrap C ABI (@_cdecl), the table cache, syslog, lookups.
//               Built as libwrap.so.0 (product "wrap").
import PackageDescription

let libraryLinkerFlags: [LinkerSetting] = [
    .unsafeFlags([
        "-static-stdlib",
        "-Xlinker", "-soname=libwrap.so.0",
        "-Xlinker", "--version-script=Sources/Wrap/libwrap.map",
        "-Xlinker", "-z", "-Xlinker", "defs",
    ]),
]

let package = Package(
    name: "TCPWrappers",
    products: [
        .library(name: "wrap", type: .dynamic, targets: ["Wrap"]),
    ],
    targets: [
        .target(
            name: "WrapCore",
            path: "Sources/WrapCore"
        ),
        .target(
            name: "CWrap",
            path: "Sources/CWrap",
            cSettings: [.unsafeFlags(["-fvisibility=default"])]
        ),
        .target(
            name: "Wrap",
            dependencies: ["WrapCore", "CWrap"],
            path: "Sources/Wrap",
            exclude: ["libwrap.map"],
            linkerSettings: libraryLinkerFlags
        ),
        .testTarget(
            name: "WrapCoreTests",
            dependencies: ["WrapCore"],
            path: "Tests/WrapCoreTests"
        ),
    ]
)
