import SentinelCore

/// HuggingFace's `WordLevel` model with the `WhitespaceSplit` pre-tokenizer: each whitespace-separated word is
/// one token of the vocabulary, or the unknown token. This is the tokenizer Sentinel writes for an adapted
/// byte-level BPE model (`convert`): its vocabulary is the digests, so space-separated digests (the output of
/// `sentinel encrypt`) map to the adapted ids; upper-case hex is taken as the same digest.
///
/// Immutable and `Sendable`. Template: the tokenizer.json `RobertaProcessing` (`<s> A </s></s> B </s>`).
public final class WordLevelTokenizer: @unchecked Sendable {
    public let vocabulary: WordPieceVocabulary
    public let added: [AddedToken]
    public let template: SpecialTokenTemplate
    public let specialIDs: Set<Int32>
    public let unknownID: Int32

    public init(vocabulary: WordPieceVocabulary, added: [AddedToken], template: SpecialTokenTemplate, unknownID: Int32) {
        self.vocabulary = vocabulary
        self.added = added
        self.template = template
        self.unknownID = unknownID
        specialIDs = Set(added.filter(\.special).map(\.id))
    }

    /// Loads a `tokenizer.json` whose model is `WordLevel` and pre-tokenizer `WhitespaceSplit` (or `Whitespace`
    /// absent), with a `RobertaProcessing` post-processor.
    /// - Throws: ``InputError`` naming the file and key: another model, pre-tokenizer or post-processor, a missing
    ///   `unk_token`, ids that are not `0..<n` once each.
    public static func load(tokenizerJSON path: String) throws -> WordLevelTokenizer {
        let json = try JSONValue.read(file: path)
        guard let model = json["model"], model["type"]?.stringValue == "WordLevel" else {
            throw InputError(
                .unknownFormat, file: path, key: "model.type",
                "model type \(json["model"]?["type"]?.serialized() ?? "null") is not WordLevel")
        }
        if let pre = json["pre_tokenizer"], pre != .null, pre["type"]?.stringValue != "WhitespaceSplit" {
            throw InputError(
                .unknownFormat, file: path, key: "pre_tokenizer.type",
                "pre-tokenizer \(pre["type"]?.serialized() ?? "null") is not supported with WordLevel (WhitespaceSplit only)")
        }
        if let n = json["normalizer"], n != .null {
            throw InputError(.unknownFormat, file: path, key: "normalizer.type", "a normalizer is not supported with WordLevel")
        }
        guard let vocabJSON = model["vocab"] else {
            throw InputError(.missing, file: path, key: "model.vocab", "tokenizer.json has no model.vocab")
        }
        let vocabulary = try WordPieceVocabulary.fromTokenizerJSON(vocabJSON, file: path, prefix: "")
        var added: [AddedToken] = []
        for (index, entry) in (json["added_tokens"]?.arrayValue ?? []).enumerated() {
            guard let content = entry["content"]?.stringValue, let id = entry["id"]?.intValue, id >= 0, id <= Int(Int32.max) else {
                throw InputError(.invalidStructure, file: path, key: "added_tokens[\(index)]", "an added token needs a string content and an id")
            }
            added.append(AddedToken(content: content, id: Int32(id), special: entry["special"]?.boolValue ?? false))
        }
        guard let unk = model["unk_token"]?.stringValue, let unkID = vocabulary.id(of: unk) else {
            throw InputError(.missing, file: path, key: "model.unk_token", "WordLevel needs an unk_token that is in the vocabulary")
        }
        let post = json["post_processor"] ?? .null
        guard post["type"]?.stringValue == "RobertaProcessing",
            let cls = post["cls"]?.arrayValue, cls.count == 2, let clsID = cls[1].intValue,
            let sep = post["sep"]?.arrayValue, sep.count == 2, let sepID = sep[1].intValue
        else {
            throw InputError(
                .unknownFormat, file: path, key: "post_processor",
                "a RobertaProcessing post-processor with cls and sep as [token, id] is required")
        }
        let padID = vocabulary.id(of: "<pad>") ?? added.first { $0.content == "<pad>" }?.id ?? unkID
        return WordLevelTokenizer(
            vocabulary: vocabulary, added: added,
            template: SpecialTokenTemplate(style: .roberta, start: Int32(clsID), end: Int32(sepID), pad: padID),
            unknownID: unkID)
    }
}

extension WordLevelTokenizer: SubwordTokenizer {
    public var vocabularySize: Int { max(vocabulary.count, (added.map { Int($0.id) }.max() ?? -1) + 1) }

    public func id(of token: String) -> Int32? {
        vocabulary.id(of: token) ?? added.first { $0.content == token }?.id
    }

    public func token(of id: Int32) -> String? {
        if Int(id) >= 0 && Int(id) < vocabulary.count { return vocabulary.tokens[Int(id)] }
        return added.first { $0.id == id }?.content
    }

    /// One piece per whitespace-separated word (the words of `WhitespaceSplit`: runs of non-whitespace).
    public func pieces(of text: String) -> Pieces {
        var out = Pieces()
        var word: Int32 = 0
        var start = 0, i = 0
        let bytes = Array(text.utf8)
        func flush(_ end: Int) {
            guard end > start else { return }
            var t = String(decoding: bytes[start..<end], as: UTF8.self)
            if end - start == 32,
                bytes[start..<end].allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x46) || ($0 >= 0x61 && $0 <= 0x66) })
            {
                t = t.lowercased()
            }
            out.append(id(of: t) ?? unknownID, Int32(start), Int32(end), word)
            word += 1
        }
        for s in text.unicodeScalars {
            let n = UTF8.width(s)
            if s.properties.isWhitespace {
                flush(i)
                start = i + n
            }
            i += n
        }
        flush(i)
        return out
    }

    public func pieces(ofWords words: [String]) -> Pieces {
        var out = Pieces()
        for (index, w) in words.enumerated() {
            let p = pieces(of: w)
            for k in 0..<p.count { out.append(p.ids[k], p.starts[k], p.ends[k], Int32(index)) }
        }
        return out
    }
}
