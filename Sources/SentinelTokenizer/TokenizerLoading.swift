import SentinelCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

extension BertTokenizer {
    /// Loads the tokenizer of a HuggingFace BERT model directory, as `BertTokenizerFast.from_pretrained` does:
    /// `tokenizer.json` when present (vocabulary, `BertNormalizer` options, `WordPiece` options, `added_tokens`);
    /// otherwise `vocab.txt` with `tokenizer_config.json` (`do_lower_case`, `strip_accents`,
    /// `tokenize_chinese_chars`) and `special_tokens_map.json`. The `truncation` and `padding` stored in
    /// tokenizer.json are ignored, as transformers does unless they are asked for per call.
    /// - Throws: ``InputError`` naming the file and key for a missing vocabulary, a vocabulary without `[UNK]`,
    ///   an unsupported normalizer/pre-tokenizer/model type, or malformed JSON; ``OutputError`` for I/O,
    ///   including a directory that does not exist or cannot be read (as ``ModelDirectory/init(path:)``).
    public static func load(directory: String) throws -> BertTokenizer {
        let dir = directory.count > 1 && directory.hasSuffix("/") ? String(directory.dropLast()) : directory
        _ = try directoryEntries(dir)  // a missing or unreadable directory is an OutputError, not "no vocabulary"
        let configPath = dir + "/tokenizer_config.json"
        let special = BertTokenizer.SpecialTokens(try SpecialTokensMap.read(directory: dir))
        var normalization = BertNormalization()
        if isRegularFile(configPath) {
            let config = try JSONValue.read(file: configPath)
            if let v = config["do_lower_case"]?.boolValue { normalization.lowercase = v }
            if let v = config["strip_accents"]?.boolValue { normalization.stripAccents = v }
            if let v = config["tokenize_chinese_chars"]?.boolValue { normalization.handleChineseCharacters = v }
        }

        let jsonPath = dir + "/tokenizer.json"
        let vocabPath = dir + "/vocab.txt"
        if isRegularFile(jsonPath) {
            let json = try JSONValue.read(file: jsonPath)
            // Both files: they must agree (the rule `convert` applies, WordPieceVocabulary.checkAgrees).
            if isRegularFile(vocabPath), json["model"]?["type"]?.stringValue == "WordPiece" {
                try WordPieceVocabulary.read(vocabTxt: vocabPath).checkAgrees(withTokenizerJSON: json, path: jsonPath)
            }
            return try load(tokenizerJSON: json, path: jsonPath, specialTokens: special)
        }
        guard isRegularFile(vocabPath) else {
            throw InputError(.missing, file: dir, "neither tokenizer.json nor vocab.txt is in the directory")
        }
        let vocabulary = try WordPieceVocabulary.read(vocabTxt: vocabPath)
        return try BertTokenizer(vocabulary: vocabulary, normalization: normalization, specialTokens: special, file: vocabPath)
    }

    /// Loads a `tokenizer.json` whose model is `WordPiece`, normalizer `BertNormalizer` (or null) and
    /// pre-tokenizer `BertPreTokenizer`.
    public static func load(tokenizerJSON path: String, specialTokens: SpecialTokens = SpecialTokens()) throws -> BertTokenizer {
        try load(tokenizerJSON: JSONValue.read(file: path), path: path, specialTokens: specialTokens)
    }

    /// ``load(tokenizerJSON:specialTokens:)`` of JSON already parsed from `path`.
    static func load(tokenizerJSON json: JSONValue, path: String, specialTokens: SpecialTokens) throws -> BertTokenizer {
        guard let model = json["model"], model["type"]?.stringValue == "WordPiece" else {
            throw InputError(
                .unknownFormat, file: path, key: "model.type",
                "model type \(json["model"]?["type"]?.serialized() ?? "null") is not WordPiece")
        }
        var normalization = BertNormalization(cleanText: false, handleChineseCharacters: false, stripAccents: false, lowercase: false)
        if let n = json["normalizer"], n != .null {
            guard n["type"]?.stringValue == "BertNormalizer" else {
                throw InputError(
                    .unknownFormat, file: path, key: "normalizer.type",
                    "normalizer \(n["type"]?.serialized() ?? "null") is not supported (BertNormalizer only)")
            }
            normalization = BertNormalization(
                cleanText: n["clean_text"]?.boolValue ?? true,
                handleChineseCharacters: n["handle_chinese_chars"]?.boolValue ?? true,
                stripAccents: n["strip_accents"]?.boolValue,
                lowercase: n["lowercase"]?.boolValue ?? true)
        }
        if let pre = json["pre_tokenizer"], pre != .null, pre["type"]?.stringValue != "BertPreTokenizer" {
            throw InputError(
                .unknownFormat, file: path, key: "pre_tokenizer.type",
                "pre-tokenizer \(pre["type"]?.serialized() ?? "null") is not supported (BertPreTokenizer only)")
        }
        let prefix = model["continuing_subword_prefix"]?.stringValue ?? "##"
        guard let vocabJSON = model["vocab"] else {
            throw InputError(.missing, file: path, key: "model.vocab", "tokenizer.json has no model.vocab")
        }
        let vocabulary = try WordPieceVocabulary.fromTokenizerJSON(vocabJSON, file: path, prefix: prefix)
        var special = specialTokens
        if let unk = model["unk_token"]?.stringValue { special.unknown = unk }
        var added: [AddedToken] = []
        for (index, entry) in (json["added_tokens"]?.arrayValue ?? []).enumerated() {
            let key = "added_tokens[\(index)]"
            guard let content = entry["content"]?.stringValue, let id = entry["id"]?.intValue, id >= 0, id <= Int(Int32.max) else {
                throw InputError(.invalidStructure, file: path, key: key, "an added token needs a string content and an id")
            }
            if entry["normalized"]?.boolValue == true || entry["single_word"]?.boolValue == true {
                throw InputError(
                    .unknownFormat, file: path, key: key,
                    "added token \(quoted(content)) uses normalized/single_word matching, which is not supported")
            }
            added.append(AddedToken(content: content, id: Int32(id), special: entry["special"]?.boolValue ?? false))
        }
        let maxChars = model["max_input_chars_per_word"]?.intValue ?? 100
        guard (1...100_000).contains(maxChars) else {
            throw InputError(
                .outOfRange, file: path, key: "model.max_input_chars_per_word",
                "\(maxChars) is outside 1...100000")
        }
        return try BertTokenizer(
            vocabulary: vocabulary, normalization: normalization,
            maxInputCharactersPerWord: maxChars,
            addedTokens: added, specialTokens: special, file: path)
    }
}
