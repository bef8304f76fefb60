import SentinelCore

/// The dropout probabilities of a BERT model in training (`transformers.BertConfig` fields).
///
/// HF applies `hidden_dropout_prob` after the embedding LayerNorm and to the output of each attention-output
/// and FFN-output dense layer (before the residual sum), `attention_probs_dropout_prob` to the attention
/// weights (after the softmax, before `@ V`), and `classifier_dropout` (or `hidden_dropout_prob` when it is
/// `null`) to the classifier's input. Each rate is a probability in `[0, 1)`.
public struct DropoutRates: Sendable, Equatable {
    /// `hidden_dropout_prob`.
    public var hidden: Float
    /// `attention_probs_dropout_prob`.
    public var attentionProbabilities: Float
    /// `classifier_dropout`, or `hidden_dropout_prob` when the config leaves it `null`.
    public var classifier: Float

    public init(hidden: Float = 0.1, attentionProbabilities: Float = 0.1, classifier: Float? = nil) {
        self.hidden = hidden
        self.attentionProbabilities = attentionProbabilities
        self.classifier = classifier ?? hidden
    }

    /// No dropout anywhere (what the f02/f03 fixtures use).
    public static let none = DropoutRates(hidden: 0, attentionProbabilities: 0, classifier: 0)

    /// Reads the rates from a parsed `config.json`; absent fields take `transformers.BertConfig`'s defaults
    /// (0.1, 0.1, `null`).
    /// - Throws: ``InputError`` `.outOfRange` naming `file` and the key for a value that is not a number in `[0, 1)`.
    public init(json: JSONValue, file: String) throws {
        func rate(_ key: String, default value: Float?) throws -> Float? {
            guard let v = json[key], v != .null else { return value }
            guard let d = v.doubleValue, d >= 0, d < 1 else {
                throw InputError(.outOfRange, file: file, key: key, "must be a number in [0, 1)")
            }
            return Float(d)
        }
        let hidden = try rate("hidden_dropout_prob", default: 0.1) ?? 0.1
        self.init(
            hidden: hidden,
            attentionProbabilities: try rate("attention_probs_dropout_prob", default: 0.1) ?? 0.1,
            classifier: try rate("classifier_dropout", default: nil))
    }

    /// Reads the rates from `config.json` at `path`.
    /// - Throws: ``InputError`` (`.notJSON`, `.outOfRange`) naming the file; ``OutputError`` when it cannot be read.
    public static func load(path: String) throws -> DropoutRates {
        try DropoutRates(json: JSONValue.read(file: path), file: path)
    }
}

/// Seeded dropout masks from a counter-based generator: mask element `i` of draw `n` is a pure function of
/// `(seed, n, i)`, so the masks are bitwise the same for a given seed whatever the thread count or the way
/// the work is split, and a run can be resumed from `(seed, draws)`.
///
/// Draw `n`'s key is SplitMix64 of `seed + n·φ`; element `i` keeps its value with probability `1 − rate`:
/// `u = fmix32((i + key.lo) · 0x9E3779B1 ⊕ key.hi) / 2³²` (MurmurHash3's 32-bit finaliser, top 23 bits),
/// dropped when `u < rate`. Kept values are scaled by `1 / (1 − rate)` as `torch.nn.functional.dropout`
/// does (PyTorch's own generator draws different masks: runs are reproducible, not PyTorch's bits).
public struct DropoutGenerator: Sendable, Equatable {
    public let seed: UInt64
    /// Masks drawn so far (the generator's whole state besides the seed).
    public private(set) var draws: UInt64

    public init(seed: UInt64, draws: UInt64 = 0) {
        self.seed = seed
        self.draws = draws
    }

    /// The key of the next mask; advances the generator.
    mutating func nextKey() -> UInt64 {
        draws &+= 1
        var z = seed &+ draws &* 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Fills `mask[0..<count]` with `0` (dropped, probability `rate`) or `1 / (1 − rate)` for the next draw,
    /// split over the cores; advances the generator by one draw.
    mutating func fill(_ mask: UnsafeMutablePointer<Float>, count: Int, rate: Float) {
        let key = nextKey()
        Parallel.chunks(count, workPerItem: 8) { range in
            Self.fill(mask, range: range, rate: rate, key: key)
        }
    }

    static func fill(_ mask: UnsafeMutablePointer<Float>, range: Range<Int>, rate: Float, key: UInt64) {
        typealias UVec = SIMD16<UInt32>
        let lo = UInt32(truncatingIfNeeded: key), hi = UInt32(truncatingIfNeeded: key >> 32)
        let scale = 1 / (1 - rate)
        let keepValue = Vec(repeating: scale), p = Vec(repeating: rate)
        let lanes = UVec(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
        @inline(__always) func uniform(_ i: UVec) -> Vec {
            var x = ((i &+ lo) &* 0x9E37_79B1) ^ hi
            x ^= x &>> 16
            x &*= 0x85EB_CA6B
            x ^= x &>> 13
            x &*= 0xC2B2_AE35
            x ^= x &>> 16
            // [1, 2) from the top 23 bits as the mantissa, minus 1.
            return unsafeBitCast((x &>> 9) | 0x3F80_0000, to: Vec.self) - 1
        }
        var i = range.lowerBound
        while i + 16 <= range.upperBound {
            let u = uniform(UVec(repeating: UInt32(truncatingIfNeeded: i)) &+ lanes)
            store(select(lessMask(u, p), Vec(repeating: 0), keepValue), mask + i)
            i += 16
        }
        while i < range.upperBound {
            let u = uniform(UVec(repeating: UInt32(truncatingIfNeeded: i)))[0]
            mask[i] = u < rate ? 0 : scale
            i += 1
        }
    }
}
