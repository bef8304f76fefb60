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
    public init(source: UnsafeRawBufferPointer, dtype: DType, rows: Int, hidden: Int,
                passes: [SeedScheme.GlidePass], mapping: [Int]) {
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
        let base = source.baseAddress!
        switch sourceDType {
        case .F32:
            let p = (base + r * hidden * 4).assumingMemoryBound(to: Float.self)
            for i in 0..<hidden { out[i] = Double(p[i]) }
        case .F64:
            let p = (base + r * hidden * 8).assumingMemoryBound(to: Double.self)
            out.update(from: p, count: hidden)
        case .F16:
            let p = (base + r * hidden * 2).assumingMemoryBound(to: UInt16.self)
            for i in 0..<hidden { out[i] = Double(Float(Float16(bitPattern: UInt16(littleEndian: p[i])))) }
        case .BF16:
            let p = (base + r * hidden * 2).assumingMemoryBound(to: UInt16.self)
            for i in 0..<hidden { out[i] = Double(Float(bitPattern: UInt32(UInt16(littleEndian: p[i])) << 16)) }
        default: fatalError("unsupported dtype \(sourceDType)")
        }
    }

    /// Writes output rows `range` (adapted ids) into `out` as `dtype` (F16, BF16, F32 or F64; float64
    /// values rounded to nearest even). Uses both cores for large ranges.
    public func produce(rows range: Range<Int>, as dtype: DType, into out: UnsafeMutableRawBufferPointer) {
        let width = dtype.byteWidth!
        precondition(out.count >= range.count * hidden * width)
        let workers = range.count >= 256 ? 2 : 1
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            let lo = range.lowerBound + range.count * w / workers
            let hi = range.lowerBound + range.count * (w + 1) / workers
            let row = UnsafeMutablePointer<Double>.allocate(capacity: hidden)
            let lines = UnsafeMutablePointer<Double>.allocate(capacity: max(1, passes.count) * hidden)
            defer { row.deallocate(); lines.deallocate() }
            for (k, pass) in passes.enumerated() { (lines + k * hidden).update(repeating: pass.line, count: hidden) }
            for j in lo..<hi {
                load(row: sourceRow[j], into: row)
                SeedScheme.glide(row: row, hidden: hidden, passes: passes, lineDots: lineDots, lines: lines)
                let dst = out.baseAddress! + (j - range.lowerBound) * hidden * width
                storeRow(row, count: hidden, as: dtype, to: dst)
            }
        }
    }
}

/// Writes `count` float64 values as `dtype` (F64, F32, F16 or BF16; rounded to nearest even), little-endian.
@inline(__always)
func storeRow(_ row: UnsafePointer<Double>, count: Int, as dtype: DType, to dst: UnsafeMutableRawPointer) {
    switch dtype {
    case .F64:
        dst.assumingMemoryBound(to: Double.self).update(from: row, count: count)
    case .F32:
        let d = dst.assumingMemoryBound(to: Float.self)
        for i in 0..<count { d[i] = Float(row[i]) }
    case .F16:
        let d = dst.assumingMemoryBound(to: UInt16.self)
        for i in 0..<count { d[i] = Float16(row[i]).bitPattern.littleEndian }
    case .BF16:
        let d = dst.assumingMemoryBound(to: UInt16.self)
        for i in 0..<count { d[i] = bfloat16Bits(Float(row[i])).littleEndian }
    default: fatalError("unsupported dtype \(dtype)")
    }
}

/// Rounds a float32 to bfloat16 (round to nearest even; NaN stays NaN).
@inline(__always)
func bfloat16Bits(_ x: Float) -> UInt16 {
    let bits = x.bitPattern
    if x.isNaN { return UInt16(bits >> 16) | 0x40 }
    let rounding = 0x7fff + ((bits >> 16) & 1)
    return UInt16((bits &+ rounding) >> 16)
}
