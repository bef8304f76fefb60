import ArgumentParser
import SentinelEncoder
import SentinelScheme

/// Input options shared by the commands that run the encoder (`embed`, `predict`).
struct EncoderInputOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Input file, or - for standard input.", valueName: "file"))
    var input = "-"

    @Flag(help: "Lines hold space-separated token digests (encrypted text).")
    var encrypted = false

    @Option(help: "Longest row in tokens, special tokens included (default: max_position_embeddings, at most 512).")
    var maxLength: Int?

    @OptionGroup var unknownTokens: UnknownTokenOptions

    func validate() throws {
        if let maxLength, maxLength < 2 { throw ValidationError("--max-length must be at least 2") }
    }

    /// `--max-length`, or the model's limit (at most 512).
    func lengthLimit(_ config: BertConfig) -> Int {
        min(maxLength ?? min(config.maxPositions, 512), config.maxPositions)
    }

    /// Plain text through the model's tokenizer, or (with `--encrypted`) digests mapped by the adapted
    /// model's own vocabulary.
    func inputEncoder(_ modelDirectory: String) throws -> InputEncoder {
        try InputEncoder.load(directory: modelDirectory, encrypted: encrypted)
    }
}
