/// Model input for one sequence or sequence pair: the BERT template, truncation and padding applied.
///
/// Every array has the same length `seq` (one row of a `[batch, seq]` I64 tensor once widened).
public struct Encoding: Sendable, Equatable {
    /// `input_ids`, `[seq]`.
    public var inputIDs: [Int32] = []
    /// `token_type_ids`, `[seq]`: 0 for `[CLS] A [SEP]`, 1 for `B [SEP]`, 0 for padding.
    public var tokenTypeIDs: [Int32] = []
    /// `attention_mask`, `[seq]`: 1 for real tokens, 0 for padding.
    public var attentionMask: [Int32] = []
    /// UTF-8 byte range of each token in its own sequence's text; `0..<0` for special tokens and padding.
    public var offsets: [Range<Int>] = []
    /// Word index of each token (pre-tokenizer word, or the caller's word for pre-split input); nil for
    /// special tokens and padding (HF `word_ids()`).
    public var wordIDs: [Int?] = []
    /// 0 or 1 for tokens of the first or second sequence; nil for special tokens and padding (HF `sequence_ids()`).
    public var sequenceIDs: [Int?] = []

    public init() {}

    /// Number of positions, padding included.
    public var count: Int { inputIDs.count }

    mutating func append(_ id: Int32, type: Int32, mask: Int32 = 1, offset: Range<Int> = 0..<0, word: Int? = nil, sequence: Int? = nil) {
        inputIDs.append(id)
        tokenTypeIDs.append(type)
        attentionMask.append(mask)
        offsets.append(offset)
        wordIDs.append(word)
        sequenceIDs.append(sequence)
    }

    /// Appends padding (`[PAD]`, type 0, mask 0) up to `length` positions (right side).
    public mutating func pad(to length: Int, padID: Int32) {
        while count < length { append(padID, type: 0, mask: 0) }
    }
}

/// How to shorten input that is over a maximum length (counted with the special tokens).
public enum Truncation: Sendable, Equatable {
    /// HF `longest_first`: take tokens from the end of the longer sequence until it fits.
    case longestFirst(maxLength: Int)
    /// HF `only_first`.
    case onlyFirst(maxLength: Int)
    /// HF `only_second`.
    case onlySecond(maxLength: Int)

    var maxLength: Int {
        switch self {
        case let .longestFirst(n), let .onlyFirst(n), let .onlySecond(n): return n
        }
    }
}

/// Padding of one encoding (batches pad to their longest row with ``BertTokenizer/encodeBatch(_:truncation:padToLongest:)``).
public enum Padding: Sendable, Equatable {
    case none
    /// Pad on the right to exactly this many positions (HF `padding="max_length"`).
    case toLength(Int)
}

extension BertTokenizer {
    /// Encodes one text or a pair: `[CLS] A [SEP]` or `[CLS] A [SEP] B [SEP]`, as HF's `tokenizer(text, pair)`.
    /// - Parameters:
    ///   - addSpecialTokens: false gives the bare pieces (then `truncation` counts no special tokens).
    ///   - truncation: nil (no truncation, the HF default) or a strategy with a maximum length.
    public func encode(_ text: String, pair: String? = nil, addSpecialTokens: Bool = true,
                       truncation: Truncation? = nil, padding: Padding = .none) -> Encoding {
        var workspace = TokenizerWorkspace()
        var a = Pieces()
        append(text, to: &a, workspace: &workspace)
        var b: Pieces?
        if let pair {
            var p = Pieces()
            workspace.nextWord = 0
            append(pair, to: &p, workspace: &workspace)
            b = p
        }
        return assemble(a, b, addSpecialTokens: addSpecialTokens, truncation: truncation, padding: padding)
    }

    /// Encodes pre-split words (HF `is_split_into_words=True`): each word is tokenized on its own and its
    /// pieces carry the word's index in ``Encoding/wordIDs``. Used for NER.
    public func encode(words: [String], addSpecialTokens: Bool = true, truncation: Truncation? = nil,
                       padding: Padding = .none) -> Encoding {
        var workspace = TokenizerWorkspace()
        var a = Pieces()
        for (index, word) in words.enumerated() {
            append(word, word: Int32(index), to: &a, workspace: &workspace)
        }
        return assemble(a, nil, addSpecialTokens: addSpecialTokens, truncation: truncation, padding: padding)
    }

    /// Encodes texts (or pairs, `(text, pair)`) and pads every row to the longest one.
    public func encodeBatch(_ inputs: [(String, String?)], truncation: Truncation? = nil, padToLongest: Bool = true) -> [Encoding] {
        var rows = inputs.map { encode($0.0, pair: $0.1, truncation: truncation) }
        if padToLongest, let longest = rows.map(\.count).max() {
            for i in rows.indices { rows[i].pad(to: longest, padID: padID) }
        }
        return rows
    }

    /// Adds the BERT template to pieces, after truncation, then pads.
    public func assemble(_ a: Pieces, _ b: Pieces?, addSpecialTokens: Bool = true,
                         truncation: Truncation? = nil, padding: Padding = .none) -> Encoding {
        var keepA = a.count
        var keepB = b?.count ?? 0
        if let truncation {
            let added = addSpecialTokens ? (b == nil ? 2 : 3) : 0
            let target = max(0, truncation.maxLength - added)
            if keepA + keepB > target {
                switch truncation {
                case .onlyFirst: keepA = max(0, target - keepB)
                case .onlySecond: keepB = b == nil ? 0 : max(0, target - keepA)
                case .longestFirst:
                    if b == nil {
                        keepA = target
                    } else {
                        (keepA, keepB) = Self.longestFirst(keepA, keepB, target)
                    }
                }
            }
        }
        var e = Encoding()
        let total = keepA + keepB + (addSpecialTokens ? 3 : 0)
        e.inputIDs.reserveCapacity(total)
        if addSpecialTokens { e.append(clsID, type: 0) }
        for i in 0..<keepA {
            e.append(a.ids[i], type: 0, offset: Int(a.starts[i])..<Int(a.ends[i]), word: Int(a.words[i]), sequence: 0)
        }
        if addSpecialTokens { e.append(sepID, type: 0) }
        if let b {
            for i in 0..<keepB {
                e.append(b.ids[i], type: 1, offset: Int(b.starts[i])..<Int(b.ends[i]), word: Int(b.words[i]), sequence: 1)
            }
            if addSpecialTokens { e.append(sepID, type: 1) }
        }
        if case let .toLength(n) = padding { e.pad(to: n, padID: padID) }
        return e
    }

    /// The lengths `longest_first` keeps for a pair of lengths `n1`, `n2` and a budget `target`
    /// (tokenizers `truncate_encodings`): the shorter sequence keeps up to half, the longer one the rest;
    /// when both are over half, the second gets the odd position.
    static func longestFirst(_ n1: Int, _ n2: Int, _ target: Int) -> (Int, Int) {
        let swap = n1 > n2
        var short = swap ? n2 : n1
        var long = swap ? n1 : n2
        if short > target { long = short } else { long = min(long, max(short, target - short)) }
        if short + long > target {
            short = target / 2
            long = short + target % 2
        }
        return swap ? (long, short) : (short, long)
    }
}
