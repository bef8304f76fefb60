import ArgumentParser
import SentinelScheme
import SentinelCore
import SentinelEncoder
import SentinelTokenizer
#if canImport(Glibc)
    import Glibc
#endif

/// `sentinel encrypt`: the client side of the scheme. Tokenizes with the ORIGINAL model's tokenizer and
/// replaces every wordpiece by its keyed BLAKE2b digest (special tokens and `[UNK]` stay as they are).
struct Encrypt: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Encrypt text or a dataset for an adapted model: wordpieces (or byte-level BPE pieces) → keyed BLAKE2b digests.",
        discussion: """
            --format text: one text per line in; one line of space-separated digests
            out (no [CLS]/[SEP]). A TAB between the two texts of a pair is kept.
            An empty input gives an empty output.

            --format conll: a word-per-line NER file in (CoNLL-2003's 4 columns, or
            word<TAB>tag; sentences end at blank or whitespace-only lines;
            -DOCSTART- lines are skipped). JSON lines out, one per sentence, with the
            field names of HF's conll2003 dataset: {"tokens": [digests], "ner_tags":
            [the label of each digest's word], "word_ids": [the word of each digest]}.
            A file without any sentence is an error.

            --format tsv: a GLUE TSV with header in (SST-2, RTE, MRPC). JSON lines
            out with the field names of HF's glue datasets: {"sentence": digests,
            "label": ...} or {"sentence1": ..., "sentence2": ..., "label": ...}.
            An empty file (no header) is an error.

            `datasets.load_dataset("json", data_files=...)` loads both as they are;
            `sentinel predict/embed --encrypted` read them back.

            Special tokens and [UNK] are written as themselves. The passkey comes
            from SENTINEL_KEY or --key-file and is never printed.

            --manifest: the adapted model's sentinel.json (or its directory). It is
            public, and a model of scheme hardened needs it: its digests are keyed
            with a subkey that Argon2id derives from the passkey and the salt and
            parameters recorded there. Without --manifest the digests are the seed
            scheme's (keyed with the passkey itself), which a hardened model does
            not know: every token would be [UNK] there.
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case text, conll, tsv
        var datasetFormat: Encryptor.PlainFormat {
            switch self {
            case .text: .text
            case .conll: .conll
            case .tsv: .tsv
            }
        }
    }

    @Argument(help: "The ORIGINAL HuggingFace model directory (its tokenizer is used).")
    var modelDirectory: String

    @Option(help: "Input file, or - for standard input.")
    var input = "-"

    @Option(help: "Input format: text, conll or tsv.")
    var format: Format = .text

    @Option(help: "Output file (written atomically), or - for standard output.")
    var output = "-"

    @Flag(help: "Replace an existing --output file.")
    var force = false

    @Option(
        help: ArgumentHelp(
            "The adapted model's sentinel.json, or its directory: digests follow its scheme (needed for hardened). Default: seed.",
            valueName: "path"))
    var manifest: String?

    @OptionGroup var key: KeyOptions
    @OptionGroup var unknownTokens: UnknownTokenOptions
    @OptionGroup var report: ReportOptions

    func validate() throws {
        if report.json && output == "-" {
            throw ValidationError("--json prints a summary on stdout; give the encrypted data a file with --output")
        }
    }

    func run() throws {
        try reportingErrors(json: report.json) {
            let progress = Progress(forced: report.progress)
            if output != "-" {
                try checkOutput(output, inputs: [modelDirectory] + (input == "-" ? [] : [input]), force: false, marker: nil)
                try refuseExistingOutput(output, force: force)
            }
            let passkey = try key.passkey()
            let scheme = try manifest.map { try AdaptationManifest(path: $0) } ?? .seed
            let clock = ContinuousClock()
            let start = clock.now
            let encryptor: Encryptor
            do {
                encryptor = try Encryptor(modelDirectory: modelDirectory, key: passkey, manifest: scheme)
            } catch let e as TokenHasher.Error {
                throw ValidationError(e.description)
            } catch let e as KeyDerivationError {
                throw ValidationError(e.description)
            }
            progress.step("tokenizer loaded, vocabulary hashed (\(encryptor.tokenizer.vocabularySize) entries)")
            let truncationLimit =
                isRegularFile(modelDirectory + "/config.json")
                ? min(try BertConfig.load(path: modelDirectory + "/config.json").maxSequenceLength, 512) : nil
            let stats: Encryptor.Statistics
            var source = input  // the name errors use (<stdin> for -)
            if format == .text {
                // Streamed line by line in bounded memory; an empty input is zero texts (empty output).
                let lines = try LineReader(path: input)
                source = lines.path
                var counts = Encryptor.Statistics()
                try OutputFile.write(to: output, replace: force) { out in
                    counts = try encryptor.encryptText(lines, to: out, truncationLimit: truncationLimit ?? .max) { s in
                        try unknownTokens.enforce(
                            UnknownTokenCheck(
                                encryptor: encryptor, model: modelDirectory, file: lines.path, unknown: s.unknownTokens, tokens: s.tokens))
                    }
                }
                stats = counts
            } else {
                // CoNLL and TSV readers refuse an empty file (no sentence / no header), most likely the wrong file.
                let file = try TextFile.read(input, allowEmpty: false)
                source = file.path
                let (out, s) = try encryptor.encrypt(file, format: format.datasetFormat, truncationLimit: truncationLimit ?? .max)
                try unknownTokens.enforce(
                    UnknownTokenCheck(encryptor: encryptor, model: modelDirectory, file: file.path, unknown: s.unknownTokens, tokens: s.tokens))
                try OutputFile.write(out, to: output, replace: force)
                stats = s
            }
            let (records, tokens, unknown) = (stats.records, stats.tokens, stats.unknownTokens)
            // Records over the model's length: the adapted model will truncate them (as embed and predict warn).
            if let limit = truncationLimit {
                warnTruncation(stats.recordsOverLimit, of: records, limit: limit, file: source, dropped: nil)
            }
            let seconds = Double((clock.now - start).components.attoseconds) / 1e18 + Double((clock.now - start).components.seconds)
            if report.json {
                print(
                    JSONValue.object([
                        ("input", .string(input)), ("format", .string(format.rawValue)), ("output", .string(output)),
                        ("records", .int(Int64(records))), ("tokens", .int(Int64(tokens))),
                        ("unknown_tokens", .int(Int64(unknown))), ("seconds", .double(seconds, text: nil)),
                    ]).serialized(.pretty))
            } else if output != "-" {
                print("\(records) records, \(tokens) tokens (\(unknown) [UNK]) → \(output)")
            }
        }
    }
}
