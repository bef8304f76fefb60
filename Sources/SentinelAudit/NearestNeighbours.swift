import SentinelCore
import COpenBLAS
import Dispatch

/// Exact k-nearest-neighbour search between the rows of two float32 matrices, the matcher under every
/// embedding attack of the audit.
///
/// Similarities are computed block by block with `cblas_sgemm` (a `[512, d] · [d, 2048]` block per call, one
/// call per core, OpenBLAS single-threaded inside each) and reduced to each query's top k while the block is
/// still in cache: no `[queries, references]` matrix is ever held (for MiniLM's 30,522 × 30,522 it would be
/// 3.7 GB). The scan compares 16 scores at a time with the query's current k-th best and inserts only the rare
/// winners, so it adds little to the sgemm time.
///
/// Scores: `cosine` ranks by `q·r / (|q| |r|)`; `l2` ranks by `-|q - r|²`, computed as `q·r - |r|²/2` (the
/// `|q|²` term is the same for every reference of one query). Ties keep the lower reference index.
public enum NearestNeighbours {
    /// How rows are compared.
    public enum Metric: String, Sendable, CaseIterable {
        /// Cosine similarity (rows scaled to unit length; an all-zero row stays zero).
        case cosine
        /// Euclidean distance (smaller is nearer).
        case l2
    }

    /// The top `k` references of every query.
    public struct Result: Sendable {
        /// Neighbours kept per query.
        public let k: Int
        /// `[queries, k]` reference row indices, best first.
        public var indices: [Int32]
        /// `[queries, k]` scores, best first: cosine similarity, or `q·r - |r|²/2` for `l2`.
        public var scores: [Float]

        /// Reference index of query `q`'s `rank`-th neighbour (0 = nearest).
        public func neighbour(_ q: Int, _ rank: Int = 0) -> Int { Int(indices[q * k + rank]) }

        /// Whether `reference` is among the first `within` neighbours of query `q`.
        public func contains(_ q: Int, _ reference: Int, within: Int) -> Bool {
            let base = q * k
            for r in 0..<min(within, k) where Int(indices[base + r]) == reference { return true }
            return false
        }
    }

    /// Query rows per sgemm block.
    static let queryBlock = 512
    /// Reference rows per sgemm block.
    static let referenceBlock = 2048

    /// The `k` nearest references of every query.
    /// - Parameters:
    ///   - queries: `[queryCount, dimension]` row-major float32.
    ///   - references: `[referenceCount, dimension]` row-major float32.
    ///   - k: neighbours per query (at most `referenceCount`).
    ///   - threads: cores to use (default 2).
    /// - Returns: `[queryCount, k]` indices and scores.
    public static func search(
        queries: UnsafeBufferPointer<Float>, queryCount: Int,
        references: UnsafeBufferPointer<Float>, referenceCount: Int,
        dimension d: Int, k: Int, metric: Metric, threads: Int = 2
    ) -> Result {
        search(
            queries: queries, queryCount: queryCount, references: references, referenceCount: referenceCount,
            dimension: d, k: k, metrics: [metric], threads: threads)[0]
    }

    /// The `k` nearest references of every query under each of `metrics`, from one pass of similarity blocks:
    /// cosine and L2 rank the same dot products (scaled by `1/|r|`, or shifted by `-|r|²/2`), so asking for both
    /// costs one sgemm pass and two scans.
    /// - Returns: one ``Result`` per metric, in the order given.
    public static func search(
        queries: UnsafeBufferPointer<Float>, queryCount: Int,
        references: UnsafeBufferPointer<Float>, referenceCount: Int,
        dimension d: Int, k requested: Int, metrics: [Metric], threads: Int = 2
    ) -> [Result] {
        precondition(queries.count >= queryCount * d && references.count >= referenceCount * d, "matrix smaller than its shape")
        precondition(!metrics.isEmpty)
        let k = max(1, min(requested, referenceCount))
        guard queryCount > 0, referenceCount > 0, d > 0 else {
            return metrics.map { _ in
                Result(
                    k: k, indices: [Int32](repeating: -1, count: queryCount * k),
                    scores: [Float](repeating: -.infinity, count: queryCount * k))
            }
        }
        // Per reference: 1/|r| (cosine; 0 for an all-zero row) or -|r|²/2 (L2).
        let squared = (0..<referenceCount).map { j in squaredNorm(references.baseAddress! + j * d, d) }
        let vectors: [[Float]] = metrics.map { metric in
            switch metric {
            case .cosine: squared.map { $0 > 0 && $0.isFinite ? Float(1 / $0.squareRoot()) : 0 }
            case .l2: squared.map { Float(-0.5 * $0) }
            }
        }
        let scaled = metrics.map { $0 == .cosine }
        openblas_set_num_threads(1)
        let blocks = (queryCount + queryBlock - 1) / queryBlock
        let workers = max(1, min(threads, blocks))
        let qs = UnsafeSendable(queries.baseAddress!), rs = UnsafeSendable(references.baseAddress!)
        // Each metric's vector and outputs in raw memory that the workers share (they write disjoint query rows).
        let count = queryCount * k
        let vectorPointers = vectors.map { v -> UnsafeSendable<Float> in
            let p = UnsafeMutablePointer<Float>.allocate(capacity: referenceCount)
            p.initialize(from: v, count: referenceCount)
            return UnsafeSendable(p)
        }
        let indexPointers = metrics.map { _ -> UnsafeMutableSendable<Int32> in
            let p = UnsafeMutablePointer<Int32>.allocate(capacity: count)
            p.initialize(repeating: -1, count: count)
            return UnsafeMutableSendable(p)
        }
        let scorePointers = metrics.map { _ -> UnsafeMutableSendable<Float> in
            let p = UnsafeMutablePointer<Float>.allocate(capacity: count)
            p.initialize(repeating: -.infinity, count: count)
            return UnsafeMutableSendable(p)
        }
        defer {
            vectorPointers.forEach { UnsafeMutablePointer(mutating: $0.pointer).deallocate() }
            indexPointers.forEach { $0.pointer.deallocate() }
            scorePointers.forEach { $0.pointer.deallocate() }
        }
        Parallel.forEach(workers) { w in
            let block = UnsafeMutablePointer<Float>.allocate(capacity: queryBlock * referenceBlock)
            defer { block.deallocate() }
            var b = w
            while b < blocks {
                let q0 = b * queryBlock, qn = min(queryBlock, queryCount - q0)
                var r0 = 0
                while r0 < referenceCount {
                    let rn = min(referenceBlock, referenceCount - r0)
                    cblas_sgemm(
                        CblasRowMajor, CblasNoTrans, CblasTrans, Int32(qn), Int32(rn), Int32(d), 1,
                        qs.pointer + q0 * d, Int32(d), rs.pointer + r0 * d, Int32(d), 0, block, Int32(rn))
                    for m in 0..<metrics.count {
                        for i in 0..<qn {
                            scan(
                                block + i * rn, count: rn, vector: vectorPointers[m].pointer + r0, scaled: scaled[m], offset: r0,
                                k: k, topScores: scorePointers[m].pointer + (q0 + i) * k,
                                topIndices: indexPointers[m].pointer + (q0 + i) * k)
                        }
                    }
                    r0 += rn
                }
                b += workers
            }
        }
        let indices = indexPointers.map { Array(UnsafeBufferPointer(start: $0.pointer, count: count)) }
        var scores = scorePointers.map { Array(UnsafeBufferPointer(start: $0.pointer, count: count)) }
        // Cosine scores so far are q·r/|r|: divide by |q|.
        for m in 0..<metrics.count where scaled[m] {
            for i in 0..<queryCount {
                let n = squaredNorm(queries.baseAddress! + i * d, d)
                let s = n > 0 && n.isFinite ? Float(1 / n.squareRoot()) : 0
                for r in 0..<k where scores[m][i * k + r].isFinite { scores[m][i * k + r] *= s }
            }
        }
        return (0..<metrics.count).map { Result(k: k, indices: indices[$0], scores: scores[$0]) }
    }

    /// ``search(queries:queryCount:references:referenceCount:dimension:k:metric:threads:)`` on two `[rows, d]` matrices.
    public static func search(
        queries: [Float], references: [Float], dimension d: Int, k: Int,
        metric: Metric, threads: Int = 2
    ) -> Result {
        queries.withUnsafeBufferPointer { q in
            references.withUnsafeBufferPointer { r in
                search(
                    queries: q, queryCount: q.count / d, references: r, referenceCount: r.count / d,
                    dimension: d, k: k, metric: metric, threads: threads)
            }
        }
    }

    /// ``search(queries:queryCount:references:referenceCount:dimension:k:metrics:threads:)`` on two `[rows, d]` matrices.
    public static func search(
        queries: [Float], references: [Float], dimension d: Int, k: Int,
        metrics: [Metric], threads: Int = 2
    ) -> [Result] {
        queries.withUnsafeBufferPointer { q in
            references.withUnsafeBufferPointer { r in
                search(
                    queries: q, queryCount: q.count / d, references: r, referenceCount: r.count / d,
                    dimension: d, k: k, metrics: metrics, threads: threads)
            }
        }
    }

    /// Merges one row of block scores (`dot · vector[j]` when `scaled`, else `dot + vector[j]`) into a query's sorted
    /// top-k list.
    @inline(__always)
    static func scan(
        _ row: UnsafePointer<Float>, count: Int, vector: UnsafePointer<Float>, scaled: Bool, offset: Int, k: Int,
        topScores: UnsafeMutablePointer<Float>, topIndices: UnsafeMutablePointer<Int32>
    ) {
        var threshold = topScores[k - 1]
        var j = 0
        @inline(__always)
        func consider(_ s: Float, _ index: Int) {
            // NaN never enters (comparisons with NaN are false).
            guard s > threshold else { return }
            var p = k - 1
            while p > 0 && topScores[p - 1] < s {
                topScores[p] = topScores[p - 1]
                topIndices[p] = topIndices[p - 1]
                p -= 1
            }
            topScores[p] = s
            topIndices[p] = Int32(index)
            threshold = topScores[k - 1]
        }
        let raw = UnsafeRawPointer(row), vec = UnsafeRawPointer(vector)
        while j + 16 <= count {
            let c = raw.loadUnaligned(fromByteOffset: 4 * j, as: SIMD16<Float>.self)
            let x = vec.loadUnaligned(fromByteOffset: 4 * j, as: SIMD16<Float>.self)
            let v = scaled ? c * x : c + x
            if any(v .> SIMD16(repeating: threshold)) {
                for l in 0..<16 { consider(v[l], offset + j + l) }
            }
            j += 16
        }
        while j < count {
            consider(scaled ? row[j] * vector[j] : row[j] + vector[j], offset + j)
            j += 1
        }
    }

    /// Scales every row of `x` (`[rows, d]`) to unit Euclidean length; all-zero rows stay zero.
    static func normalizeRows(_ x: inout [Float], rows: Int, dimension d: Int) {
        x.withUnsafeMutableBufferPointer { p in
            let base = p.baseAddress!
            for i in 0..<rows {
                let n = squaredNorm(base + i * d, d).squareRoot()
                guard n > 0, n.isFinite else { continue }
                let s = Float(1 / n)
                for l in 0..<d { base[i * d + l] *= s }
            }
        }
    }

    /// `|x|²` of `n` floats, accumulated in float64.
    @inline(__always)
    static func squaredNorm(_ x: UnsafePointer<Float>, _ n: Int) -> Double {
        var s = 0.0
        for i in 0..<n { s += Double(x[i]) * Double(x[i]) }
        return s
    }
}

/// A pointer handed to `concurrentPerform` workers that write disjoint parts of one buffer.
struct UnsafeMutableSendable<T>: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<T>
    init(_ p: UnsafeMutablePointer<T>) { pointer = p }
}

/// A read-only pointer shared by `concurrentPerform` workers.
struct UnsafeSendable<T>: @unchecked Sendable {
    let pointer: UnsafePointer<T>
    init(_ p: UnsafePointer<T>) { pointer = p }
}
