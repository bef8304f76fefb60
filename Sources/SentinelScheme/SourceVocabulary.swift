import SentinelCore
import SentinelFormats
import SentinelTokenizer

/// The vocabulary of the model being adapted, with the files it came from and the files the adapted model gets.
///
/// Three families: BERT WordPiece (`vocab.txt`, one token per line), GPT-2/RoBERTa byte-level BPE (`vocab.json`,
/// token → id, with `merges.txt` or tokenizer.json `model.merges`) and SentencePiece unigram (XLM-R: a `Unigram`
/// tokenizer.json or `sentencepiece.bpe.model`, fairseq ids). Tokens are stored spellings: `##ing`, `Ġthe`, `▁the`.
/// The seed scheme treats all alike (`../shared/docs/SCHEME.md`): each non-special token's keyed digest of its
/// stored spelling, the same id mapping. What differs is the adapted tokenizer (see
/// ``adaptedTokenizerJSON(original:tokens:specials:unknown:cls:sep:)`` and ``UnigramVocabularyAdaptation``).
public struct SourceVocabulary: Sendable {
    public enum Family: String, Sendable {
        case wordPiece = "wordpiece"
        case byteLevelBPE = "byte_level_bpe"
        case unigram = "unigram"
    }

    public let family: Family
    /// Tokens by id.
    public let vocabulary: WordPieceVocabulary
    /// The file the tokens were read from (`vocab.txt`, `vocab.json`, tokenizer.json's `model.vocab`, or the `.model`).
    public let path: String
    /// The loaded tokenizer of a ``Family/unigram`` vocabulary (its pieces are ``vocabulary``), else nil.
    public let unigram: UnigramTokenizer?

    /// Reads the vocabulary of a model directory: WordPiece from `vocab.txt`, or from a `WordPiece` tokenizer.json
    /// when there is no vocab.txt (``WordPieceVocabulary/read(modelDirectory:)``); byte-level BPE from `vocab.json`
    /// (else tokenizer.json's `model.vocab` of a `BPE` model). A directory with vocab.txt is WordPiece. Byte-level
    /// tokens are checked here (ids `0..<n` once each, no empty token); the converter checks WordPiece tokens with
    /// ``WordPieceVocabulary/checkForAdaptation(path:)``. Unigram: a directory with neither vocab.txt nor vocab.json
    /// whose tokenizer.json model is `Unigram`, or that has a SentencePiece `.model` (``UnigramTokenizer/load(directory:)``);
    /// the pieces in id order (XLM-R's fairseq ids, `<mask>` last).
    /// - Throws: ``InputError``: no vocabulary file (`missing`), ids that are not `0..<n` once each, an empty or
    ///   repeated token, a byte-order mark (`invalid_structure`, naming the file and token or line); the unigram
    ///   loader's errors.
    public init(directory dir: ModelDirectory) throws {
        if !dir.has("vocab.txt") {
            if dir.has("vocab.json") {
                unigram = nil
                family = .byteLevelBPE
                path = dir.file("vocab.json")
                vocabulary = try Self.tokens(ofMap: try JSONValue.read(file: path), file: path, key: nil)
                return
            }
            let json = dir.has("tokenizer.json") ? try JSONValue.read(file: dir.file("tokenizer.json")) : nil
            if let json, json["model"]?["type"]?.stringValue == "BPE", let map = json["model"]?["vocab"] {
                unigram = nil
                family = .byteLevelBPE
                path = dir.file("tokenizer.json")
                vocabulary = try Self.tokens(ofMap: map, file: path, key: "model.vocab")
                return
            }
            let modelFile = UnigramTokenizer.modelFileNames.first(where: dir.has)
            if json?["model"]?["type"]?.stringValue == "Unigram" || (json == nil && modelFile != nil) {
                let t = try UnigramTokenizer.load(directory: dir.path)
                family = .unigram
                path = json != nil ? dir.file("tokenizer.json") : dir.file(modelFile!)
                vocabulary = WordPieceVocabulary(tokens: t.model.pieces, continuingSubwordPrefix: "")
                unigram = t
                return
            }
        }
        unigram = nil
        family = .wordPiece
        (vocabulary, path) = try WordPieceVocabulary.read(modelDirectory: dir.path)
    }

    /// Tokens of a JSON object token → id whose ids are `0..<n`, each once.
    static func tokens(ofMap json: JSONValue, file: String, key: String?) throws -> WordPieceVocabulary {
        guard let entries = json.objectValue else {
            throw InputError(.invalidStructure, file: file, key: key, "the vocabulary is not a JSON object of token → id")
        }
        guard !entries.isEmpty else { throw InputError(.missing, file: file, key: key, "the vocabulary is empty") }
        var tokens = [String?](repeating: nil, count: entries.count)
        for (token, value) in entries {
            guard let id = value.intValue, id >= 0, id < entries.count else {
                throw InputError(
                    .invalidStructure, file: file, key: token,
                    "id \(value.serialized()) is outside 0..<\(entries.count)")
            }
            if let other = tokens[id] {
                throw InputError(
                    .invalidStructure, file: file, key: token,
                    "shares id \(id) with \(JSONValue.string(other).serialized()) (or the key is repeated)")
            }
            if token.isEmpty { throw InputError(.invalidStructure, file: file, key: "", "a token cannot be empty") }
            tokens[id] = token
        }
        if let gap = tokens.firstIndex(where: { $0 == nil }) {
            throw InputError(.invalidStructure, file: file, key: key, "no token has id \(gap)")
        }
        return WordPieceVocabulary(tokens: tokens.map { $0! }, continuingSubwordPrefix: "")
    }

    /// The adapted `vocab.json`: digest (or special token) → adapted id, in id order (`tokens[id]`), as the
    /// reference converter's (which writes the same pairs in a hash-map order that changes run to run).
    public static func vocabJSON(_ tokens: [String]) -> String {
        JSONValue.object(tokens.enumerated().map { ($0.element, .int(Int64($0.offset))) }).serialized() + "\n"
    }

    /// The adapted byte-level tokenizer.json: a `WordLevel` model over the adapted vocabulary (`tokens[id]`, unknown
    /// → the original `unk_token`), a `WhitespaceSplit` pre-tokenizer (the client sends space-separated digests), no
    /// normalizer and no decoder (tokens join with spaces). The post-processor (`RobertaProcessing` with the special
    /// ids, which the scheme never moves), `added_tokens`, `truncation` and `padding` are kept from `original`.
    /// No merge, byte-level token or piece of the original vocabulary is written (the reference converter keeps
    /// every merge, which names 7,995 of 7,995 tokens and does not load: `Formats/tokenizer-bpe.md`).
    /// - Parameters:
    ///   - original: the input's tokenizer.json, or nil to build one (post-processor from the special tokens).
    ///   - specials: the special tokens with their ids, `<unk>`, `<s>`, `</s>` among them for RoBERTa.
    public static func adaptedTokenizerJSON(
        original: JSONValue?, tokens: [String], specials: [(String, Int)],
        unknown: String, cls: String, sep: String
    ) -> String {
        let model = JSONValue.object([
            ("type", .string("WordLevel")),
            ("vocab", .object(tokens.enumerated().map { ($0.element, .int(Int64($0.offset))) })),
            ("unk_token", .string(unknown)),
        ])
        let pre = JSONValue.object([("type", .string("WhitespaceSplit"))])
        var out: JSONValue
        if let original {
            out = original
        } else {
            let id = Dictionary(specials, uniquingKeysWith: { a, _ in a })
            out = .object([
                ("version", .string("1.0")), ("truncation", .null), ("padding", .null),
                (
                    "added_tokens",
                    .array(
                        specials.map { token, i in
                            .object([
                                ("id", .int(Int64(i))), ("content", .string(token)), ("single_word", .bool(false)),
                                ("lstrip", .bool(false)), ("rstrip", .bool(false)), ("normalized", .bool(false)),
                                ("special", .bool(true)),
                            ])
                        })
                ),
                (
                    "post_processor",
                    .object([
                        ("type", .string("RobertaProcessing")),
                        ("sep", .array([.string(sep), .int(Int64(id[sep] ?? 2))])),
                        ("cls", .array([.string(cls), .int(Int64(id[cls] ?? 0))])),
                        ("trim_offsets", .bool(true)), ("add_prefix_space", .bool(false)),
                    ])
                ),
            ])
        }
        out = out.setting("normalizer", to: .null).setting("pre_tokenizer", to: pre)
            .setting("decoder", to: .null).setting("model", to: model)
        return out.serialized(.pretty) + "\n"
    }

    /// The adapted tokenizer_config.json of a byte-level model: the input's, with `tokenizer_class`
    /// `PreTrainedTokenizerFast` so that transformers (4 and 5) builds the tokenizer from tokenizer.json instead of
    /// rebuilding byte-level BPE from vocab.json + merges (`RobertaTokenizer` would map every digest to nothing),
    /// and without `add_prefix_space`/`trim_offsets`/`errors` (byte-level options the digest tokenizer has not).
    public static func adaptedTokenizerConfig(_ original: JSONValue?) -> String {
        guard case var .object(members) = original ?? .object([]) else { return "{}\n" }
        members.removeAll { ["add_prefix_space", "trim_offsets", "errors", "tokenizer_file", "vocab_file", "merges_file"].contains($0.0) }
        var out = JSONValue.object(members)
        out = out.setting("tokenizer_class", to: .string("PreTrainedTokenizerFast"))
        return out.serialized(.pretty) + "\n"
    }
}
