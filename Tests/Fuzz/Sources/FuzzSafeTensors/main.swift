import FuzzSupport

/// libFuzzer entry point: harness `FuzzSafeTensors` (FuzzSupport/FuzzSupport.swift, `Harness`).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    Harness.run("FuzzSafeTensors", UnsafeRawBufferPointer(start: start, count: count))
    return 0
}
