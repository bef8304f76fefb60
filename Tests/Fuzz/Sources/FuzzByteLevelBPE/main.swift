import FuzzSupport

/// libFuzzer entry point: harness `FuzzByteLevelBPE` (FuzzSupport/FuzzSupport.swift, `Harness`).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    Harness.run("FuzzByteLevelBPE", UnsafeRawBufferPointer(start: start, count: count))
    return 0
}
