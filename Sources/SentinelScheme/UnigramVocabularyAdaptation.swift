import SentinelCore
import SentinelTokenizer

/// The vocabulary side of the `seed` scheme for a SentencePiece unigram tokenizer (XLM-R): which entries are
/// hashed, their new ids, and the adapted tokenizer files. The embedding side (glide, row permutation) is the
/// same as for BERT (``SeedScheme``, ``EmbeddingTransform``).
///
/// What is hashed is what the authors' converter hashes (`llm_converter.py`, the `vocab_files_names` branch
/// with `sentencepiece.bpe.model`; pinned by `../shared/fixtures/xlmr/seed-converter-llm123/vocab.json`):
/// every vocabulary entry that is not a value of the special-tokens map, spelled as stored, so the pieces
/// keep their `▁` (`blake2b("▁the")`); the specials (`<s>` `<pad>` `</s>` `<unk>` `<mask>`) keep their text
/// and their ids. New ids are ``SeedScheme/mapping(vocabSize:specialIDs:seed:shuffle:)``.
///
/// The adapted `tokenizer.json` differs from the reference's, which does not load (it writes the Unigram
/// `model.vocab` as a `{digest: id}` map; tokenizers wants a list of `[piece, score]`). Sentinel writes a
/// Unigram model whose vocabulary is the digests in new-id order, no normalizer, and the pre-tokenizer
/// `WhitespaceSplit` + `Metaspace(prepend_scheme: never)`, so that space-separated digests map to their ids
/// (a 32-character digest can only be matched whole; an unknown one becomes `<unk>`). Every score is written
/// as 0: the original scores are public (they ship with the model), so keeping them per digest would tell an
/// attacker which piece each digest stands for. `tokenizer_config.json` gets `add_prefix_space: false`, which
/// transformers 5's `XLMRobertaTokenizer` reads to build that pre-tokenizer. No plaintext piece, score or
/// `.model` file is written; non-special added tokens (SentencePiece user-defined pieces) are hashed like
/// pieces and left out of `added_tokens`. Notes: `Formats/sentencepiece.md`.
public enum UnigramVocabularyAdaptation {
    /// The original tokenizer, as plain values (``init(tokenizer:specialTokens:)`` takes them from a `UnigramTokenizer`).
    public struct Source: Sendable {
        /// Piece of each id (tokenizers' `model.vocab` order, XLM-R fairseq ids), `[vocab]`.
        public var pieces: [String]
        /// The ids never hashed and never moved: the special-tokens map.
        public var specialIDs: Set<Int>
        /// tokenizers' `unk_id`.
        public var unknownID: Int
        /// Added tokens kept in the adapted tokenizer.json: the special ones, with their match options.
        public var specialAddedTokens: [(content: String, id: Int, lstrip: Bool, rstrip: Bool)]
        /// The template's start (`<s>`) and end (`</s>`) token ids.
        public var startID: Int
        public var endID: Int

        public init(
            pieces: [String], specialIDs: Set<Int>, unknownID: Int,
            specialAddedTokens: [(content: String, id: Int, lstrip: Bool, rstrip: Bool)], startID: Int, endID: Int
        ) {
            self.pieces = pieces
            self.specialIDs = specialIDs
            self.unknownID = unknownID
            self.specialAddedTokens = specialAddedTokens
            self.startID = startID
            self.endID = endID
        }
    }

    /// The adapted vocabulary.
    public struct Adapted: Sendable {
        /// Token of each new id: a 32-hex digest, or a special token's text. `[vocab]`.
        public var tokens: [String]
        /// `mapping[old id] = new id` (an involution).
        public var mapping: [Int]
        public var unknownID: Int
        public var specialAddedTokens: [(content: String, id: Int, lstrip: Bool, rstrip: Bool)]
        public var startID: Int
        public var endID: Int
    }

    /// Hashes and re-numbers the vocabulary.
    /// - Parameters:
    ///   - file: names the tokenizer file in errors.
    ///   - mapping: ``SeedScheme/mapping(vocabSize:specialIDs:seed:shuffle:)`` for `source.pieces.count` ids.
    /// - Throws: ``InputError`` (`invalid_structure`, key `model.vocab[i]`) when a piece is empty or repeats an
    ///   earlier one (two ids would get one digest), or when `mapping` does not have one entry per piece.
    public static func adapt(_ source: Source, hasher: TokenHasher, mapping: [Int], file: String) throws -> Adapted {
        var seen: [String: Int] = [:]
        seen.reserveCapacity(source.pieces.count)
        for (i, piece) in source.pieces.enumerated() {
            if piece.isEmpty { throw InputError(.invalidStructure, file: file, key: "model.vocab[\(i)]", "an empty piece cannot be hashed") }
            if let first = seen.updateValue(i, forKey: piece) {
                throw InputError(.invalidStructure, file: file, key: "model.vocab[\(i)]", "piece repeats model.vocab[\(first)]")
            }
        }
        guard mapping.count == source.pieces.count else {
            throw InputError(
                .invalidStructure, file: file, key: "model.vocab", "the id mapping has \(mapping.count) entries for \(source.pieces.count) pieces")
        }
        let hashed = hasher.hexDigests(of: source.pieces, keeping: source.specialIDs)
        var tokens = [String](repeating: "", count: hashed.count)
        for (old, new) in mapping.enumerated() { tokens[new] = hashed[old] }
        return Adapted(
            tokens: tokens, mapping: mapping, unknownID: mapping[source.unknownID],
            specialAddedTokens: source.specialAddedTokens.map { ($0.content, mapping[$0.id], $0.lstrip, $0.rstrip) },
            startID: mapping[source.startID], endID: mapping[source.endID])
    }
}

extension UnigramVocabularyAdaptation.Adapted {
    /// `vocab.json` as the reference writes it: `{token: new id}` (here in id order).
    public var vocabJSON: JSONValue {
        .object(tokens.enumerated().map { ($0.element, .int(Int64($0.offset))) })
    }

    /// The adapted `tokenizer.json` (see ``UnigramVocabularyAdaptation``): loads with tokenizers and
    /// transformers 5, and maps space-separated digests to their new ids.
    public var tokenizerJSON: JSONValue {
        let metaspace = JSONValue.object([
            ("type", .string("Metaspace")), ("replacement", .string("\u{2581}")),
            ("prepend_scheme", .string("never")), ("split", .bool(true)),
        ])
        func special(_ id: Int) -> JSONValue {
            .object([("SpecialToken", .object([("id", .string(tokens[id])), ("type_id", .int(0))]))])
        }
        func sequence(_ name: String) -> JSONValue {
            .object([("Sequence", .object([("id", .string(name)), ("type_id", .int(0))]))])
        }
        let post = JSONValue.object([
            ("type", .string("TemplateProcessing")),
            ("single", .array([special(startID), sequence("A"), special(endID)])),
            ("pair", .array([special(startID), sequence("A"), special(endID), special(endID), sequence("B"), special(endID)])),
            (
                "special_tokens",
                .object(
                    [startID, endID].map { id in
                        (
                            tokens[id],
                            .object([("id", .string(tokens[id])), ("ids", .array([.int(Int64(id))])), ("tokens", .array([.string(tokens[id])]))])
                        )
                    })
            ),
        ])
        return .object([
            ("version", .string("1.0")),
            ("truncation", .null),
            ("padding", .null),
            (
                "added_tokens",
                .array(
                    specialAddedTokens.sorted { $0.id < $1.id }.map { t in
                        .object([
                            ("id", .int(Int64(t.id))), ("content", .string(t.content)), ("single_word", .bool(false)),
                            ("lstrip", .bool(t.lstrip)), ("rstrip", .bool(t.rstrip)), ("normalized", .bool(false)), ("special", .bool(true)),
                        ])
                    })
            ),
            ("normalizer", .null),
            (
                "pre_tokenizer",
                .object([("type", .string("Sequence")), ("pretokenizers", .array([.object([("type", .string("WhitespaceSplit"))]), metaspace]))])
            ),
            ("post_processor", post),
            ("decoder", metaspace),
            (
                "model",
                .object([
                    ("type", .string("Unigram")),
                    ("unk_id", .int(Int64(unknownID))),
                    ("vocab", .array(tokens.map { .array([.string($0), .double(0, text: "0.0")]) })),
                    ("byte_fallback", .bool(false)),
                ])
            ),
        ])
    }

    /// The adapted `tokenizer_config.json`: the original's members, with `add_prefix_space` set to false (the
    /// digests carry their own `▁`); entries naming non-special added tokens (`extra_special_tokens`,
    /// `additional_special_tokens`, `added_tokens_decoder`) are filtered to the special tokens kept.
    public func tokenizerConfig(original: JSONValue?) -> JSONValue {
        let keep = Set(specialAddedTokens.map(\.content))
        var config = original ?? .object([("tokenizer_class", .string("XLMRobertaTokenizer"))])
        for key in ["extra_special_tokens", "additional_special_tokens"] {
            if let list = config[key]?.arrayValue {
                config = config.setting(key, to: .array(list.filter { ($0.stringValue ?? $0["content"]?.stringValue).map(keep.contains) ?? false }))
            }
        }
        if let decoder = config["added_tokens_decoder"]?.objectValue {
            config = config.setting(
                "added_tokens_decoder",
                to: .object(
                    decoder.compactMap { key, value in
                        guard let content = value["content"]?.stringValue, keep.contains(content),
                            let t = specialAddedTokens.first(where: { $0.content == content })
                        else { return nil }
                        return (String(t.id), value)
                    }))
        }
        return config.setting("add_prefix_space", to: .bool(false))
    }
}

extension UnigramVocabularyAdaptation.Source {
    /// The source of a loaded original tokenizer.
    /// - Parameter specialTokens: the special-tokens map's values (`SpecialTokensMap.read(directory:).all`), the
    ///   tokens the scheme never hashes (SCHEME.md step 2); those not in the vocabulary are ignored.
    public init(tokenizer t: UnigramTokenizer, specialTokens: [String]) {
        self.init(
            pieces: t.model.pieces, specialIDs: Set(specialTokens.compactMap { t.id(of: $0).map(Int.init) }),
            unknownID: Int(t.unknownID),
            specialAddedTokens: t.addedTokens.filter(\.special).map {
                ($0.content, Int($0.id), t.addedTokenStripping[$0.id]?.left ?? false, t.addedTokenStripping[$0.id]?.right ?? false)
            },
            startID: Int(t.template.start), endID: Int(t.template.end))
    }
}
