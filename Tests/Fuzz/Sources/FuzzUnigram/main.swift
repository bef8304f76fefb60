import FuzzSupport

/// libFuzzer entry point: harness `FuzzUnigram` (FuzzSupport/FuzzSupport.swift, `Harness`).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    Harness.run("FuzzUnigram", UnsafeRawBufferPointer(start: start, count: count))
    return 0
}
