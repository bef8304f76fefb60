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
