import COpenBLAS

/// Orthogonal Procrustes: the rotation (or reflection) `W` `[d, d]` that minimises `|X W - Y|_F` over
/// orthogonal matrices, for paired rows `X`, `Y` `[pairs, d]` (Schönemann 1966).
///
/// `W` is the orthogonal polar factor of `M = Xᵀ Y` (`U Vᵀ` for `M = U Σ Vᵀ`), computed without an SVD by the
/// Newton–Schulz iteration `Y ← Y (3I - YᵀY) / 2` from `Y₀ = M / |M|_F` in float64 with `cblas_dgemm`; it
/// converges quadratically once the singular values are near 1 and stops when `|YᵀY - I|_F < 1e-9` (at most
/// 200 steps). With fewer than `d` independent pairs `M` is rank-deficient and `W` is the partial isometry on
/// the span of the pairs: the solution is not unique there.
public enum Procrustes {
    /// `W` with `X W ≈ Y`.
    /// - Parameters:
    ///   - x: `[pairs, d]` source rows, float32 row-major.
    ///   - y: `[pairs, d]` target rows.
    /// - Returns: `[d, d]` float32 row-major.
    public static func orthogonalMap(x: [Float], y: [Float], pairs: Int, dimension d: Int) -> [Float] {
        precondition(x.count >= pairs * d && y.count >= pairs * d)
        var identity = [Float](repeating: 0, count: d * d)
        for i in 0..<d { identity[i * d + i] = 1 }
        guard pairs > 0 else { return identity }
        let xd = x.prefix(pairs * d).map(Double.init), yd = y.prefix(pairs * d).map(Double.init)
        var m = [Double](repeating: 0, count: d * d)
        cblas_dgemm(
            CblasRowMajor, CblasTrans, CblasNoTrans, Int32(d), Int32(d), Int32(pairs), 1,
            xd, Int32(d), yd, Int32(d), 0, &m, Int32(d))
        let norm = m.reduce(0) { $0 + $1 * $1 }.squareRoot()
        guard norm > 0, norm.isFinite else { return identity }
        var p = m.map { $0 / norm }
        var g = [Double](repeating: 0, count: d * d), next = [Double](repeating: 0, count: d * d)
        for _ in 0..<200 {
            cblas_dgemm(
                CblasRowMajor, CblasTrans, CblasNoTrans, Int32(d), Int32(d), Int32(d), 1,
                p, Int32(d), p, Int32(d), 0, &g, Int32(d))
            var off = 0.0
            for i in 0..<d {
                for j in 0..<d {
                    let e = g[i * d + j] - (i == j ? 1 : 0)
                    off += e * e
                }
            }
            if off.squareRoot() < 1e-9 { break }
            // next = p (3I - g) / 2
            for i in 0..<(d * d) { g[i] = -0.5 * g[i] }
            for i in 0..<d { g[i * d + i] += 1.5 }
            cblas_dgemm(
                CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(d), Int32(d), Int32(d), 1,
                p, Int32(d), g, Int32(d), 0, &next, Int32(d))
            swap(&p, &next)
        }
        return p.map(Float.init)
    }
}

/// Row-major float32 matrix operations the attacks share.
enum RowMatrix {
    /// Each row minus its own mean (`v - mean(v)·1`): what BERT's embedding LayerNorm sees, and what cancels
    /// the seed scheme's glide transform. Means are accumulated in float64.
    static func rowCentred(_ x: [Float], rows: Int, dimension d: Int) -> [Float] {
        var out = x
        out.withUnsafeMutableBufferPointer { p in
            for i in 0..<rows {
                var s = 0.0
                for l in 0..<d { s += Double(p[i * d + l]) }
                let mean = s / Double(d)
                for l in 0..<d { p[i * d + l] = Float(Double(p[i * d + l]) - mean) }
            }
        }
        return out
    }

    /// Each column minus its mean over the rows: removes any common translation of the rows.
    static func columnCentred(_ x: [Float], rows: Int, dimension d: Int) -> [Float] {
        var means = [Double](repeating: 0, count: d)
        x.withUnsafeBufferPointer { p in
            for i in 0..<rows { for l in 0..<d { means[l] += Double(p[i * d + l]) } }
        }
        for l in 0..<d { means[l] /= Double(max(rows, 1)) }
        var out = x
        out.withUnsafeMutableBufferPointer { p in
            for i in 0..<rows { for l in 0..<d { p[i * d + l] = Float(Double(p[i * d + l]) - means[l]) } }
        }
        return out
    }

    /// The rows `indices` of `x`, in that order.
    static func gather(_ x: [Float], rows indices: [Int], dimension d: Int) -> [Float] {
        var out = [Float](repeating: 0, count: indices.count * d)
        x.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for (k, i) in indices.enumerated() {
                    (dst.baseAddress! + k * d).update(from: src.baseAddress! + i * d, count: d)
                }
            }
        }
        return out
    }

    /// `x · w` for `x` `[rows, d]` and `w` `[d, d]` (`cblas_sgemm`).
    static func multiply(_ x: [Float], rows: Int, dimension d: Int, by w: [Float]) -> [Float] {
        var out = [Float](repeating: 0, count: rows * d)
        guard rows > 0 else { return out }
        openblas_set_num_threads(Int32(2))
        cblas_sgemm(
            CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(rows), Int32(d), Int32(d), 1,
            x, Int32(d), w, Int32(d), 0, &out, Int32(d))
        openblas_set_num_threads(1)
        return out
    }

    /// Mutual nearest neighbours by cosine between the rows of `x` and `y` (`[rows, d]` each): pairs `(i, j)` where `j`
    /// is `i`'s nearest row of `y` and `i` is `j`'s nearest row of `x`, and the mean of every `x` row's best cosine.
    /// Holds the `[rows, rows]` similarity matrix: for the alignment subsets (a few thousand rows), not whole vocabularies.
    static func mutualNearest(_ x: [Float], _ y: [Float], rows n: Int, dimension d: Int) -> (pairs: [(Int, Int)], score: Double) {
        guard n > 0 else { return ([], 0) }
        var xs = x, ys = y
        NearestNeighbours.normalizeRows(&xs, rows: n, dimension: d)
        NearestNeighbours.normalizeRows(&ys, rows: n, dimension: d)
        var s = [Float](repeating: 0, count: n * n)
        openblas_set_num_threads(Int32(2))
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(n), Int32(d), 1, xs, Int32(d), ys, Int32(d), 0, &s, Int32(n))
        openblas_set_num_threads(1)
        var rowBest = [Int](repeating: 0, count: n), colBest = [Int](repeating: 0, count: n)
        var rowScore = [Float](repeating: -.infinity, count: n), colScore = [Float](repeating: -.infinity, count: n)
        s.withUnsafeBufferPointer { p in
            for i in 0..<n {
                for j in 0..<n {
                    let v = p[i * n + j]
                    if v > rowScore[i] {
                        rowScore[i] = v
                        rowBest[i] = j
                    }
                    if v > colScore[j] {
                        colScore[j] = v
                        colBest[j] = i
                    }
                }
            }
        }
        var pairs: [(Int, Int)] = []
        for i in 0..<n where colBest[rowBest[i]] == i { pairs.append((i, rowBest[i])) }
        let score = rowScore.reduce(0.0) { $0 + Double($1.isFinite ? $1 : 0) } / Double(n)
        return (pairs, score)
    }

    /// Euclidean length of every row.
    static func rowNorms(_ x: [Float], rows: Int, dimension d: Int) -> [Double] {
        x.withUnsafeBufferPointer { p in
            (0..<rows).map { NearestNeighbours.squaredNorm(p.baseAddress! + $0 * d, d).squareRoot() }
        }
    }
}
