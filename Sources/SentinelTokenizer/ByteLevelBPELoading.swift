import SentinelCore

extension ByteLevelBPETokenizer {
    /// Whether a model directory holds a byte-level BPE tokenizer: `tokenizer.json` with a `BPE` model, or
    /// (without tokenizer.json) `vocab.json` + `merges.txt`.
    public static func isPresent(inDirectory directory: String) -> Bool {
        let dir = trimmed(directory)
        // A WordPiece directory (vocab.txt, no vocab.json) is known without parsing its tokenizer.json.
        if isRegularFile(dir + "/vocab.txt") && !isRegularFile(dir + "/vocab.json") { return false }
        if isRegularFile(dir + "/tokenizer.json") {
            guard let json = try? JSONValue.read(file: dir + "/tokenizer.json") else { return false }
            return json["model"]?["type"]?.stringValue == "BPE"
        }
        return isRegularFile(dir + "/vocab.json") && isRegularFile(dir + "/merges.txt")
    }

    /// Loads the tokenizer of a HuggingFace RoBERTa/GPT-2-style directory, as `AutoTokenizer.from_pretrained`
    /// does: `tokenizer.json` when present (vocabulary, merges, `ByteLevel` options, `added_tokens`,
    /// `RobertaProcessing`); otherwise `vocab.json` + `merges.txt` with `tokenizer_config.json`
    /// (`add_prefix_space`, `trim_offsets`, special tokens, `added_tokens_decoder`) and
    /// `special_tokens_map.json`, as `RobertaTokenizer` builds them (`<mask>` with `lstrip`).
    /// The `truncation` and `padding` stored in tokenizer.json are ignored, as transformers does.
    /// - Throws: ``InputError`` naming the file, key and (for merges.txt) byte offset: a missing file, an
    ///   unsupported normalizer/pre-tokenizer/post-processor/model option, a merge naming an unknown token,
    ///   a special token not in the vocabulary; ``OutputError`` when a file can't be read.
    public static func load(directory: String) throws -> ByteLevelBPETokenizer {
        let dir = trimmed(directory)
        _ = try directoryEntries(dir)
        var config = SpecialConfig()
        if isRegularFile(dir + "/tokenizer_config.json") { config.read(try JSONValue.read(file: dir + "/tokenizer_config.json")) }
        if isRegularFile(dir + "/special_tokens_map.json") { config.read(try JSONValue.read(file: dir + "/special_tokens_map.json")) }
        if isRegularFile(dir + "/tokenizer.json") {
            return try load(tokenizerJSON: dir + "/tokenizer.json", config: config)
        }
        guard isRegularFile(dir + "/vocab.json") else {
            throw InputError(.missing, file: dir, "neither tokenizer.json nor vocab.json is in the directory")
        }
        guard isRegularFile(dir + "/merges.txt") else {
            throw InputError(.missing, file: dir + "/merges.txt", "vocab.json needs merges.txt beside it")
        }
        return try load(vocabJSON: dir + "/vocab.json", mergesTxt: dir + "/merges.txt", config: config)
    }

    /// The special tokens and options of `tokenizer_config.json` / `special_tokens_map.json`.
    public struct SpecialConfig: Sendable {
        public var bos = "<s>", eos = "</s>", unk = "<unk>", sep = "</s>", cls = "<s>", pad = "<pad>"
        public var mask: String? = "<mask>"
        public var additional: [String] = []
        public var addPrefixSpace: Bool?
        public var trimOffsets: Bool?
        /// `added_tokens_decoder` entries: id → (content, lstrip, rstrip, special).
        public var decoder: [(Int32, Added)] = []
        public init() {}

        mutating func read(_ json: JSONValue) {
            func value(_ key: String) -> String? {
                guard let v = json[key] else { return nil }
                return v.stringValue ?? v["content"]?.stringValue
            }
            if let v = value("bos_token") { bos = v }
            if let v = value("eos_token") { eos = v }
            if let v = value("unk_token") { unk = v }
            if let v = value("sep_token") { sep = v }
            if let v = value("cls_token") { cls = v }
            if let v = value("pad_token") { pad = v }
            if let v = value("mask_token") { mask = v }
            if let list = json["additional_special_tokens"]?.arrayValue {
                additional = list.compactMap { $0.stringValue ?? $0["content"]?.stringValue }
            }
            if let v = json["add_prefix_space"]?.boolValue { addPrefixSpace = v }
            if let v = json["trim_offsets"]?.boolValue { trimOffsets = v }
            if let d = json["added_tokens_decoder"]?.objectValue {
                decoder = d.compactMap { key, entry in
                    guard let id = Int32(key), let content = entry["content"]?.stringValue else { return nil }
                    return (
                        id,
                        Added(
                            AddedToken(content: content, id: id, special: entry["special"]?.boolValue ?? false),
                            lstrip: entry["lstrip"]?.boolValue ?? false, rstrip: entry["rstrip"]?.boolValue ?? false)
                    )
                }
            }
        }

        /// Every special token of the map (bos, eos, unk, sep, cls, pad, mask, additional), each once.
        public var all: [String] {
            var out: [String] = []
            for t in [bos, eos, unk, sep, cls, pad] + (mask.map { [$0] } ?? []) + additional where !out.contains(t) { out.append(t) }
            return out
        }
    }

    /// Loads `tokenizer.json` with a `BPE` model, `ByteLevel` pre-tokenizer (or a `Sequence` holding only one),
    /// no normalizer, and a `RobertaProcessing` post-processor (or none: then the template is built from
    /// `config`'s `cls_token`/`sep_token`).
    public static func load(tokenizerJSON path: String, config: SpecialConfig = SpecialConfig()) throws -> ByteLevelBPETokenizer {
        let json = try JSONValue.read(file: path)
        guard let model = json["model"], model["type"]?.stringValue == "BPE" else {
            throw InputError(
                .unknownFormat, file: path, key: "model.type",
                "model type \(json["model"]?["type"]?.serialized() ?? "null") is not BPE")
        }
        if let n = json["normalizer"], n != .null {
            throw InputError(
                .unknownFormat, file: path, key: "normalizer.type",
                "normalizer \(n["type"]?.serialized() ?? "null") is not supported with byte-level BPE (null only)")
        }
        var pre = json["pre_tokenizer"] ?? .null
        if pre["type"]?.stringValue == "Sequence", let list = pre["pretokenizers"]?.arrayValue, list.count == 1 { pre = list[0] }
        guard pre["type"]?.stringValue == "ByteLevel" else {
            throw InputError(
                .unknownFormat, file: path, key: "pre_tokenizer.type",
                "pre-tokenizer \(pre["type"]?.serialized() ?? "null") is not supported (ByteLevel only)")
        }
        for key in ["dropout"] where model[key] != nil && model[key] != .null {
            throw InputError(.unknownFormat, file: path, key: "model.\(key)", "BPE dropout is not supported (tokenizing would be random)")
        }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let v = model[key], v != .null, v.stringValue != "" {
                throw InputError(.unknownFormat, file: path, key: "model.\(key)", "\(v.serialized()) is not supported with byte-level BPE")
            }
        }
        if model["byte_fallback"]?.boolValue == true {
            throw InputError(.unknownFormat, file: path, key: "model.byte_fallback", "byte_fallback is not supported with byte-level BPE")
        }
        guard let vocabJSON = model["vocab"] else {
            throw InputError(.missing, file: path, key: "model.vocab", "tokenizer.json has no model.vocab")
        }
        let vocabulary = try WordPieceVocabulary.fromTokenizerJSON(vocabJSON, file: path, prefix: "")
        guard let mergeList = model["merges"]?.arrayValue else {
            throw InputError(.missing, file: path, key: "model.merges", "tokenizer.json has no model.merges list")
        }
        var merges: [(String, String)] = []
        merges.reserveCapacity(mergeList.count)
        for (rank, m) in mergeList.enumerated() {
            if let pair = m.arrayValue, pair.count == 2, let a = pair[0].stringValue, let b = pair[1].stringValue {
                merges.append((a, b))
            } else if let s = m.stringValue, let (a, b) = splitMerge(s) {
                merges.append((a, b))
            } else {
                throw InputError(
                    .invalidStructure, file: path, key: "model.merges[\(rank)]",
                    "a merge is a pair of strings or one string \"a b\"; found \(m.serialized())")
            }
        }
        var added: [Added] = []
        for (index, entry) in (json["added_tokens"]?.arrayValue ?? []).enumerated() {
            let key = "added_tokens[\(index)]"
            guard let content = entry["content"]?.stringValue, let id = entry["id"]?.intValue, id >= 0, id <= Int(Int32.max) else {
                throw InputError(.invalidStructure, file: path, key: key, "an added token needs a string content and an id")
            }
            if entry["single_word"]?.boolValue == true {
                throw InputError(
                    .unknownFormat, file: path, key: key,
                    "added token \(quoted(content)) uses single_word matching, which is not supported")
            }
            added.append(
                Added(
                    AddedToken(content: content, id: Int32(id), special: entry["special"]?.boolValue ?? false),
                    lstrip: entry["lstrip"]?.boolValue ?? false, rstrip: entry["rstrip"]?.boolValue ?? false))
        }
        let options = Options(
            addPrefixSpace: pre["add_prefix_space"]?.boolValue ?? config.addPrefixSpace ?? false,
            useRegex: pre["use_regex"]?.boolValue ?? true,
            trimOffsets: json["post_processor"]?["trim_offsets"]?.boolValue ?? pre["trim_offsets"]?.boolValue ?? true,
            ignoreMerges: model["ignore_merges"]?.boolValue ?? false)
        func idOf(_ token: String) -> Int32? { added.first { $0.token.content == token }?.token.id ?? vocabulary.id(of: token) }
        var special = config
        if let unk = model["unk_token"]?.stringValue { special.unk = unk }
        let template: SpecialTokenTemplate
        let post = json["post_processor"] ?? .null
        switch post["type"]?.stringValue {
        case "RobertaProcessing":
            guard let cls = post["cls"]?.arrayValue, cls.count == 2, let clsID = cls[1].intValue,
                let sep = post["sep"]?.arrayValue, sep.count == 2, let sepID = sep[1].intValue
            else {
                throw InputError(.invalidStructure, file: path, key: "post_processor", "RobertaProcessing needs cls and sep as [token, id]")
            }
            guard let pad = idOf(special.pad) else {
                throw InputError(.missing, file: path, key: special.pad, "the padding token \(quoted(special.pad)) is not in the vocabulary")
            }
            template = SpecialTokenTemplate(style: .roberta, start: Int32(clsID), end: Int32(sepID), pad: pad)
        case nil:
            template = try robertaTemplate(special, idOf, file: path)
        case let other?:
            throw InputError(
                .unknownFormat, file: path, key: "post_processor.type",
                "post-processor \(quoted(other)) is not supported (RobertaProcessing only)")
        }
        guard let unk = idOf(special.unk) else {
            throw InputError(.missing, file: path, key: special.unk, "the unknown token \(quoted(special.unk)) is not in the vocabulary")
        }
        let specialIDs = Set(special.all.compactMap(idOf))
        return try ByteLevelBPETokenizer(
            vocabulary: vocabulary, merges: merges, options: options, added: added,
            template: template, specialIDs: specialIDs, unknownID: unk, file: path)
    }

    /// Loads `vocab.json` + `merges.txt` as transformers' slow `RobertaTokenizer` and `RobertaTokenizerFast`
    /// (converted) do: the special tokens of `config` are added tokens matched in the raw text (`<mask>` with
    /// `lstrip`, unless `added_tokens_decoder` says otherwise), template `<s> A </s></s> B </s>`.
    public static func load(vocabJSON: String, mergesTxt: String, config: SpecialConfig = SpecialConfig()) throws -> ByteLevelBPETokenizer {
        let vocabulary = try WordPieceVocabulary.fromTokenizerJSON(try JSONValue.read(file: vocabJSON), file: vocabJSON, prefix: "")
        let (merges, offsets) = try readMerges(mergesTxt)
        var added: [Added] = []
        for (id, entry) in config.decoder.sorted(by: { $0.0 < $1.0 }) where !added.contains(where: { $0.token.id == id }) {
            added.append(entry)
        }
        for token in config.all where !added.contains(where: { $0.token.content == token }) {
            if let id = vocabulary.id(of: token) {
                added.append(Added(AddedToken(content: token, id: id, special: true), lstrip: token == config.mask, rstrip: false))
            }
        }
        func idOf(_ token: String) -> Int32? { added.first { $0.token.content == token }?.token.id ?? vocabulary.id(of: token) }
        let template = try robertaTemplate(config, idOf, file: vocabJSON)
        guard let unk = idOf(config.unk) else {
            throw InputError(.missing, file: vocabJSON, key: config.unk, "the unknown token \(quoted(config.unk)) is not in the vocabulary")
        }
        let options = Options(addPrefixSpace: config.addPrefixSpace ?? false, useRegex: true, trimOffsets: config.trimOffsets ?? true)
        return try ByteLevelBPETokenizer(
            vocabulary: vocabulary, merges: merges, options: options, added: added,
            template: template, specialIDs: Set(config.all.compactMap(idOf)), unknownID: unk,
            file: mergesTxt, mergeKey: { "line \(offsets[$0].line)" }, mergeOffset: { offsets[$0].offset })
    }

    private static func robertaTemplate(_ config: SpecialConfig, _ idOf: (String) -> Int32?, file: String) throws -> SpecialTokenTemplate {
        func require(_ token: String, _ role: String) throws -> Int32 {
            guard let id = idOf(token) else {
                throw InputError(.missing, file: file, key: token, "the \(role) token \(quoted(token)) is not in the vocabulary")
            }
            return id
        }
        return SpecialTokenTemplate(
            style: .roberta, start: try require(config.cls, "classifier"),
            end: try require(config.sep, "separator"), pad: try require(config.pad, "padding"))
    }

    /// Splits `"a b"` at its one space (tokenizers' merges format).
    static func splitMerge(_ s: String) -> (String, String)? {
        let parts = s.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
        return (String(parts[0]), String(parts[1]))
    }

    /// Reads `merges.txt`: an optional `#version` first line, then one `left right` per line, in rank order
    /// (tokenizers' `convert_merges_to_hashmap`: lines starting with `#version` are skipped, every other line
    /// must be two tokens separated by one space). Returns the merges and each one's line and byte offset.
    /// - Throws: ``InputError`` (`not_text`, `invalid_structure`) naming the line and its byte offset.
    public static func readMerges(_ path: String) throws -> ([(String, String)], [(line: Int, offset: Int)]) {
        let f = try MappedFile(path: path)
        var merges: [(String, String)] = []
        var where_: [(line: Int, offset: Int)] = []
        try withExtendedLifetime(f) {
            let b = f.bytes
            var start = 0, line = 1
            func take(_ end: Int) throws {
                var e = end
                if e > start && b[e - 1] == 0x0D { e -= 1 }
                let slice = UnsafeRawBufferPointer(rebasing: b[start..<e])
                guard let s = String(validating: slice, as: UTF8.self) else {
                    throw InputError(.notText, file: path, offset: start, key: "line \(line)", "not valid UTF-8")
                }
                if s.hasPrefix("#version") { return }
                guard let pair = splitMerge(s) else {
                    throw InputError(
                        .invalidStructure, file: path, offset: start, key: "line \(line)",
                        "a merge line is two tokens separated by one space; found \(quoted(s))")
                }
                merges.append(pair)
                where_.append((line, start))
            }
            var i = 0
            while i < b.count {
                if b[i] == 0x0A {
                    try take(i)
                    start = i + 1
                    line += 1
                }
                i += 1
            }
            if start < b.count { try take(b.count) }
        }
        return (merges, where_)
    }

    private static func trimmed(_ directory: String) -> String {
        directory.count > 1 && directory.hasSuffix("/") ? String(directory.dropLast()) : directory
    }
}
