import Dispatch

/// Work split over the cores: the one place that calls `DispatchQueue.concurrentPerform`.
public enum Parallel {
    /// Runs `body(0)`, …, `body(iterations - 1)` concurrently and returns when all are done.
    ///
    /// The workers of Sentinel's kernels share raw buffers and write disjoint parts of them; Swift 6 cannot see
    /// that, so `body` is not required to be `@Sendable`: the caller guarantees that concurrent iterations never
    /// write the same memory (and read only memory no iteration writes).
    public static func forEach(_ iterations: Int, _ body: (Int) -> Void) {
        withoutActuallyEscaping(body) { body in
            let shared = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: iterations) { shared.value($0) }
        }
    }
}

/// A value handed to concurrent workers whose safety the code around it guarantees (see ``Parallel``).
public struct UncheckedSendable<T>: @unchecked Sendable {
    public let value: T
    public init(_ value: T) { self.value = value }
}
