import SentinelCore

/// A subword tokenizer of one vocabulary family: BERT WordPiece (``BertTokenizer``), GPT-2/RoBERTa
/// byte-level BPE, SentencePiece unigram (XLM-R). Every command that tokenizes goes through this protocol,
/// so a new family is one more conforming type.
///
/// A tokenizer turns text into ``Pieces`` (vocabulary ids, UTF-8 byte offsets, word indices) without
/// special tokens; its ``template`` adds the model's special tokens (`[CLS] A [SEP]`, `<s> A </s></s> B </s>`)
/// and applies truncation and padding, giving an ``Encoding``.
///
/// Conforming types are immutable and `Sendable`: one instance serves every thread.
public protocol SubwordTokenizer: AnyObject, Sendable {
    /// Number of ids: the vocabulary plus added tokens (the embedding matrix has at least this many rows).
    var vocabularySize: Int { get }
    /// The id of a vocabulary entry or added token, spelled as stored (`##ing`, `Ġthe`, `▁the`, `[CLS]`).
    func id(of token: String) -> Int32?
    /// The stored spelling of an id (`convert_ids_to_tokens`); nil outside the vocabulary.
    func token(of id: Int32) -> String?
    /// The pieces of `text` without special tokens (HF `tokenize`, with offsets and word indices).
    func pieces(of text: String) -> Pieces
    /// The pieces of pre-split words (HF `is_split_into_words=True`, used for NER): each word is tokenized
    /// on its own and its pieces carry the word's index.
    func pieces(ofWords words: [String]) -> Pieces
    /// The special tokens of the model's template and how pairs are joined.
    var template: SpecialTokenTemplate { get }
    /// Ids the encryption scheme never hashes and never moves: the special-tokens map and added special tokens.
    var specialIDs: Set<Int32> { get }
    /// The id unknown input maps to (`[UNK]`, `<unk>`).
    var unknownID: Int32 { get }
    /// Appends the pieces of UTF-8 `text` to `out` (hot loops: no `String`, scratch memory reused). `scratch` is the
    /// calling thread's workspace, made by the tokenizer when nil. Has a default (``pieces(of:)``); see TokenizerScratch.swift.
    func append(_ text: UnsafeRawBufferPointer, word: Int32?, to out: inout Pieces, scratch: inout AnyObject?)
}

/// The post-processor of a tokenizer: the special tokens around one sequence or a pair
/// (tokenizers' `TemplateProcessing` for BERT, `RobertaProcessing` for RoBERTa and XLM-R).
public struct SpecialTokenTemplate: Sendable, Equatable {
    public enum Style: Sendable, Equatable {
        /// `[CLS] A [SEP]` and `[CLS] A [SEP] B [SEP]`; the second sequence has token type 1.
        case bert
        /// `<s> A </s>` and `<s> A </s></s> B </s>`; every token type is 0.
        case roberta
    }

    public var style: Style
    /// `[CLS]` or `<s>`.
    public var start: Int32
    /// `[SEP]` or `</s>`.
    public var end: Int32
    /// `[PAD]` or `<pad>`.
    public var pad: Int32

    public init(style: Style, start: Int32, end: Int32, pad: Int32) {
        self.style = style
        self.start = start
        self.end = end
        self.pad = pad
    }

    /// How many special tokens the template adds to one sequence (`pair == false`) or a pair.
    public func addedCount(pair: Bool) -> Int {
        switch style {
        case .bert: return pair ? 3 : 2
        case .roberta: return pair ? 4 : 2
        }
    }

    /// Adds the template to pieces after truncation, then pads, as HF `tokenizer(text, pair)` does.
    /// - Parameters:
    ///   - addSpecialTokens: false gives the bare pieces (then `truncation` counts no special tokens).
    ///   - truncation: nil (no truncation, the HF default) or a strategy with a maximum length.
    public func assemble(
        _ a: Pieces, _ b: Pieces?, addSpecialTokens: Bool = true,
        truncation: Truncation? = nil, padding: Padding = .none
    ) -> Encoding {
        var keepA = a.count
        var keepB = b?.count ?? 0
        if let truncation {
            let added = addSpecialTokens ? addedCount(pair: b != nil) : 0
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
        let secondType: Int32 = style == .bert ? 1 : 0
        var e = Encoding()
        e.truncatedPieces = a.count - keepA + (b?.count ?? 0) - keepB
        e.inputIDs.reserveCapacity(keepA + keepB + (addSpecialTokens ? addedCount(pair: b != nil) : 0))
        if addSpecialTokens { e.append(start, type: 0) }
        for i in 0..<keepA {
            e.append(a.ids[i], type: 0, offset: Int(a.starts[i])..<Int(a.ends[i]), word: Int(a.words[i]), sequence: 0)
        }
        if addSpecialTokens { e.append(end, type: 0) }
        if let b {
            if addSpecialTokens && style == .roberta { e.append(end, type: 0) }
            for i in 0..<keepB {
                e.append(b.ids[i], type: secondType, offset: Int(b.starts[i])..<Int(b.ends[i]), word: Int(b.words[i]), sequence: 1)
            }
            if addSpecialTokens { e.append(end, type: secondType) }
        }
        if case let .toLength(n) = padding { e.pad(to: n, padID: pad) }
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

extension SubwordTokenizer {
    /// The spellings of ids (`convert_ids_to_tokens`); an id outside the vocabulary gives "".
    public func tokens(_ ids: some Sequence<Int32>) -> [String] {
        ids.map { token(of: $0) ?? "" }
    }

    /// The piece spellings of `text`, without special tokens (HF `tokenize`).
    public func tokenize(_ text: String) -> [String] {
        tokens(pieces(of: text).ids)
    }

    /// The pieces of pre-split words for labelling (NER): as ``pieces(ofWords:)``, except that a word that
    /// yields no piece (it normalizes to nothing, e.g. a lone zero-width space) gets one unknown piece, so that
    /// every word keeps a position for its label. Offsets are relative to each word.
    public func labelPieces(ofWords words: [String]) -> Pieces {
        var out = Pieces()
        for (index, word) in words.enumerated() {
            let p = pieces(ofWords: [word])
            if p.count == 0 {
                out.append(unknownID, 0, Int32(word.utf8.count), Int32(index))
            } else {
                for i in 0..<p.count { out.append(p.ids[i], p.starts[i], p.ends[i], Int32(index)) }
            }
        }
        return out
    }

    /// Encodes one text or a pair with the model's template, as HF's `tokenizer(text, pair)`.
    public func encode(
        _ text: String, pair: String? = nil, addSpecialTokens: Bool = true,
        truncation: Truncation? = nil, padding: Padding = .none
    ) -> Encoding {
        template.assemble(
            pieces(of: text), pair.map { pieces(of: $0) }, addSpecialTokens: addSpecialTokens,
            truncation: truncation, padding: padding)
    }

    /// Encodes pre-split words (HF `is_split_into_words=True`); pieces carry their word's index in
    /// ``Encoding/wordIDs``. Used for NER.
    public func encode(
        words: [String], addSpecialTokens: Bool = true, truncation: Truncation? = nil,
        padding: Padding = .none
    ) -> Encoding {
        template.assemble(
            pieces(ofWords: words), nil, addSpecialTokens: addSpecialTokens,
            truncation: truncation, padding: padding)
    }

    /// Encodes texts (or pairs, `(text, pair)`) and pads every row to the longest one.
    public func encodeBatch(_ inputs: [(String, String?)], truncation: Truncation? = nil, padToLongest: Bool = true) -> [Encoding] {
        var rows = inputs.map { encode($0.0, pair: $0.1, truncation: truncation) }
        if padToLongest, let longest = rows.map(\.count).max() {
            for i in rows.indices { rows[i].pad(to: longest, padID: template.pad) }
        }
        return rows
    }
}

/// Loads the tokenizer of a HuggingFace model directory, whatever its vocabulary family.
public enum Tokenizers {
    /// The tokenizer `AutoTokenizer.from_pretrained(directory)` would give, by `tokenizer.json`'s `model.type`
    /// or, without tokenizer.json, by the vocabulary files:
    /// * `BPE`, or `vocab.json` + `merges.txt`: byte-level BPE, GPT-2/RoBERTa (``ByteLevelBPETokenizer/load(directory:)``);
    /// * `Unigram`, or `sentencepiece.bpe.model` / `spiece.model` / `sentencepiece.model`: SentencePiece unigram, XLM-R
    ///   (``UnigramTokenizer/load(directory:)``);
    /// * `WordLevel` (the digest tokenizer `convert` writes for an adapted byte-level model, ``WordLevelTokenizer``);
    /// * otherwise BERT WordPiece (``BertTokenizer/load(directory:)``), from `tokenizer.json` or `vocab.txt`.
    ///
    /// A directory with `vocab.txt` and no `vocab.json` is WordPiece without parsing its tokenizer.json.
    /// - Throws: ``InputError`` naming the file and key when the directory holds no tokenizer Sentinel reads
    ///   (`not_json` for a malformed tokenizer.json, the family loader's errors); ``OutputError`` for I/O.
    public static func load(directory: String) throws -> any SubwordTokenizer {
        let dir = directory.count > 1 && directory.hasSuffix("/") ? String(directory.dropLast()) : directory
        let wordPieceFiles = isRegularFile(dir + "/vocab.txt") && !isRegularFile(dir + "/vocab.json")
        if !wordPieceFiles && isRegularFile(dir + "/tokenizer.json") {
            switch try JSONValue.read(file: dir + "/tokenizer.json")["model"]?["type"]?.stringValue {
            case "BPE": return try ByteLevelBPETokenizer.load(directory: dir)
            case "Unigram": return try UnigramTokenizer.load(directory: dir)
            case "WordLevel": return try WordLevelTokenizer.load(tokenizerJSON: dir + "/tokenizer.json")
            default: return try BertTokenizer.load(directory: dir)
            }
        }
        if !wordPieceFiles {
            if isRegularFile(dir + "/vocab.json") && isRegularFile(dir + "/merges.txt") { return try ByteLevelBPETokenizer.load(directory: dir) }
            for name in UnigramTokenizer.modelFileNames where isRegularFile(dir + "/" + name) {
                return try UnigramTokenizer.load(directory: dir)
            }
        }
        return try BertTokenizer.load(directory: dir)
    }
}
