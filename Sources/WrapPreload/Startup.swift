// Startup.swift - the shim's globals, built at load time.
//
// Called from CPreload's constructor once the settings are captured, before
// the host's main(): the real symbols are resolved, the daemon name fixed and
// the caches made here, so that no hook ever does one-time work (see
// WrapCore/Startup.swift).

import CPreload
import WrapABI
import WrapCore

/// Every global object of the shim, named once: built at load
/// (`swrap_preload_prepare`) and given back at dlclose
/// (`swrap_preload_release`), so that none can be built and never freed.
private func forEachGlobal(_ pass: Engine.Pass) {
    pass.visit(Real.shared)
    pass.visit(Config.shared)
    pass.visit(DatagramVerdicts.shared)
    pass.visit(AdmittedAddresses.shared)
    pass.visit(SocketFacts.shared)
    pass.visit(ExpectedReplies.shared)
    pass.visit(Held.shared)
    pass.visit(Watches.shared)
    pass.visit(Judges.shared)
    pass.visit(Shim.HeadBuffer.shared)
}

@_cdecl("swrap_preload_prepare")
public func c_swrap_preload_prepare() {
    forEachGlobal(.build)
    NameCache.shared.enable()   // a daemon's clients come back: one lookup per 30 s each
    Resident.prepare(daemon: Config.shared.daemonBytes)
    Background.freshFor = 0.001   // a table's stat() stands 1 ms: not one per decision
}

/// Frees the shim's globals, from CPreload's destructor at a dlclose()
/// after which nothing can use them (never once a judge thread started).
/// Held clients' descriptors are not closed here (close() is a hook of
/// ours): a shim whose hooks hold clients was preloaded and is never
/// unloaded; one dlopen()ed hooks nothing.
@_cdecl("swrap_preload_release")
public func c_swrap_preload_release() {
    forEachGlobal(.release)
}
