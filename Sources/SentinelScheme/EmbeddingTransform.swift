import Dispatch
import SentinelCore

/// Steps 5 and 6 of the seed scheme on the token-embedding matrix `E [vocab, hidden]`: the glide passes in
/// float64, then the row permutation, produced in output-row order and in chunks so that the adapted
/// matrix is streamed to disk rather than held in memory.
public struct EmbeddingTransform: @unchecked Sendable {
    /// Input element types the transform reads.
    public static let supportedDTypes: Set<DType> = [.F16, .BF16, .F32, .F64]

    let source: UnsafeRawBufferPointer
    let sourceDType: DType
    /// Number of rows (vocabulary size) and columns (hidden size).
    public let rows: Int, hidden: Int
    let passes: [SeedScheme.GlidePass]
    let lineDots: [Double]
    /// `sourceRow[j]`: the input row that becomes output row `j` (inverse of the id mapping).
    let sourceRow: [Int]

    /// - Parameters:
    ///   - source: the `[rows, hidden]` matrix bytes, row-major little-endian, of `dtype`.
    ///   - mapping: `mapping[old id] = new id`; output row `mapping[i]` is transformed row `i`.
    public init(
        source: UnsafeRawBufferPointer, dtype: DType, rows: Int, hidden: Int,
        passes: [SeedScheme.GlidePass], mapping: [Int]
    ) {
        precondition(Self.supportedDTypes.contains(dtype) && mapping.count == rows)
        precondition(source.count == rows * hidden * dtype.byteWidth!)
        self.source = source
        self.sourceDType = dtype
        self.rows = rows
        self.hidden = hidden
        self.passes = passes
        self.lineDots = SeedScheme.lineDots(passes, hidden: hidden)
        var inverse = [Int](repeating: 0, count: rows)
        for (old, new) in mapping.enumerated() { inverse[new] = old }
        self.sourceRow = inverse
    }

    /// Loads input row `r` as float64 into `out`.
    @inline(__always)
    func load(row r: Int, into out: UnsafeMutablePointer<Double>) {
        let width = sourceDType.byteWidth!
        FloatCoding.decode(
            UnsafeRawBufferPointer(rebasing: source[(r * hidden * width)..<((r + 1) * hidden * width)]),
            sourceDType, count: hidden, into: out)
    }

    /// Writes output rows `range` (adapted ids) into `out` as `dtype` (F16, BF16, F32 or F64; float64
    /// values rounded to nearest even). Uses both cores for large ranges.
    public func produce(rows range: Range<Int>, as dtype: DType, into out: UnsafeMutableRawBufferPointer) {
        let width = dtype.byteWidth!
        precondition(out.count >= range.count * hidden * width)
        let workers = range.count >= 256 ? 2 : 1
        Parallel.forEach(workers) { w in
            let lo = range.lowerBound + range.count * w / workers
            let hi = range.lowerBound + range.count * (w + 1) / workers
            let row = UnsafeMutablePointer<Double>.allocate(capacity: hidden)
            let lines = UnsafeMutablePointer<Double>.allocate(capacity: max(1, passes.count) * hidden)
            defer {
                row.deallocate()
                lines.deallocate()
            }
            for (k, pass) in passes.enumerated() { (lines + k * hidden).update(repeating: pass.line, count: hidden) }
            for j in lo..<hi {
                load(row: sourceRow[j], into: row)
                SeedScheme.glide(row: row, hidden: hidden, passes: passes, lineDots: lineDots, lines: lines)
                let dst = out.baseAddress! + (j - range.lowerBound) * hidden * width
                FloatCoding.encode(row, count: hidden, as: dtype, into: dst)
            }
        }
    }
}
