// Library.swift - the libwrap.so.0 product.
//
// This target only names the product and carries its linker settings
// (soname, export list, static Swift runtime). Everything libwrap does is in
// WrapABI (the C interface) over WrapCore (the engine), shared with the
// preload shim so that both run one engine.

@_exported import WrapABI
