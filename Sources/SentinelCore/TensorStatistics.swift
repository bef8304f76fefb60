/// Summary statistics of a floating-point tensor (`sentinel inspect --stats`).
///
/// Computed in float64 over every element; NaN and ±Inf are counted and excluded from the other figures.
/// `std` is the population standard deviation (numpy's default, `ddof=0`).
public struct TensorStatistics: Sendable, Equatable {
    public var count: Int
    public var nanCount: Int
    public var infCount: Int
    /// Over finite elements; `nil` when there are none.
    public var min: Double?, max: Double?, mean: Double?, std: Double?

    /// Statistics of `bytes` holding elements of `dtype` (F16, BF16, F32, F64); `nil` for other dtypes.
    public init?(bytes: UnsafeRawBufferPointer, dtype: DType) {
        guard dtype.isFloatingPoint, let width = dtype.byteWidth else { return nil }
        let n = bytes.count / width
        var nan = 0, inf = 0, finite = 0
        var lo = Double.infinity, hi = -Double.infinity
        var mean = 0.0, m2 = 0.0
        // Welford's update per element, over blocks to keep the loop simple for the optimiser.
        func add(_ x: Double) {
            if x.isNaN {
                nan += 1
                return
            }
            if x.isInfinite {
                inf += 1
                return
            }
            finite += 1
            if x < lo { lo = x }
            if x > hi { hi = x }
            let d = x - mean
            mean += d / Double(finite)
            m2 += d * (x - mean)
        }
        guard dtype.isFloatingPoint else { return nil }
        for i in 0..<n { add(FloatCoding.double(bytes, i, dtype)) }
        count = n
        nanCount = nan
        infCount = inf
        if finite > 0 {
            self.min = lo
            self.max = hi
            self.mean = mean
            self.std = (m2 / Double(finite)).squareRoot()
        }
    }
}
