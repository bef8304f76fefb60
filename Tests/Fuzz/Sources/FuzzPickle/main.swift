import FuzzSupport

/// libFuzzer entry point: harness `FuzzPickle` (FuzzSupport/FuzzSupport.swift, `Harness`).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    Harness.run("FuzzPickle", UnsafeRawBufferPointer(start: start, count: count))
    return 0
}
