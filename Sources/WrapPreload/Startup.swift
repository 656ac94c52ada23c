// Startup.swift - the shim's globals, built at load time.
//
// Called from CPreload's constructor once the settings are captured, before
// the host's main(): the real symbols are resolved, the daemon name fixed and
// the caches made here, so that no hook ever does one-time work (see
// WrapCore/Startup.swift).

import CPreload
import WrapABI
import WrapCore

@_cdecl("swrap_preload_prepare")
public func c_swrap_preload_prepare() {
    Engine.keep(Real.shared)
    Engine.keep(Config.shared)
    Engine.keep(DatagramVerdicts.shared)
    Engine.keep(SocketFacts.shared)
    Engine.keep(ExpectedReplies.shared)
    Engine.keep(Held.shared)
    Engine.keep(Watches.shared)
    Engine.keep(Judges.shared)
    Shim.prepareHeadBuffers()
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
    Engine.release(Real.shared)
    Engine.release(Config.shared)
    Engine.release(DatagramVerdicts.shared)
    Engine.release(SocketFacts.shared)
    Engine.release(ExpectedReplies.shared)
    Engine.release(Held.shared)
    Engine.release(Watches.shared)
    Engine.release(Judges.shared)
    Engine.release(Shim.HeadBuffer.shared)
}
