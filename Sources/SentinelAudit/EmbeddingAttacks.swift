import SentinelCore

/// The attacks that need only the two embedding matrices.
enum EmbeddingAttacks {
    /// Nearest neighbour of every adapted row among all original rows, as stored (`centred: false`) or after
    /// subtracting each row's mean from both matrices (`centred: true`, which cancels the seed scheme's glide
    /// transform exactly: SCHEME.md "What the audit must say about seed"), under each of `metrics` (one similarity
    /// pass serves them all).
    static func nearest(_ input: AuditInput, centred: Bool, metrics: [NearestNeighbours.Metric], threads: Int) -> [AttackResult] {
        let d = input.dimension
        var q = input.adapted.values, r = input.original.values
        if centred {
            q = RowMatrix.rowCentred(q, rows: input.adaptedRows, dimension: d)
            r = RowMatrix.rowCentred(r, rows: input.originalRows, dimension: d)
        }
        let results = NearestNeighbours.search(queries: q, references: r, dimension: d, k: 10, metrics: metrics, threads: threads)
        return zip(metrics, results).map { metric, result in
            let (top1, top10) = input.recovery(of: result)
            return AttackResult(
                name: nearestName(centred: centred, metric: metric), recoveredTop1: top1, recoveredTop10: top10,
                chanceTop1: chance(input, 1), seconds: 0,
                detail: "\(centred ? "row-mean-centred" : "raw") rows, \(metric == .cosine ? "cosine" : "L2") nearest neighbour "
                    + "among \(input.originalRows) original rows: \(percent(top1)) of \(input.hiddenCount) hidden ids recovered "
                    + "(\(percent(top10)) in the top 10)")
        }
    }

    static func nearestName(centred: Bool, metric: NearestNeighbours.Metric) -> AttackName {
        switch (centred, metric) {
        case (false, .cosine): .nearestRawCosine
        case (false, .l2): .nearestRawL2
        case (true, .cosine): .nearestCentredCosine
        case (true, .l2): .nearestCentredL2
        }
    }

    /// What guessing `k` original ids at random recovers.
    static func chance(_ input: AuditInput, _ k: Int) -> Double {
        min(1, Double(k) / Double(max(1, input.originalRows - input.anchors.count)))
    }

    /// Rows in the norm-ranked subset the alignment is learned on.
    static let alignmentRows = 4000
    /// Length of a row's distance profile (its largest similarities to the other subset rows, sorted).
    static let profileLength = 64
    /// Alternations of nearest neighbour and Procrustes per starting map.
    static let alignmentIterations = 8
    /// Mean cosine of the matched subset rows above which a starting map counts as aligned (no other start is tried).
    static let alignedCosine = 0.99

    /// An attack blind to isometries (rotations, reflections, translations, a common scale):
    /// 1. centre the columns of both matrices (removes any translation);
    /// 2. take the `alignmentRows` longest rows of each (lengths survive any isometry, so the two sets coincide);
    /// 3. starting maps: the identity, and, when the identity does not align the subsets (mean matched cosine below
    ///    ``alignedCosine``), one from a distance-profile matching (each subset row described by its sorted largest
    ///    cosines to the other subset rows, a description no orthogonal map changes; mutual nearest profiles give
    ///    pairs, Procrustes turns them into a map), as the unsupervised initialisation of bilingual lexicon induction
    ///    does (Artetxe et al. 2018, VecMap);
    /// 4. from each, alternate mutual-nearest-neighbour matching and orthogonal Procrustes (iterative closest
    ///    point / Wasserstein–Procrustes, Grave et al. 2019), the special-token rows always among the pairs, until the
    ///    pairs stop changing (at most ``alignmentIterations`` rounds); keep the map whose matched rows are most
    ///    similar (the attacker can measure that without the key);
    /// 5. map every adapted row and match it against all original rows (cosine, top 10).
    static func procrustes(_ input: AuditInput, threads: Int) -> AttackResult {
        let d = input.dimension
        let a = RowMatrix.columnCentred(input.adapted.values, rows: input.adaptedRows, dimension: d)
        let o = RowMatrix.columnCentred(input.original.values, rows: input.originalRows, dimension: d)
        let subset = min(alignmentRows, input.adaptedRows, input.originalRows)
        func longest(_ x: [Float], rows: Int) -> [Int] {
            let norms = RowMatrix.rowNorms(x, rows: rows, dimension: d)
            return Array((0..<rows).sorted { norms[$0] != norms[$1] ? norms[$0] > norms[$1] : $0 < $1 }.prefix(subset))
        }
        let sa = longest(a, rows: input.adaptedRows), so = longest(o, rows: input.originalRows)
        let xa = RowMatrix.gather(a, rows: sa, dimension: d), xo = RowMatrix.gather(o, rows: so, dimension: d)
        let anchorA = RowMatrix.gather(a, rows: input.anchors.map(\.adapted), dimension: d)
        let anchorO = RowMatrix.gather(o, rows: input.anchors.map(\.original), dimension: d)

        /// Procrustes on subset pairs plus the anchors.
        func fit(_ pairs: [(Int, Int)]) -> [Float] {
            let x = RowMatrix.gather(xa, rows: pairs.map(\.0), dimension: d) + anchorA
            let y = RowMatrix.gather(xo, rows: pairs.map(\.1), dimension: d) + anchorO
            return Procrustes.orthogonalMap(x: x, y: y, pairs: pairs.count + input.anchors.count, dimension: d)
        }
        /// Mutual nearest neighbours (cosine) between the subset rows of `x` (`[subset, dx]`) and `y`, and the mean best score.
        func mutual(_ x: [Float], _ y: [Float], dimension dx: Int) -> (pairs: [(Int, Int)], score: Double) {
            RowMatrix.mutualNearest(x, y, rows: subset, dimension: dx)
        }

        // Starting maps: identity, and the distance-profile matching's.
        var identity = [Float](repeating: 0, count: d * d)
        for i in 0..<d { identity[i * d + i] = 1 }
        func profileStart() -> [Float]? {
            let k = min(profileLength, subset - 1)
            guard k >= 2 else { return nil }
            func profiles(_ x: [Float]) -> [Float] {
                let g = NearestNeighbours.search(queries: x, references: x, dimension: d, k: k + 1, metric: .cosine, threads: threads)
                var p = [Float](repeating: 0, count: subset * k)
                for i in 0..<subset {
                    // Drop the row itself (its own best match), keep the next k similarities, centred.
                    var row: [Float] = []
                    var skipped = false
                    for rank in 0...k {
                        if !skipped && g.neighbour(i, rank) == i {
                            skipped = true
                            continue
                        }
                        if row.count < k { row.append(g.scores[i * (k + 1) + rank]) }
                    }
                    let mean = row.reduce(0, +) / Float(row.count)
                    for (j, v) in row.enumerated() { p[i * k + j] = v - mean }
                }
                return p
            }
            let m = mutual(profiles(xa), profiles(xo), dimension: k)
            return m.pairs.isEmpty ? nil : fit(m.pairs)
        }

        var best: (name: String, map: [Float], score: Double, pairs: Int)?
        func align(_ name: String, from start: [Float]) {
            var map = start
            var last: (pairs: [(Int, Int)], score: Double) = ([], -.infinity)
            for _ in 0..<alignmentIterations {
                let m = mutual(RowMatrix.multiply(xa, rows: subset, dimension: d, by: map), xo, dimension: d)
                let same = m.pairs.count == last.pairs.count && zip(m.pairs, last.pairs).allSatisfy { $0 == $1 }
                last = m
                if same || m.pairs.isEmpty { break }
                map = fit(m.pairs)
            }
            if best == nil || last.score > best!.score { best = (name, map, last.score, last.pairs.count) }
        }
        // The identity first (a transform that leaves the space alone, up to a translation, is aligned at once); the
        // distance profiles only when it does not align the subsets.
        align("identity", from: identity)
        if best!.score < alignedCosine, let profileStart = profileStart() { align("distance_profile", from: profileStart) }
        let chosen = best!
        let mapped = RowMatrix.multiply(a, rows: input.adaptedRows, dimension: d, by: chosen.map)
        let result = NearestNeighbours.search(queries: mapped, references: o, dimension: d, k: 10, metric: .cosine, threads: threads)
        let (top1, top10) = input.recovery(of: result)
        return AttackResult(
            name: .procrustes, recoveredTop1: top1, recoveredTop10: top10, chanceTop1: chance(input, 1), seconds: 0,
            detail: "orthogonal map learned on the \(subset) longest rows (start: \(chosen.name), \(chosen.pairs) mutual pairs, "
                + "mean cosine \(fixed3(chosen.score))), then cosine nearest neighbour: \(percent(top1)) recovered (\(percent(top10)) in the top 10)",
            values: [
                ("start", .string(chosen.name)), ("alignment_rows", .int(Int64(subset))),
                ("mutual_pairs", .int(Int64(chosen.pairs))), ("alignment_mean_cosine", .double(chosen.score, text: nil)),
            ])
    }

    /// Cosine above which a row left at its id counts as in place (after row-mean-centring).
    static let fixedPointCosine: Float = 0.9999

    /// Rows the scheme left alone: adapted rows byte-identical (as float32) to some original row anywhere (then
    /// that original id is the guess), and ids whose adapted row, row-mean-centred, is the original row at the same
    /// id (cosine ≥ ``fixedPointCosine``): fixed points of the permutation under a transform LayerNorm cancels.
    static func fixedPoints(_ input: AuditInput) -> AttackResult {
        let d = input.dimension
        // Exact rows anywhere: hash each original row's bit patterns.
        func rowHash(_ p: UnsafePointer<Float>) -> UInt64 {
            var h: UInt64 = 0xcbf2_9ce4_8422_2325
            for l in 0..<d { h = (h ^ UInt64(p[l].bitPattern)) &* 0x100_0000_01b3 }
            return h
        }
        var guess = [Int](repeating: -1, count: input.adaptedRows)
        var unchanged = 0, inPlace = 0
        input.original.values.withUnsafeBufferPointer { op in
            input.adapted.values.withUnsafeBufferPointer { ap in
                let o = op.baseAddress!, a = ap.baseAddress!
                var byHash: [UInt64: Int] = [:]
                byHash.reserveCapacity(input.originalRows)
                for i in 0..<input.originalRows where byHash[rowHash(o + i * d)] == nil { byHash[rowHash(o + i * d)] = i }
                for j in 0..<input.adaptedRows {
                    if let i = byHash[rowHash(a + j * d)], memcmp(o + i * d, a + j * d, d * 4) == 0 {
                        guess[j] = i
                        if input.hidden[j] { unchanged += 1 }
                    }
                }
            }
        }
        let ca = RowMatrix.rowCentred(input.adapted.values, rows: input.adaptedRows, dimension: d)
        let co = RowMatrix.rowCentred(input.original.values, rows: input.originalRows, dimension: d)
        ca.withUnsafeBufferPointer { ap in
            co.withUnsafeBufferPointer { op in
                for j in 0..<min(input.adaptedRows, input.originalRows) where guess[j] < 0 {
                    var dot = 0.0, na = 0.0, no = 0.0
                    for l in 0..<d {
                        let x = Double(ap[j * d + l]), y = Double(op[j * d + l])
                        dot += x * y
                        na += x * x
                        no += y * y
                    }
                    if na > 0, no > 0, dot / (na * no).squareRoot() >= Double(fixedPointCosine) {
                        guess[j] = j
                        if input.hidden[j] { inPlace += 1 }
                    }
                }
            }
        }
        let recovered = input.fractionRecovered { guess[$0] }
        return AttackResult(
            name: .fixedPoints, recoveredTop1: recovered, recoveredTop10: nil, chanceTop1: chance(input, 1), seconds: 0,
            detail: "\(unchanged) hidden rows byte-identical to an original row, \(inPlace) hidden ids left in place "
                + "(up to a shift along the all-ones vector): \(percent(recovered)) recovered",
            values: [("unchanged_rows", .int(Int64(unchanged))), ("fixed_points", .int(Int64(inPlace)))])
    }
}

/// `x` with three decimals.
func fixed3(_ x: Double) -> String {
    guard x.isFinite else { return "\(x)" }
    let v = Int64((x * 1000).rounded())
    let frac = abs(v % 1000)
    return "\(v < 0 && v / 1000 == 0 ? "-" : "")\(v / 1000).\(frac < 100 ? "0" : "")\(frac < 10 ? "0" : "")\(frac)"
}

#if canImport(Glibc)
    import Glibc
#endif
