import FuzzSupport

/// libFuzzer entry point: harness `FuzzWordPiece` (FuzzSupport/FuzzSupport.swift, `Harness`).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    Harness.run("FuzzWordPiece", UnsafeRawBufferPointer(start: start, count: count))
    return 0
}
