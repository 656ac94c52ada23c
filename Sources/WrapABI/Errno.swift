// Errno.swift - errno for Swift code that has no Glibc overlay.
//
// The C library's errno is a per-thread macro; CSystem passes it through.

import CSystem

/// The calling thread's errno.
public var errno: Int32 {
    @inline(__always) get { csystem_errno() }
    @inline(__always) set { csystem_set_errno(newValue) }
}
