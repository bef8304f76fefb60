import SentinelCore
import SentinelEncoder

/// A pair of ids that link the two vocabularies.
public struct IDPair: Sendable, Equatable {
    public var adapted: Int
    public var original: Int
    public init(adapted: Int, original: Int) {
        self.adapted = adapted
        self.original = original
    }
}

/// What the irreversibility audit attacks, and the ground truth it scores the attacks against.
///
/// The attacks see only what an attacker holding the adapted model and the public original model has: the two
/// embedding matrices, the vocabulary sizes and the ``anchors`` (special tokens, written in clear in the adapted
/// vocabulary). ``truth`` comes from the key and is read only to count what an attack got right.
public struct AuditInput: Sendable {
    /// `[originalRows, hidden]` float32: the original model's `embeddings.word_embeddings.weight`.
    public var original: FloatTensor
    /// `[adaptedRows, hidden]` float32: the adapted model's `embeddings.word_embeddings.weight`.
    public var adapted: FloatTensor
    /// `[adaptedRows]`: for each adapted id, the original id whose token it stands for (`-1` when unknown).
    public var truth: [Int32]
    /// `[adaptedRows]`: the ids the scheme hides (hashed tokens with a known truth). Every recovered fraction is
    /// a fraction of these.
    public var hidden: [Bool]
    /// Public links between the vocabularies: the special tokens, which are never hashed.
    public var anchors: [IDPair]

    /// - Precondition: both matrices are 2-D with the same `hidden`; `truth` and `hidden` have one entry per adapted row.
    public init(original: FloatTensor, adapted: FloatTensor, truth: [Int32], hidden: [Bool], anchors: [IDPair]) {
        precondition(
            original.shape.count == 2 && adapted.shape.count == 2 && original.shape[1] == adapted.shape[1],
            "embedding matrices must be [rows, hidden] with the same hidden size")
        precondition(truth.count == adapted.shape[0] && hidden.count == adapted.shape[0], "one truth entry per adapted row")
        self.original = original
        self.adapted = adapted
        self.truth = truth
        self.hidden = hidden
        self.anchors = anchors
    }

    public var originalRows: Int { original.shape[0] }
    public var adaptedRows: Int { adapted.shape[0] }
    public var dimension: Int { original.shape[1] }
    /// The number of hidden ids (the denominator of every recovered fraction).
    public var hiddenCount: Int { hidden.reduce(0) { $0 + ($1 ? 1 : 0) } }

    /// Fraction of hidden ids `a` with `guess(a) == truth[a]`.
    func fractionRecovered(_ guess: (Int) -> Int) -> Double {
        let n = hiddenCount
        guard n > 0 else { return 0 }
        var hits = 0
        for a in 0..<adaptedRows where hidden[a] && guess(a) == Int(truth[a]) { hits += 1 }
        return Double(hits) / Double(n)
    }

    /// Top-1 and top-10 recovery of a nearest-neighbour result whose queries are the adapted rows.
    func recovery(of result: NearestNeighbours.Result) -> (top1: Double, top10: Double) {
        let n = hiddenCount
        guard n > 0 else { return (0, 0) }
        var one = 0, ten = 0
        for a in 0..<adaptedRows where hidden[a] {
            let t = Int(truth[a])
            if result.neighbour(a) == t { one += 1 }
            if result.contains(a, t, within: 10) { ten += 1 }
        }
        return (Double(one) / Double(n), Double(ten) / Double(n))
    }
}

/// The attacks of the audit, by their stable names (`--attacks`, JSON `name`).
public enum AttackName: String, Sendable, CaseIterable {
    /// Nearest neighbour of each adapted row among the original rows, cosine, rows as stored.
    case nearestRawCosine = "nearest_raw_cosine"
    /// The same with Euclidean distance.
    case nearestRawL2 = "nearest_raw_l2"
    /// Nearest neighbour after subtracting each row's mean from both matrices (what BERT's LayerNorm does), cosine.
    case nearestCentredCosine = "nearest_centred_cosine"
    /// The same with Euclidean distance.
    case nearestCentredL2 = "nearest_centred_l2"
    /// Blind to isometries: distance-profile matching, then alternating nearest neighbour and orthogonal Procrustes.
    case procrustes = "procrustes_icp"
    /// The seed scheme's 10,000 seeds tried without the key.
    case seedBruteForce = "seed_brute_force"
    /// Rows left byte-identical anywhere, and ids whose row stays in place up to a shift along the all-ones vector.
    case fixedPoints = "fixed_points"
    /// Ciphertext digest frequencies against a public corpus's token frequencies (needs a ciphertext).
    case ciphertextFrequency = "ciphertext_frequency"

    /// The attacks that need only the two models, in the order they run.
    public static let embeddingAttacks: [AttackName] = [
        .nearestRawCosine, .nearestRawL2, .nearestCentredCosine, .nearestCentredL2, .procrustes, .seedBruteForce, .fixedPoints,
    ]
}

/// One attack's outcome.
public struct AttackResult: Sendable {
    public var name: AttackName
    /// Fraction of the hidden ids whose token the attack's best guess names (for `ciphertext_frequency`: of the
    /// ciphertext's tokens).
    public var recoveredTop1: Double
    /// Fraction whose token is among the attack's 10 best guesses; `nil` where the attack makes one guess.
    public var recoveredTop10: Double?
    /// What blind guessing recovers (top-1).
    public var chanceTop1: Double
    /// Wall time of the attack, seconds.
    public var seconds: Double
    /// CPU time of the process during the attack (all threads), seconds.
    public var cpuSeconds: Double = 0
    /// `recoveredTop1 <= maxRecovered` (set by ``IrreversibilityAudit``).
    public var passed: Bool = true
    /// One sentence on what the attack found.
    public var detail: String
    /// Attack-specific figures for the JSON report (never the key or the seed).
    public var values: [(String, JSONValue)] = []

    public var json: JSONValue {
        .object(
            [
                ("name", .string(name.rawValue)),
                ("recovered_top1", .double(recoveredTop1, text: nil)),
                ("recovered_top10", recoveredTop10.map { .double($0, text: nil) } ?? .null),
                ("seconds", .double(seconds, text: nil)),
                ("verdict", .string(passed ? "pass" : "fail")),
                ("cpu_seconds", .double(cpuSeconds, text: nil)),
                ("chance_top1", .double(chanceTop1, text: nil)),
                ("detail", .string(detail)),
            ] + values)
    }
}

/// The outcome of ``IrreversibilityAudit/run(_:attacks:ciphertext:maxRecovered:threads:progress:)``.
public struct AuditReport: Sendable {
    public var attacks: [AttackResult]
    /// The threshold every attack's top-1 recovery was held to.
    public var maxRecovered: Double
    /// Ids the scheme hides (the denominator of the fractions).
    public var hiddenIDs: Int
    /// Whether every attack recovered at most ``maxRecovered``.
    public var passed: Bool { attacks.allSatisfy(\.passed) }
    /// The seed the brute force found (library callers and tests only: never printed or written).
    public var seedFound: Int?
    /// Wall time of the whole audit (attacks that share a similarity pass count it once), seconds.
    public var seconds: Double = 0

    /// `{"max_recovered", "hidden_ids", "passed", "attacks": [...]}` (`Formats/audit.md`).
    public var json: JSONValue {
        .object([
            ("max_recovered", .double(maxRecovered, text: nil)),
            ("hidden_ids", .int(Int64(hiddenIDs))),
            ("passed", .bool(passed)),
            ("seconds", .double(seconds, text: nil)),
            ("attacks", .array(attacks.map(\.json))),
        ])
    }
}

/// The irreversibility audit (`sentinel audit`, `sentinel verify --audit`): runs attacks that try to recover the
/// vocabulary id permutation (and so which digest stands for which token) from what an attacker has, and holds
/// each attack's recovered fraction to a threshold. The attacks do not assume a scheme: they are the same for
/// `seed` and `hardened` models (the seed brute force simply finds nothing in a model the seed scheme did not
/// make). What the audit must say about `seed`: `../shared/docs/SCHEME.md`, "What the audit must say about seed".
public enum IrreversibilityAudit {
    /// The default threshold (`--max-recovered`).
    public static let defaultMaxRecovered = 0.01

    /// Runs `attacks` on `input`.
    /// - Parameters:
    ///   - attacks: which attacks, in order; `ciphertext_frequency` runs only when `ciphertext` is given.
    ///   - ciphertext: digest counts of an encrypted text and the public corpus's token counts.
    ///   - maxRecovered: the largest top-1 fraction an attack may recover and still pass.
    ///   - threads: cores for the matchers and the brute force.
    /// - Returns: one ``AttackResult`` per attack run, with its verdict.
    public static func run(
        _ input: AuditInput, attacks: [AttackName] = AttackName.embeddingAttacks,
        ciphertext: FrequencyEvidence? = nil, maxRecovered: Double = defaultMaxRecovered,
        threads: Int = 2, progress: (String) -> Void = { _ in }
    ) -> AuditReport {
        let auditStart = monotonicSeconds()
        var results: [AttackResult] = []
        var seed: Int?
        var done: [AttackName: AttackResult] = [:]
        let nearest: [(AttackName, Bool, NearestNeighbours.Metric)] = [
            (.nearestRawCosine, false, .cosine), (.nearestRawL2, false, .l2),
            (.nearestCentredCosine, true, .cosine), (.nearestCentredL2, true, .l2),
        ]
        for name in attacks {
            if let r = done[name] {
                results.append(r)
                continue
            }
            progress("attack \(name.rawValue)")
            let start = monotonicSeconds(), cpuStart = processCPUSeconds()
            var r: AttackResult
            switch name {
            case .nearestRawCosine, .nearestRawL2, .nearestCentredCosine, .nearestCentredL2:
                // Cosine and L2 of the same rows share one similarity pass; each reports the pass's time.
                let centred = name == .nearestCentredCosine || name == .nearestCentredL2
                let group = nearest.filter { $0.1 == centred && attacks.contains($0.0) }
                let outcomes = EmbeddingAttacks.nearest(input, centred: centred, metrics: group.map(\.2), threads: threads)
                let seconds = monotonicSeconds() - start, cpu = processCPUSeconds() - cpuStart
                for var o in outcomes {
                    o.seconds = seconds
                    o.cpuSeconds = cpu
                    o.passed = o.recoveredTop1 <= maxRecovered
                    if group.count > 1 {
                        o.values.append(("similarity_pass_shared_with", .array(group.map(\.0).filter { $0 != o.name }.map { .string($0.rawValue) })))
                    }
                    done[o.name] = o
                }
                results.append(done[name]!)
                continue
            case .procrustes: r = EmbeddingAttacks.procrustes(input, threads: threads)
            case .fixedPoints: r = EmbeddingAttacks.fixedPoints(input)
            case .seedBruteForce:
                let (result, found) = SeedBruteForce.run(input, threads: threads)
                r = result
                seed = found
            case .ciphertextFrequency:
                guard let ciphertext else { continue }
                r = FrequencyAnalysis.attack(input, evidence: ciphertext)
            }
            r.seconds = monotonicSeconds() - start
            r.cpuSeconds = processCPUSeconds() - cpuStart
            r.passed = r.recoveredTop1 <= maxRecovered
            results.append(r)
        }
        return AuditReport(
            attacks: results, maxRecovered: maxRecovered, hiddenIDs: input.hiddenCount, seedFound: seed,
            seconds: monotonicSeconds() - auditStart)
    }
}

/// `x` as a percentage with two decimals, for details (no Foundation).
func percent(_ x: Double) -> String {
    let v = (x * 10_000).rounded()
    guard v.isFinite else { return "\(x)" }
    let i = Int64(v)
    let frac = abs(i % 100)
    return "\(i / 100).\(frac < 10 ? "0" : "")\(frac) %"
}

extension AuditReport {
    /// The human-readable report: one line per attack (`PASS`/`FAIL`, name, top-1, top-10, seconds, detail), then
    /// the verdict. Never the key or the seed.
    public var textLines: [String] {
        var lines = attacks.map { a in
            "\(a.passed ? "PASS" : "FAIL")  \(a.name.rawValue): top-1 \(percent(a.recoveredTop1))"
                + (a.recoveredTop10.map { ", top-10 \(percent($0))" } ?? "")
                + ", \(fixed3(a.seconds)) s (\(fixed3(a.cpuSeconds)) s CPU) — \(a.detail)"
        }
        lines.append(
            passed
                ? "audit passed: no attack recovered more than \(percent(maxRecovered)) of the \(hiddenIDs) hidden ids"
                : "audit FAILED: \(attacks.filter { !$0.passed }.map(\.name.rawValue).joined(separator: ", ")) recovered more than "
                    + "\(percent(maxRecovered)) (threshold --max-recovered \(maxRecovered))")
        return lines
    }
}
