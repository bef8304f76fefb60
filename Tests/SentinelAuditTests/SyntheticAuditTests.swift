import SentinelScheme
import SentinelAudit
import SentinelCore
import SentinelEncoder
import SentinelTestSupport
import XCTest

/// A small deterministic generator for the synthetic matrices (SplitMix64, Box–Muller normals).
struct TestRandom {
    var state: UInt64
    init(_ seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
    mutating func uniform() -> Double { Double(next() >> 11) / Double(1 << 53) }
    mutating func normal() -> Double {
        let u = max(uniform(), 1e-300), v = uniform()
        return (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
    }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    mutating func matrix(_ rows: Int, _ cols: Int, scale: Double = 1) -> [Float] {
        (0..<(rows * cols)).map { _ in Float(normal() * scale) }
    }
    mutating func permutation(_ n: Int) -> [Int] {
        var p = Array(0..<n)
        for i in stride(from: n - 1, to: 0, by: -1) { p.swapAt(i, below(i + 1)) }
        return p
    }
}

/// A synthetic vocabulary of `n` ids with BERT's special ids (0, 100–103) and an adapted matrix built from
/// `source[a]` = the original id whose (transformed) row adapted row `a` holds.
struct SyntheticModel {
    let n: Int, d: Int
    let specials: [Int]
    var original: [Float]
    var adapted: [Float]
    var source: [Int]

    init(n: Int, d: Int, seed: UInt64) {
        self.n = n
        self.d = d
        specials = [0, 100, 101, 102, 103].filter { $0 < n }
        var rng = TestRandom(seed)
        original = rng.matrix(n, d, scale: 0.05)
        adapted = original
        source = Array(0..<n)
    }

    /// Adapted row a = f(original row source[a]).
    mutating func build(source: [Int], transform: ([Float]) -> [Float]) {
        self.source = source
        for a in 0..<n {
            let row = Array(original[(source[a] * d)..<(source[a] * d + d)])
            adapted.replaceSubrange((a * d)..<(a * d + d), with: transform(row))
        }
    }

    /// The seed scheme's glide passes (SCHEME.md step 5): `v - 2 mean(v) 1 + t 1` per pass.
    static func glide(_ translations: [Double]) -> ([Float]) -> [Float] {
        { row in
            var v = row.map(Double.init)
            for t in translations {
                let mean = v.reduce(0, +) / Double(v.count)
                v = v.map { $0 - 2 * mean + t }
            }
            return v.map(Float.init)
        }
    }

    var input: AuditInput {
        let special = Set(specials)
        return AuditInput(
            original: FloatTensor(shape: [n, d], values: original), adapted: FloatTensor(shape: [n, d], values: adapted),
            truth: source.map(Int32.init), hidden: (0..<n).map { !special.contains(source[$0]) },
            anchors: specials.map { IDPair(adapted: $0, original: $0) })
    }

    var hiddenCount: Int { n - specials.count }
}

final class NearestNeighbourTests: XCTestCase {
    /// The blocked sgemm search (more queries than one block, more references than one block, a width that is not a
    /// multiple of 16) gives the same top 10 as a plain float64 double loop.
    func testTopKMatchesNaiveFloat64Search() {
        var rng = TestRandom(7)
        let nq = 600, nr = 2100, d = 20
        let q = rng.matrix(nq, d), r = rng.matrix(nr, d)
        for metric in NearestNeighbours.Metric.allCases {
            let result = NearestNeighbours.search(queries: q, references: r, dimension: d, k: 10, metric: metric)
            var mismatches = 0
            for i in 0..<nq {
                var scored: [(Double, Int)] = []
                for j in 0..<nr {
                    var dot = 0.0, nq2 = 0.0, nr2 = 0.0
                    for l in 0..<d {
                        let x = Double(q[i * d + l]), y = Double(r[j * d + l])
                        dot += x * y
                        nq2 += x * x
                        nr2 += y * y
                    }
                    scored.append((metric == .cosine ? dot / (nq2 * nr2).squareRoot() : -(nq2 + nr2 - 2 * dot), j))
                }
                scored.sort { $0.0 != $1.0 ? $0.0 > $1.0 : $0.1 < $1.1 }
                let expected = scored.prefix(10).map(\.1)
                let got = (0..<10).map { result.neighbour(i, $0) }
                if got != expected { mismatches += 1 }
                if metric == .cosine { XCTAssertEqual(Double(result.scores[i * 10]), scored[0].0, accuracy: 1e-5) }
            }
            XCTAssertEqual(mismatches, 0, "\(metric)")
        }
        // One pass for both metrics gives each metric's own result.
        let both = NearestNeighbours.search(queries: q, references: r, dimension: d, k: 10, metrics: [.l2, .cosine])
        for (i, metric) in [NearestNeighbours.Metric.l2, .cosine].enumerated() {
            let alone = NearestNeighbours.search(queries: q, references: r, dimension: d, k: 10, metric: metric)
            XCTAssertEqual(both[i].indices, alone.indices, "\(metric)")
            XCTAssertEqual(both[i].scores, alone.scores, "\(metric)")
        }
    }
}

final class SyntheticAuditTests: XCTestCase {
    func recovered(_ report: AuditReport, _ name: AttackName) -> AttackResult? { report.attacks.first { $0.name == name } }

    /// Seed scheme on a synthetic vocabulary: seed 4242's involution, three glide passes (odd: the reflection
    /// through the all-ones hyperplane plus a shift). Row-mean centring cancels the glide exactly, so both centred
    /// matchers recover every hidden id but the 30 whose rows were overwritten with a copy of another original id's
    /// transformed row (those match the copied id instead): exactly (hidden - 30) / hidden.
    func testCentredMatchersRecoverGlideExactly() throws {
        var m = SyntheticModel(n: 3000, d: 32, seed: 1)
        let mapping = SeedScheme.mapping(vocabSize: m.n, specialIDs: Set(m.specials), seed: 4242, shuffle: true)
        m.build(source: mapping, transform: SyntheticModel.glide([0.31, 0.77, 0.12]))
        // Overwrite 30 hidden rows with the transformed row of an original id they do not stand for.
        let glide = SyntheticModel.glide([0.31, 0.77, 0.12])
        var overwritten = 0
        for a in stride(from: 1000, to: 3000, by: 67) where overwritten < 30 {
            let other = (m.source[a] + 1) % m.n
            guard !m.specials.contains(other), !m.specials.contains(m.source[a]) else { continue }
            let row = glide(Array(m.original[(other * m.d)..<(other * m.d + m.d)]))
            m.adapted.replaceSubrange((a * m.d)..<(a * m.d + m.d), with: row)
            overwritten += 1
        }
        XCTAssertEqual(overwritten, 30)
        let report = IrreversibilityAudit.run(m.input, attacks: [.nearestCentredCosine, .nearestCentredL2])
        let expected = Double(m.hiddenCount - 30) / Double(m.hiddenCount)
        for name in [AttackName.nearestCentredCosine, .nearestCentredL2] {
            let r = try XCTUnwrap(recovered(report, name))
            XCTAssertEqual(r.recoveredTop1, expected, "\(name)")
            XCTAssertFalse(r.passed)
        }
        XCTAssertFalse(report.passed)
        XCTAssertEqual(report.hiddenIDs, m.hiddenCount)
    }

    /// Rows the scheme left alone: the involution's own fixed points (2·pivot - m of them, pivot = m/2 + 5) under the
    /// glide transform, and 12 hidden rows copied byte for byte from their source row to another id. The attack
    /// recovers exactly those.
    func testFixedPointsAndUnchangedRows() throws {
        var m = SyntheticModel(n: 2001, d: 24, seed: 2)
        let mapping = SeedScheme.mapping(vocabSize: m.n, specialIDs: Set(m.specials), seed: 17, shuffle: true)
        m.build(source: mapping, transform: SyntheticModel.glide([0.4, 0.9]))
        let hiddenFixed = (0..<m.n).filter { mapping[$0] == $0 && !m.specials.contains($0) }
        let nonSpecial = m.n - m.specials.count
        XCTAssertEqual(hiddenFixed.count, 2 * (nonSpecial / 2 + 5) - nonSpecial)
        var copied = 0
        for a in stride(from: 300, to: m.n, by: 113) where mapping[a] != a && copied < 12 {
            let s = m.source[a]
            m.adapted.replaceSubrange((a * m.d)..<(a * m.d + m.d), with: m.original[(s * m.d)..<(s * m.d + m.d)])
            copied += 1
        }
        XCTAssertEqual(copied, 12)
        let r = try XCTUnwrap(recovered(IrreversibilityAudit.run(m.input, attacks: [.fixedPoints]), .fixedPoints))
        XCTAssertEqual(r.recoveredTop1, Double(hiddenFixed.count + 12) / Double(m.hiddenCount))
        XCTAssertEqual(r.values.first { $0.0 == "unchanged_rows" }?.1.intValue, 12)
        XCTAssertEqual(r.values.first { $0.0 == "fixed_points" }?.1.intValue, hiddenFixed.count)
        XCTAssertNil(r.recoveredTop10)
        XCTAssertFalse(r.passed)  // (10 + 12) / 1996 = 1.1 % > 1 %
    }

    /// A random rotation and translation of a permuted matrix defeats the plain matchers but not the Procrustes
    /// attack: it learns the rotation from the distance profiles of the longest rows and recovers every hidden id.
    func testProcrustesRecoversARotatedMatrix() throws {
        var m = SyntheticModel(n: 4500, d: 24, seed: 3)
        var rng = TestRandom(33)
        // A random orthogonal matrix: Gram–Schmidt on Gaussian columns.
        var q = rng.matrix(m.d, m.d).map(Double.init)
        for j in 0..<m.d {
            for k in 0..<j {
                var dot = 0.0
                for i in 0..<m.d { dot += q[i * m.d + j] * q[i * m.d + k] }
                for i in 0..<m.d { q[i * m.d + j] -= dot * q[i * m.d + k] }
            }
            var norm = 0.0
            for i in 0..<m.d { norm += q[i * m.d + j] * q[i * m.d + j] }
            for i in 0..<m.d { q[i * m.d + j] /= norm.squareRoot() }
        }
        var perm = rng.permutation(m.n)
        for s in m.specials { if let i = perm.firstIndex(of: s) { perm.swapAt(i, s) } }
        let d = m.d
        m.build(source: perm) { row in
            (0..<d).map { j in Float((0..<d).reduce(0.0) { $0 + Double(row[$1]) * q[$1 * d + j] } + 0.25) }
        }
        let report = IrreversibilityAudit.run(m.input, attacks: [.nearestRawCosine, .nearestCentredCosine, .procrustes])
        XCTAssertEqual(try XCTUnwrap(recovered(report, .procrustes)).recoveredTop1, 1.0)
        XCTAssertEqual(try XCTUnwrap(recovered(report, .procrustes)).recoveredTop10, 1.0)
        XCTAssertLessThan(try XCTUnwrap(recovered(report, .nearestRawCosine)).recoveredTop1, 0.01)
        XCTAssertLessThan(try XCTUnwrap(recovered(report, .nearestCentredCosine)).recoveredTop1, 0.01)
    }

    /// The brute force finds the seed of a synthetic seed-scheme model among all 10,000 and with it the whole mapping;
    /// the seed is returned to the library caller but appears nowhere in the JSON report.
    func testSeedBruteForceFindsTheSeed() throws {
        var m = SyntheticModel(n: 3000, d: 32, seed: 4)
        let mapping = SeedScheme.mapping(vocabSize: m.n, specialIDs: Set(m.specials), seed: 4242, shuffle: true)
        m.build(source: mapping, transform: SyntheticModel.glide([0.5, 0.25]))
        let report = IrreversibilityAudit.run(m.input, attacks: [.seedBruteForce])
        XCTAssertEqual(report.seedFound, 4242)
        let r = try XCTUnwrap(recovered(report, .seedBruteForce))
        XCTAssertEqual(r.recoveredTop1, 1.0)
        XCTAssertFalse(r.passed)
        let json = report.json.serialized()
        XCTAssertTrue(json.contains("\"seed_found\":true"), json)
        XCTAssertFalse(json.contains("\"seed\""), json)
        XCTAssertFalse(r.detail.contains("4242"))
    }

    /// The fast candidate mapping (one shuffle raised to the 10th power) is the seed scheme's mapping, on small and odd
    /// vocabularies and on MiniLM's 30,522 ids with seed 475, where it reproduces the reference converter's mapping.json.
    func testCandidateMappingIsTheSeedSchemeMapping() throws {
        for (n, seed) in [(12, 0), (200, 1), (1001, 9999), (3000, 4242)] {
            let specials: Set<Int> = [0, 5]
            XCTAssertEqual(
                SeedBruteForce.candidateMapping(vocabSize: n, specialIDs: specials, seed: seed),
                SeedScheme.mapping(vocabSize: n, specialIDs: specials, seed: seed, shuffle: true), "n \(n) seed \(seed)")
        }
        let json = try Fixtures.json("seed-converter/minilm-llm123-f2-shuffle/mapping.json")
        let pairs = try XCTUnwrap(json.objectValue)
        var expected = [Int](repeating: -1, count: pairs.count)
        for (k, v) in pairs { expected[try XCTUnwrap(Int(k))] = try XCTUnwrap(v.intValue) }
        XCTAssertEqual(SeedBruteForce.candidateMapping(vocabSize: 30522, specialIDs: [0, 100, 101, 102, 103], seed: 475), expected)
    }

    /// A hardened-style model: a uniform random permutation (not an involution) and every hidden row re-initialised.
    /// No attack recovers more than chance plus 1 %, the brute force finds no seed, and the audit passes.
    func testReinitialisedRowsDefeatEveryAttack() throws {
        var m = SyntheticModel(n: 4000, d: 32, seed: 5)
        var rng = TestRandom(55)
        var perm = rng.permutation(m.n)
        for s in m.specials { if let i = perm.firstIndex(of: s) { perm.swapAt(i, s) } }
        m.build(source: perm) { row in row }
        let special = Set(m.specials)
        for a in 0..<m.n where !special.contains(a) {
            m.adapted.replaceSubrange((a * m.d)..<(a * m.d + m.d), with: rng.matrix(1, m.d, scale: 0.05))
        }
        let report = IrreversibilityAudit.run(m.input, attacks: AttackName.embeddingAttacks)
        XCTAssertEqual(report.attacks.count, AttackName.embeddingAttacks.count)
        let chance = 1.0 / Double(m.hiddenCount)
        for r in report.attacks {
            XCTAssertLessThanOrEqual(r.recoveredTop1, chance + 0.01, "\(r.name)")
            if let t = r.recoveredTop10 { XCTAssertLessThanOrEqual(t, 10 * chance + 0.01, "\(r.name)") }
            XCTAssertTrue(r.passed, "\(r.name)")
            XCTAssertEqual(r.chanceTop1, chance, accuracy: 1e-12)
        }
        XCTAssertNil(report.seedFound)
        XCTAssertEqual(recovered(report, .seedBruteForce)?.values.first { $0.0 == "seed_found" }?.1.boolValue, false)
        XCTAssertTrue(report.passed)
    }
}
