import ArgumentParser
import SentinelEncoder
import SentinelTokenizer

/// Input options shared by the commands that run the encoder (`embed`, `predict`).
struct EncoderInputOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Input file, or - for standard input.", valueName: "file"))
    var input = "-"

    @Flag(help: "Lines hold space-separated token digests (encrypted text).")
    var encrypted = false

    @Option(help: "Longest row in tokens, special tokens included (default: the model's limit, max_position_embeddings (less pad_token_id + 1 for RoBERTa), at most 512).")
    var maxLength: Int?

    func validate() throws {
        if let maxLength, maxLength < 2 { throw ValidationError("--max-length must be at least 2") }
    }

    /// `--max-length`, or the model's limit (at most 512).
    func lengthLimit(_ config: BertConfig) -> Int {
        min(maxLength ?? min(config.maxSequenceLength, 512), config.maxSequenceLength)
    }

    /// One row of model input: plain text through the model's WordPiece tokenizer, or (with `--encrypted`)
    /// digests mapped by the adapted model's own vocabulary; `[CLS] A [SEP] (B [SEP])`, longest-first truncation.
    func encode(_ tokenizer: any SubwordTokenizer, _ text: String, pair: String?, limit: Int) -> Encoding {
        // An adapted byte-level model's own tokenizer (WordLevel over digests) maps digests itself.
        if encrypted, let tokenizer = tokenizer as? BertTokenizer {
            return tokenizer.assemble(tokenizer.digestPieces(text), pair.map { tokenizer.digestPieces($0) },
                                      truncation: .longestFirst(maxLength: limit))
        }
        return tokenizer.encode(text, pair: pair, truncation: .longestFirst(maxLength: limit))
    }
}
