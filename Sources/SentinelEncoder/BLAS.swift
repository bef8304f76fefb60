import COpenBLAS
import SentinelCore
import Dispatch
#if canImport(Glibc)
    import Glibc
#endif

/// The OpenBLAS calls the encoder makes, wrapped once.
///
/// Threads: the encoder splits its work over ``threads`` cores itself (DispatchQueue.concurrentPerform),
/// one matrix product per core, so OpenBLAS runs single-threaded inside each (`openblas_set_num_threads(1)`):
/// no second thread pool spins against the first, and each core applies the product's epilogue (bias,
/// activation, residual + LayerNorm) to its rows while they are still in its cache. The default is
/// `min(2, openblas_get_num_procs())`; ``measureSgemmPeak(n:repeats:)`` lets OpenBLAS use ``threads``.
public enum BLAS {
    /// Cores the encoder uses. Set once at start-up (``configure(threads:)``) before any pass runs, hence
    /// `nonisolated(unsafe)`.
    public nonisolated(unsafe) private(set) static var threads: Int = {
        openblas_set_num_threads(1)
        return max(1, min(2, Int(openblas_get_num_procs())))
    }()

    /// Sets the number of cores the encoder uses (OpenBLAS itself stays single-threaded per call).
    public static func configure(threads n: Int) {
        _ = threads
        threads = max(1, n)
    }

    /// OpenBLAS's own thread count (`openblas_get_num_threads`): 1 while the encoder runs.
    public static var openBLASThreads: Int {
        _ = threads
        return Int(openblas_get_num_threads())
    }

    /// The CPU kernel family OpenBLAS chose (`openblas_get_corename`), e.g. `Cooperlake`.
    public static var coreName: String { openblas_get_corename().map { String(cString: $0) } ?? "unknown" }

    /// `C[m, n] = alpha · A[m, k] · op(B) + beta · C`, row-major, float32 (`cblas_sgemm`).
    ///
    /// - Parameters:
    ///   - a: `[m, k]` with row stride `lda`.
    ///   - b: `[k, n]` with row stride `ldb`, or with `transposeB` `[n, k]` (a PyTorch `[out, in]` weight).
    ///   - c: `[m, n]` with row stride `ldc`.
    @inline(__always)
    static func sgemm(
        m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int, transposeB: Bool,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        _ = threads
        cblas_sgemm(
            CblasRowMajor, CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// How ``measureSgemmPeak(n:repeats:mode:)`` spreads the product over the cores.
    public enum PeakMode: Sendable {
        /// One `cblas_sgemm` call with OpenBLAS on ``threads`` threads (how `../shared/perf/BASELINE.md` measured it).
        case openBLASThreads
        /// ``threads`` single-threaded `cblas_sgemm` calls on row blocks of `A`, one per core, the way the
        /// encoder runs its products (no OpenBLAS thread pool left spinning afterwards).
        case rowBlocks
    }

    /// Measures float32 matrix-product throughput: the best of `repeats + 1` row-major `n × n × n`
    /// products (2n³ floating-point operations each), in GFLOP/s. The machine's practical float32
    /// ceiling, used as the reference for the encoder's efficiency. The matrices are allocated once
    /// per size and kept.
    public static func measureSgemmPeak(n: Int = 2048, repeats: Int = 5, mode: PeakMode = .openBLASThreads) -> Double {
        let count = n * n
        if peakMatrices?.n != n {
            let a = UnsafeMutablePointer<Float>.allocate(capacity: 3 * count)
            for i in 0..<(2 * count) { a[i] = Float(i % 7) * 0.01 - 0.03 }
            peakMatrices?.storage.deallocate()
            peakMatrices = (n, a)
        }
        guard let storage = peakMatrices?.storage else { return 0 }
        let a = storage, b = storage + count, c = storage + 2 * count
        let workers = threads
        var best = Double.infinity
        for _ in 0..<max(1, repeats + 1) {
            let t0: Double
            switch mode {
            case .openBLASThreads:
                openblas_set_num_threads(Int32(workers))
                t0 = monotonicSeconds()
                sgemm(m: n, n: n, k: n, a: a, lda: n, b: b, ldb: n, transposeB: false, c: c, ldc: n)
                best = min(best, monotonicSeconds() - t0)
                openblas_set_num_threads(1)
            case .rowBlocks:
                t0 = monotonicSeconds()
                Parallel.forEach(workers) { w in
                    let lo = n * w / workers, hi = n * (w + 1) / workers
                    sgemm(m: hi - lo, n: n, k: n, a: a + lo * n, lda: n, b: b, ldb: n, transposeB: false, c: c + lo * n, ldc: n)
                }
                best = min(best, monotonicSeconds() - t0)
            }
        }
        return 2 * Double(n) * Double(n) * Double(n) / best / 1e9
    }

    nonisolated(unsafe) private static var peakMatrices: (n: Int, storage: UnsafeMutablePointer<Float>)?
}
