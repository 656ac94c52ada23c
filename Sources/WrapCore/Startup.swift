// Startup.swift - the engine's globals, built before anyone asks for them.
//
// Swift initialises a global on first use, behind a once-flag; in Embedded
// Swift a second thread that finds the flag "in progress" spins until it is
// done. In a host process that forks and then starts threads, a flag caught
// half-way by the fork would spin for ever, and a first use on a hot path is
// lazy work in someone else's event loop. So every global of the engine is
// built here, from the libraries' load-time constructors (CWrap, CPreload),
// before the host can call in; a test checks that no once-flag is left
// unset after loading (Tests/Integration/test_runtime.py).

public enum Engine {
    /// Builds every global of the engine. Idempotent; cheap (a few small arrays).
    public static func prepare() {
        keep(Lit.all); keep(Lit.known); keep(Lit.local); keep(Lit.except)
        keep(Lit.unknown); keep(Lit.paranoid); keep(Lit.mappedPrefix)
        keep(Options.table.count); keep(Options.levels.count); keep(Options.facilities.count)
        // Dictionaries and sets hash with a per-process random seed, made on
        // first use: make it now.
        var hasher = Hasher()
        hasher.combine(0)
        keep(hasher.finalize())
    }

    /// Gives back a global object built at load, at dlclose() only (the
    /// C destructor decides when that is safe, cwrap_may_release): the
    /// global's own reference is dropped, and the object with all it holds
    /// is freed. The global then names freed memory; nothing reads it
    /// again, as the library is about to be unmapped.
    public static func release<T: AnyObject>(_ object: T) {
        Unmanaged.passUnretained(object).release()
    }

    /// A pass over a library's list of global objects: build each (at
    /// load), or give each back (at dlclose). One list per library names
    /// every global once, so that none can be built and never freed.
    public enum Pass {
        case build, release

        public func visit<T: AnyObject>(_ global: T) {
            switch self {
            case .build: Engine.keep(global)
            case .release: Engine.release(global)
            }
        }
    }

    /// Uses a value where the optimizer cannot see: a global read only to
    /// build it must not be optimized away.
    @inline(never) @_optimize(none)
    public static func keep<T>(_ value: T) {}
}
