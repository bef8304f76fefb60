import FuzzSupport

/// libFuzzer entry point: harness `FuzzTokenizerJSON` (FuzzSupport/FuzzSupport.swift, `Harness`).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    Harness.run("FuzzTokenizerJSON", UnsafeRawBufferPointer(start: start, count: count))
    return 0
}
