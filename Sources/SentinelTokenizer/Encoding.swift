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
    /// Pieces dropped by truncation (both sequences), 0 when the input fit.
    public var truncatedPieces = 0

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

extension BertTokenizer: SubwordTokenizer {
    public var vocabularySize: Int { max(vocabulary.count, (addedTokens.map { Int($0.id) }.max() ?? -1) + 1) }

    public func id(of token: String) -> Int32? {
        addedTokens.first { $0.content == token }?.id ?? vocabulary.id(of: token)
    }

    public func token(of id: Int32) -> String? {
        if Int(id) >= 0 && Int(id) < vocabulary.count { return vocabulary.tokens[Int(id)] }
        return addedTokens.first { $0.id == id }?.content
    }

    /// `[CLS] A [SEP]` / `[CLS] A [SEP] B [SEP]`.
    public var template: SpecialTokenTemplate { SpecialTokenTemplate(style: .bert, start: clsID, end: sepID, pad: padID) }

    public func pieces(ofWords words: [String]) -> Pieces {
        var workspace = TokenizerWorkspace()
        var a = Pieces()
        for (index, word) in words.enumerated() {
            append(word, word: Int32(index), to: &a, workspace: &workspace)
        }
        return a
    }

    /// Appends the pieces of pre-split words as ``SubwordTokenizer/labelPieces(ofWords:)`` does (a word that
    /// yields no piece gets one `[UNK]`), reusing `workspace`; offsets are relative to each word.
    public func appendWords(_ words: [String], to out: inout Pieces, workspace: inout TokenizerWorkspace) {
        for (index, word) in words.enumerated() {
            let before = out.count
            append(word, word: Int32(index), to: &out, workspace: &workspace)
            if out.count == before { out.append(unknownID, 0, Int32(word.utf8.count), Int32(index)) }
        }
    }

    /// Encodes one text or a pair: `[CLS] A [SEP]` or `[CLS] A [SEP] B [SEP]`, as HF's `tokenizer(text, pair)`.
    /// The second text's words are numbered from 0 again, as HF's `word_ids()` does.
    public func encode(
        _ text: String, pair: String? = nil, addSpecialTokens: Bool = true,
        truncation: Truncation? = nil, padding: Padding = .none
    ) -> Encoding {
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
        return template.assemble(a, b, addSpecialTokens: addSpecialTokens, truncation: truncation, padding: padding)
    }

    /// Adds the BERT template to pieces, after truncation, then pads (``SpecialTokenTemplate/assemble(_:_:addSpecialTokens:truncation:padding:)``).
    public func assemble(
        _ a: Pieces, _ b: Pieces?, addSpecialTokens: Bool = true,
        truncation: Truncation? = nil, padding: Padding = .none
    ) -> Encoding {
        template.assemble(a, b, addSpecialTokens: addSpecialTokens, truncation: truncation, padding: padding)
    }
}

extension Encoding {
    /// The words of the first sequence (pre-tokenizer words, or the caller's words for pre-split input), in
    /// order, each with its text (the UTF-8 span of its pieces in `text`, the text this encoding was made
    /// from) and the position of its first piece — the piece that carries the word's label in NER
    /// (first-wordpiece alignment, as HF's token-classification examples label).
    public func firstPieceWords(in text: Substring) -> [(text: String, position: Int)] {
        let utf8 = Array(text.utf8)
        var ranges: [Int: Range<Int>] = [:], first: [Int: Int] = [:]
        for (i, w) in wordIDs.enumerated() where sequenceIDs[i] == 0 {
            guard let w else { continue }
            let r = offsets[i]
            ranges[w] = ranges[w].map { min($0.lowerBound, r.lowerBound)..<max($0.upperBound, r.upperBound) } ?? r
            if first[w] == nil { first[w] = i }
        }
        return ranges.keys.sorted().map { w in
            (String(decoding: utf8[ranges[w]!.clamped(to: 0..<utf8.count)], as: UTF8.self), first[w]!)
        }
    }
}
