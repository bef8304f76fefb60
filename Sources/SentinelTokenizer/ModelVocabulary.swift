import SentinelCore

extension WordPieceVocabulary {
    /// The WordPiece vocabulary of a HuggingFace model directory, with the file it came from: `vocab.txt`
    /// (``read(vocabTxt:continuingSubwordPrefix:)``), or, when the directory has none, `model.vocab` of
    /// `tokenizer.json` (transformers 5 `save_pretrained` writes only `tokenizer.json`), with its
    /// `model.continuing_subword_prefix`. Ids are the line numbers or the `model.vocab` values.
    ///
    /// This is the vocabulary `convert`, `verify` and `vocab` adapt and compare; ``BertTokenizer/load(directory:)``
    /// reads the same files (preferring `tokenizer.json`, which must then agree with `vocab.txt`).
    /// - Throws: ``InputError`` `.missing` naming the directory when it has neither file; the readers' errors
    ///   (`not_text`, `not_json`, `invalid_structure` with key `model.vocab`, `unknown_format` with key
    ///   `model.type` for a tokenizer.json whose model is not WordPiece); ``OutputError`` for I/O.
    public static func read(modelDirectory directory: String) throws -> (vocabulary: WordPieceVocabulary, file: String) {
        let dir = directory.count > 1 && directory.hasSuffix("/") ? String(directory.dropLast()) : directory
        let vocabTxt = dir + "/vocab.txt"
        if isRegularFile(vocabTxt) { return (try read(vocabTxt: vocabTxt), vocabTxt) }
        let tokenizerJSON = dir + "/tokenizer.json"
        guard isRegularFile(tokenizerJSON) else {
            _ = try directoryEntries(dir)  // a missing or unreadable directory is an OutputError
            throw InputError(.missing, file: dir, "neither vocab.txt nor tokenizer.json is in the directory")
        }
        let json = try JSONValue.read(file: tokenizerJSON)
        guard let model = json["model"], model["type"]?.stringValue == "WordPiece" else {
            throw InputError(
                .unknownFormat, file: tokenizerJSON, key: "model.type",
                "model type \(json["model"]?["type"]?.serialized() ?? "null") is not WordPiece")
        }
        guard let vocab = model["vocab"] else {
            throw InputError(.missing, file: tokenizerJSON, key: "model.vocab", "tokenizer.json has no model.vocab")
        }
        let prefix = model["continuing_subword_prefix"]?.stringValue ?? "##"
        return (try fromTokenizerJSON(vocab, file: tokenizerJSON, prefix: prefix), tokenizerJSON)
    }
}

extension WordPieceVocabulary {
    /// The one rule for a directory with both `vocab.txt` (`self`) and a WordPiece `tokenizer.json`: its `model.vocab`,
    /// when present, must give every token of vocab.txt that token's line number as its id, and hold no other token.
    /// `convert` (before adapting) and ``BertTokenizer/load(directory:)`` (every command that tokenizes: `encrypt`,
    /// `embed`, `predict`, `vocab`) apply it, so a directory one command refuses, every command refuses.
    /// - Throws: ``InputError`` `.invalidStructure` with key `model.vocab`, naming the count or the first token that differs.
    public func checkAgrees(withTokenizerJSON tokenizer: JSONValue, path: String) throws {
        guard let map = tokenizer["model"]?["vocab"]?.objectValue else { return }
        guard map.count == count else {
            throw InputError(
                .invalidStructure, file: path, key: "model.vocab",
                "has \(map.count) tokens but vocab.txt has \(count) distinct tokens")
        }
        for (token, id) in map where self.id(of: token).map(Int.init) != id.intValue {
            throw InputError(
                .invalidStructure, file: path, key: "model.vocab",
                "token \(quoted(token)) has id \(id.intValue.map(String.init) ?? "?") but line \(self.id(of: token).map { String($0 + 1) } ?? "none") of vocab.txt "
                    + "(id \(self.id(of: token).map(String.init) ?? "absent")): tokenizer.json and vocab.txt disagree")
        }
    }
}
