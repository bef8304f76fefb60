import SentinelCore
import SentinelFormats
import SentinelTokenizer
import SentinelEncoder

#if canImport(Glibc)
    import Glibc
#endif

// The fuzz harness bodies (issue 12, item 1). One file, compiled twice: here, in the main suite, where
// `FuzzRegressionTests` replays every committed regression input and seed through them, and in the nested
// package `Tests/Fuzz` (through the symbolic link `Tests/Fuzz/Sources/FuzzSupport/FuzzHarness.swift`), whose
// executables call them from libFuzzer's `LLVMFuzzerTestOneInput`. It imports only the libraries.

/// What every harness shares: the input as a file (the readers work on paths and memory-mapped files),
/// the fixture paths, and the work done on a parsed archive so that the bytes behind each tensor are read.
public enum FuzzInput {
    /// A per-process scratch directory in /dev/shm (or $TMPDIR) for the input file.
    public static let directory: String = {
        let base = isDirectory("/dev/shm") ? "/dev/shm" : (getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp")
        let dir = base + "/sentinel-fuzz-" + String(getpid())
        mkdir(dir, 0o700)
        return dir
    }()

    /// Writes `data` to `directory/name` (replacing it) and returns the path.
    public static func write(_ data: UnsafeRawBufferPointer, name: String) -> String {
        let path = directory + "/" + name
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        precondition(fd >= 0, "cannot create \(path)")
        var done = 0
        while done < data.count {
            let n = Glibc.write(fd, data.baseAddress! + done, data.count - done)
            precondition(n > 0, "cannot write \(path)")
            done += n
        }
        close(fd)
        return path
    }

    /// The unpacked vendored ground truth (`Samples/unpack-fixtures.sh`): `$SENTINEL_SHARED` (run.sh sets it),
    /// or what the test sets (`Fixtures.shared`).
    nonisolated(unsafe) public static var shared: String = getenv("SENTINEL_SHARED").map { String(cString: $0) } ?? "Samples/.cache/shared"
    /// The sample model's directory (MiniLM, `Samples/fetch-minilm.sh`): `$SENTINEL_FUZZ_MINILM` or what the test sets.
    nonisolated(unsafe) public static var miniLM: String =
        getenv("SENTINEL_FUZZ_MINILM").map { String(cString: $0) } ?? "Samples/.cache/all-MiniLM-L6-v2"

    /// A fixture of the ground truth.
    public static func fixture(_ relative: String) -> String { shared + "/fixtures/" + relative }
}

func isDirectory(_ path: String) -> Bool {
    var st = stat()
    return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
}

/// Reads every tensor of a parsed archive as a caller would: its bytes (checked to be `byteCount` long)
/// and their statistics (`inspect --stats`).
public func exercise(_ archive: TensorArchive) {
    for e in archive.entries {
        _ = e.elementCount
        let expected = e.byteCount
        do {
            try archive.withBytes(of: e.name) { bytes in
                precondition(bytes.count == expected, "\(e.name): \(bytes.count) bytes where the entry says \(expected)")
                _ = TensorStatistics(bytes: bytes, dtype: e.dtype)
            }
        } catch is InputError {
        } catch is OutputError {
        } catch {
            preconditionFailure("untyped error \(error)")
        }
        archive.releaseBytes(of: e.name)
    }
}

/// The harness bodies, by name. Each takes the raw input; a typed error (``InputError``, ``OutputError``)
/// is a correct answer, anything else (a trap, an untyped error, a hang) is a finding.
public enum Harness {
    public static let names = [
        "FuzzSafeTensors", "FuzzPickle", "FuzzTorchZip", "FuzzTorchLegacy", "FuzzJSON", "FuzzTokenizerJSON",
        "FuzzWordPiece", "FuzzByteLevelBPE", "FuzzUnigram",
    ]

    /// Runs harness `name` on `data`.
    public static func run(_ name: String, _ data: UnsafeRawBufferPointer) {
        switch name {
        case "FuzzSafeTensors": safetensors(data)
        case "FuzzPickle": pickle(data)
        case "FuzzTorchZip", "FuzzTorchLegacy": torch(data)
        case "FuzzJSON": json(data)
        case "FuzzTokenizerJSON": tokenizerJSON(data)
        case "FuzzWordPiece": text(data, tokenizer: wordPiece)
        case "FuzzByteLevelBPE": text(data, tokenizer: byteLevelBPE)
        case "FuzzUnigram": text(data, tokenizer: unigram)
        default: preconditionFailure("unknown harness \(name)")
        }
    }

    static func expectingTypedErrors(_ body: () throws -> Void) {
        do {
            try body()
        } catch is InputError {
        } catch is OutputError {
        } catch is JSONValue.ParseError {
        } catch {
            preconditionFailure("untyped error \(type(of: error)): \(error)")
        }
    }

    /// safetensors header and file reader, then every tensor's bytes.
    static func safetensors(_ data: UnsafeRawBufferPointer) {
        let path = FuzzInput.write(data, name: "input.safetensors")
        expectingTypedErrors {
            let f = try SafeTensorsFile(path: path)
            exercise(f)
            rewrite(f)
        }
        // What `inspect` and `convert` call: recognise the format, then open.
        expectingTypedErrors { exercise(try openTensorArchive(path: path)) }
    }

    /// The restricted pickle machine on a bare pickle.
    static func pickle(_ data: UnsafeRawBufferPointer) {
        expectingTypedErrors {
            var u = RestrictedUnpickler(file: "input.pkl")
            var start = 0
            // Several pickles in a row, as the legacy format holds them.
            for _ in 0..<4 where start < data.count {
                let (_, end) = try u.load(data, from: start)
                precondition(end > start && end <= data.count, "end \(end) after start \(start) of \(data.count)")
                start = end
            }
        }
    }

    /// The torch checkpoint reader (zip or legacy, by the first bytes), its description and every tensor.
    static func torch(_ data: UnsafeRawBufferPointer) {
        let path = FuzzInput.write(data, name: "pytorch_model.bin")
        expectingTypedErrors {
            let c = try TorchCheckpoint(path: path)
            _ = c.describe().serialized()
            _ = c.describeText()
            exercise(c)
            // What was read is written again (export): both formats, and the copy reads back the same entries.
            rewrite(c)
        }
    }

    /// Writes `archive` as a torch checkpoint and as safetensors (`export`), and checks that each copy
    /// reads back with the same entries. A typed error is fine (a dtype torch cannot store, a reserved name).
    static func rewrite(_ archive: TensorArchive) {
        let torchCopy = FuzzInput.directory + "/copy.bin", safetensorsCopy = FuzzInput.directory + "/copy.safetensors"
        expectingTypedErrors {
            try TorchWriter.write(archive: archive, to: torchCopy)
            let back = try TorchCheckpoint(path: torchCopy)
            precondition(back.entries == archive.entries, "the torch copy reads back other entries")
        }
        expectingTypedErrors {
            try SafeTensorsWriter.write(archive, to: safetensorsCopy)
            let back = try SafeTensorsFile(path: safetensorsCopy)
            // safetensors orders its header by name (the reference's layout).
            let byName = { (e: [TensorEntry]) in e.sorted { $0.name < $1.name } }
            precondition(byName(back.entries) == byName(archive.entries), "the safetensors copy reads back other entries")
        }
    }

    /// JSON (json-c with key order and 64-bit integers), printing and re-parsing, and the BERT config reader.
    static func json(_ data: UnsafeRawBufferPointer) {
        expectingTypedErrors {
            let v = try JSONValue.parse(data)
            let text = v.serialized()
            // What is printed parses again to the same value.
            let again = try JSONValue.parse(text)
            precondition(again.serialized() == text, "JSON round trip changed \(text)")
            _ = v.serialized(.pretty)
            _ = try? BertConfig(json: v, file: "config.json")
        }
    }

    /// tokenizer.json loaders of every family, then one sentence through the tokenizer loaded.
    static func tokenizerJSON(_ data: UnsafeRawBufferPointer) {
        let path = FuzzInput.write(data, name: "tokenizer.json")
        let sentence = "Hello, world! [SEP] ﬁne ça va? 東京 <mask> 123"
        let loaders: [(String) throws -> any SubwordTokenizer] = [
            { try BertTokenizer.load(tokenizerJSON: $0) }, { try ByteLevelBPETokenizer.load(tokenizerJSON: $0) },
            { try UnigramTokenizer.load(tokenizerJSON: $0) }, { try WordLevelTokenizer.load(tokenizerJSON: $0) },
        ]
        for load in loaders {
            expectingTypedErrors { _ = try load(path).encode(sentence, pair: sentence) }
        }
    }

    nonisolated(unsafe) static var cache: [String: any SubwordTokenizer] = [:]

    static func loaded(_ key: String, _ load: () throws -> any SubwordTokenizer) -> any SubwordTokenizer {
        if let t = cache[key] { return t }
        do {
            let t = try load()
            cache[key] = t
            return t
        } catch {
            preconditionFailure("cannot load the \(key) tokenizer (run Samples/unpack-fixtures.sh and Samples/fetch-minilm.sh): \(error)")
        }
    }

    /// MiniLM's WordPiece tokenizer (vocab.txt; the sample model, Samples/fetch-minilm.sh).
    static var wordPiece: any SubwordTokenizer {
        loaded("wordpiece") { try BertTokenizer.load(directory: FuzzInput.miniLM) }
    }
    /// The synthetic RoBERTa's byte-level BPE (vendored fixture).
    static var byteLevelBPE: any SubwordTokenizer {
        loaded("bpe") { try ByteLevelBPETokenizer.load(directory: FuzzInput.fixture("roberta/model")) }
    }
    /// The synthetic XLM-R's SentencePiece unigram (vendored fixture, from sentencepiece.bpe.model).
    static var unigram: any SubwordTokenizer {
        loaded("unigram") { try UnigramTokenizer.load(directory: FuzzInput.fixture("xlmr/model")) }
    }

    /// Text through a tokenizer: invalid UTF-8 is repaired as `String(decoding:)` does (the CLI's text
    /// readers refuse it); the first byte splits the input into a sentence pair.
    static func text(_ data: UnsafeRawBufferPointer, tokenizer: any SubwordTokenizer) {
        let s = String(decoding: data, as: UTF8.self)
        let e = tokenizer.encode(s)
        precondition(e.inputIDs.count == e.attentionMask.count && e.inputIDs.count == e.offsets.count, "encoding columns disagree")
        for (id, r) in zip(e.inputIDs, e.offsets) {
            precondition(id >= 0 && Int(id) < tokenizer.vocabularySize, "id \(id) outside the vocabulary")
            precondition(r.lowerBound >= 0 && r.upperBound <= s.utf8.count, "offset \(r) outside the text")
        }
        if let tab = s.firstIndex(of: "\t") {
            let t = tokenizer.encode(String(s[..<tab]), pair: String(s[s.index(after: tab)...]), truncation: .longestFirst(maxLength: 16))
            precondition(t.count <= 16, "truncated pair has \(t.count) ids")
        }
        _ = tokenizer.encode(words: s.split(separator: " ").map(String.init))
        _ = tokenizer.tokenize(s)
    }
}
