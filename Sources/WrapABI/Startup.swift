// Startup.swift - every global of the library, built at load time and
// given back at dlclose().
//
// Called from CWrap's constructor (and again from the shim's, harmlessly):
// see WrapCore/Startup.swift for why nothing may be initialised lazily.
// Runs once per process, single-threaded, before the host's main(); it
// makes no system call but one getrandom() (the hashing seed).

import CWrap
import WrapCore

/// Every global object of the library, named once: built at load
/// (`swrap_prepare`) and given back at dlclose (`swrap_release`), so
/// that none can be built and never freed.
private func forEachGlobal(_ pass: Engine.Pass) {
    pass.visit(Caches.tables)
    pass.visit(Caches.hostFiles)
    pass.visit(Admitted.shared)
    pass.visit(RefusalLog.shared)
    pass.visit(RateLimit.commands)
    pass.visit(RateLimit.commandWarnings)
    pass.visit(NameCache.shared)
}

/// Builds the engine's and the library's globals.
@_cdecl("swrap_prepare")
public func c_swrap_prepare() {
    Engine.prepare()
    forEachGlobal(.build)
}

/// Frees what `swrap_prepare` built (and what the caches gathered since),
/// from CWrap's destructor at a dlclose() after which nothing can use it.
@_cdecl("swrap_release")
public func c_swrap_release() {
    forEachGlobal(.release)
    Resident.daemonSubject = nil
}

/// In the child after fork() (CWrap's fork handler, the mutexes released):
/// a compile another thread of the parent had under way never finishes
/// here, so nothing may wait for it.
/// (The shim forgets them in its own child handler, after its judges and
/// held clients: Background.freshFor is set only there.)
@_cdecl("swrap_forked_child")
public func c_swrap_forked_child() {
    if Background.freshFor == 0 { Caches.forkedChild() }
}
