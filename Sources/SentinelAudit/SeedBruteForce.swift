import SentinelCore
import Dispatch
import SentinelScheme

/// Brute force of the seed scheme's seed space (`../shared/docs/SCHEME.md`, scheme `seed`, steps 1 and 4): the
/// seed is `sum of the key's code points mod 10000`, so an attacker tries all 10,000 without the key.
///
/// For each seed the candidate id mapping is rebuilt (one `random.Random(seed).shuffle` of the non-special ids,
/// raised to the 10th power, then the `A[i] ↔ B[i]` swap around `pivot = n//2 + 5`) and tested on a few hundred
/// probe rows: a seed scores one point for each probe whose candidate source id is among that probe's ten nearest
/// original rows by two matchers (row-mean-centred cosine and raw cosine). The mapping of the best seed is the
/// attack's guess; `seed_found` says whether its score stands far above chance. The seed value itself is never
/// reported (``AuditReport/seedFound`` keeps it for library callers).
public enum SeedBruteForce {
    /// The seed scheme's seed space.
    public static let seedSpace = 10_000
    /// Probe rows tested per seed.
    public static let probeCount = 256

    /// The ids a probe spreads over: every `hidden`-capable (non-anchor) id, evenly.
    static func probes(nonSpecial: [Int], count: Int) -> [Int] {
        guard !nonSpecial.isEmpty else { return [] }
        let p = min(count, nonSpecial.count)
        return (0..<p).map { nonSpecial[$0 * nonSpecial.count / p] }
    }

    /// The source id of every adapted id under `seed` (`source[a]` = original id of adapted row `a`), computed the
    /// fast way: the shuffle permutation `π` once, then `π¹⁰` by repeated squaring. Equal to
    /// `SeedScheme.mapping(vocabSize:specialIDs:seed:shuffle: true)` (an involution, so source = mapping).
    public static func candidateMapping(vocabSize n: Int, specialIDs: Set<Int>, seed: Int) -> [Int] {
        let nonSpecial = (0..<n).filter { !specialIDs.contains($0) }
        var source = Array(0..<n)
        let m = nonSpecial.count
        let pivot = m / 2 + 5
        guard m > 1, pivot < m else { return source }
        let p10 = shufflePower(count: m, seed: seed)
        // list[k] = nonSpecial[p10[k]]; A = list[..<pivot], B = list[pivot...]; A[i] <-> B[i].
        for i in 0..<(m - pivot) {
            let x = nonSpecial[Int(p10[i])], y = nonSpecial[Int(p10[pivot + i])]
            source[x] = y
            source[y] = x
        }
        return source
    }

    /// `π¹⁰` where `π` is what `random.Random(seed).shuffle` does to a list of `count` items: after ten fresh
    /// shuffles, position `k` holds the item that started at `π¹⁰[k]`.
    static func shufflePower(count m: Int, seed: Int) -> [Int32] {
        var pi = [Int32](unsafeUninitializedCapacity: m) { b, c in
            for i in 0..<m { b[i] = Int32(i) }
            c = m
        }
        var rng = PythonRandom(seed: seed)
        pi.withUnsafeMutableBufferPointer { b in
            var i = m - 1
            while i >= 1 {
                b.swapAt(i, rng.randbelow(i + 1))
                i -= 1
            }
        }
        // After one shuffle x'[k] = x[π[k]]; after two x''[k] = x[π[π[k]]]: π² is composition.
        func compose(_ f: [Int32], _ g: [Int32]) -> [Int32] {  // (f ∘ g)[k] = f[g[k]]
            [Int32](unsafeUninitializedCapacity: m) { b, c in
                f.withUnsafeBufferPointer { fp in
                    g.withUnsafeBufferPointer { gp in
                        for k in 0..<m { b[k] = fp[Int(gp[k])] }
                    }
                }
                c = m
            }
        }
        let p2 = compose(pi, pi), p4 = compose(p2, p2), p8 = compose(p4, p4)
        return compose(p8, p2)
    }

    /// Runs the brute force on `input`.
    /// - Returns: the attack result (recovered = agreement of the best seed's mapping with the truth) and the seed,
    ///   when one was found.
    static func run(_ input: AuditInput, threads: Int) -> (AttackResult, Int?) {
        let n = input.adaptedRows, d = input.dimension
        let specials = Set(input.anchors.map(\.adapted))
        let nonSpecial = (0..<n).filter { !specials.contains($0) }
        let probes = probes(nonSpecial: nonSpecial, count: probeCount)
        let m = nonSpecial.count, pivot = m / 2 + 5
        guard probes.count > 0, m > 1, pivot < m, input.originalRows == n else {
            return (
                AttackResult(
                    name: .seedBruteForce, recoveredTop1: 0, recoveredTop10: nil,
                    chanceTop1: EmbeddingAttacks.chance(input, 1), seconds: 0,
                    detail: "not applicable: the seed scheme needs equal vocabulary sizes and more than 10 non-special ids",
                    values: [("seed_space", .int(Int64(seedSpace))), ("seeds_tested", .int(0)), ("seed_found", .bool(false))]),
                nil
            )
        }
        // Candidate sources of each probe: ten nearest original rows by two matchers.
        let q = RowMatrix.gather(input.adapted.values, rows: probes, dimension: d)
        let raw = NearestNeighbours.search(queries: q, references: input.original.values, dimension: d, k: 10, metric: .cosine, threads: threads)
        let centred = NearestNeighbours.search(
            queries: RowMatrix.rowCentred(q, rows: probes.count, dimension: d),
            references: RowMatrix.rowCentred(input.original.values, rows: n, dimension: d),
            dimension: d, k: 10, metric: .cosine, threads: threads)
        let candidates: [Set<Int>] = (0..<probes.count).map { i in
            Set((0..<10).flatMap { [raw.neighbour(i, $0), centred.neighbour(i, $0)] })
        }
        // index of each id in nonSpecial
        var position = [Int32](repeating: -1, count: n)
        for (k, id) in nonSpecial.enumerated() { position[id] = Int32(k) }
        let probeIndex = probes.map { Int(position[$0]) }

        var scores = [Int32](repeating: 0, count: seedSpace)
        let workers = max(1, threads)
        scores.withUnsafeMutableBufferPointer { sp in
            let out = UnsafeMutableSendable(sp.baseAddress!)
            Parallel.forEach(workers) { w in
                var inverse = [Int32](repeating: 0, count: m)
                var seed = w
                while seed < seedSpace {
                    let p10 = shufflePower(count: m, seed: seed)
                    // inverse[j] = k with p10[k] = j: where item j ended up.
                    p10.withUnsafeBufferPointer { pp in
                        inverse.withUnsafeMutableBufferPointer { ip in
                            for k in 0..<m { ip[Int(pp[k])] = Int32(k) }
                        }
                    }
                    var hits: Int32 = 0
                    for (i, j) in probeIndex.enumerated() {
                        let k = Int(inverse[j])
                        let partnerPosition = k < pivot ? (k < m - pivot ? k + pivot : k) : k - pivot
                        let source = nonSpecial[Int(p10[partnerPosition])]
                        if candidates[i].contains(source) { hits += 1 }
                    }
                    out.pointer[seed] = hits
                    seed += workers
                }
            }
        }
        var best = 0, runnerUp: Int32 = 0
        for s in 1..<seedSpace where scores[s] > scores[best] { best = s }
        for s in 0..<seedSpace where s != best { runnerUp = max(runnerUp, scores[s]) }
        let threshold = max(8, probes.count / 8)
        let found = Int(scores[best]) >= threshold && scores[best] >= 2 * runnerUp
        let mapping = candidateMapping(vocabSize: n, specialIDs: specials, seed: best)
        let recovered = input.fractionRecovered { mapping[$0] }
        let detail =
            found
            ? "the \(seedSpace) seeds were searched without the key; one seed's mapping fits \(scores[best]) of \(probes.count) probe rows "
                + "(next best \(runnerUp)): its mapping recovers \(percent(recovered)) of the hidden ids"
            : "the \(seedSpace) seeds were searched without the key; no seed fits more than \(scores[best]) of \(probes.count) probe rows "
                + "(threshold \(threshold)): not made by the seed scheme, or its rows hide their source (best mapping recovers \(percent(recovered)))"
        return (
            AttackResult(
                name: .seedBruteForce, recoveredTop1: recovered, recoveredTop10: nil,
                chanceTop1: EmbeddingAttacks.chance(input, 1), seconds: 0, detail: detail,
                values: [
                    ("seed_space", .int(Int64(seedSpace))), ("seeds_tested", .int(Int64(seedSpace))),
                    ("seed_found", .bool(found)), ("probes", .int(Int64(probes.count))),
                    ("best_probe_hits", .int(Int64(scores[best]))), ("runner_up_probe_hits", .int(Int64(runnerUp))),
                    ("mapping_recovered", .double(recovered, text: nil)),
                ]),
            found ? best : nil
        )
    }
}
