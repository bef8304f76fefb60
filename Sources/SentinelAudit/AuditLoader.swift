import SentinelScheme
import SentinelCore
import SentinelEncoder
import SentinelTokenizer
import SentinelFormats

extension AuditInput {
    /// Reads an adapted model directory and its original and builds the audit's input: both
    /// `embeddings.word_embeddings.weight` matrices as float32 (`bert.`-prefixed names of task models too),
    /// the ground truth from the key (each original token's digest looked up in the adapted `vocab.txt`), and the
    /// special tokens as public anchors.
    /// - Parameters:
    ///   - adapted: the adapted model directory.
    ///   - original: the model it was converted from.
    ///   - passkey: the key it was converted with (used for the ground truth only; never reported).
    /// - Throws: ``InputError`` when a directory, its weights or vocabulary cannot be read, the embedding matrices
    ///   are missing or of different widths, the adapted `sentinel.json` names no scheme Sentinel knows, or no
    ///   original token's digest is in the adapted vocabulary (the key does not match).
    public static func load(adapted: String, original: String, passkey: String) throws -> AuditInput {
        let adaptedDir = try ModelDirectory(path: adapted), originalDir = try ModelDirectory(path: original)
        // The digests of the adapted model's scheme (seed: keyed with the passkey; hardened: with the Argon2id subkey).
        let manifest = try AdaptationManifest.of(directory: adaptedDir.path)
        let originalEmbeddings = try wordEmbeddings(originalDir)
        let adaptedEmbeddings = try wordEmbeddings(adaptedDir)
        guard originalEmbeddings.shape[1] == adaptedEmbeddings.shape[1] else {
            throw InputError(
                .sizeMismatch, file: adaptedDir.weightsPath, key: SeedConverter.wordEmbeddingsName,
                "shape \(adaptedEmbeddings.shape) does not match the original's \(originalEmbeddings.shape)")
        }
        let encryptor = Encryptor(
            tokenizer: try Tokenizers.load(directory: original), hasher: try manifest.tokenHasher(passkey: passkey),
            specialTokens: try SpecialTokensMap.read(directory: original).all)
        let adaptedVocab = try AdaptedVocabulary(path: adapted)
        let rows = adaptedEmbeddings.shape[0]
        var truth = [Int32](repeating: -1, count: rows)
        var hidden = [Bool](repeating: false, count: rows)
        var anchors: [IDPair] = []
        var hashedFound = 0
        let vocabularySize = min(encryptor.tokenizer.vocabularySize, originalEmbeddings.shape[0])
        for id in 0..<vocabularySize {
            guard let a = adaptedVocab.vocabulary.id(of: encryptor.encryptedToken(id: Int32(id))), Int(a) < rows else { continue }
            truth[Int(a)] = Int32(id)
            if encryptor.isHashed(id: Int32(id)) {
                hidden[Int(a)] = true
                hashedFound += 1
            } else {
                anchors.append(IDPair(adapted: Int(a), original: id))
            }
        }
        guard hashedFound > 0 else {
            throw InputError(
                .missing, file: adaptedDir.file("vocab.txt"),
                "none of the original tokens' digests is in the adapted vocabulary: the key does not match this model")
        }
        return AuditInput(original: originalEmbeddings, adapted: adaptedEmbeddings, truth: truth, hidden: hidden, anchors: anchors)
    }

    /// The word-embedding matrix of a model directory as float32 `[vocab, hidden]`.
    static func wordEmbeddings(_ dir: ModelDirectory) throws -> FloatTensor {
        let archive = try openTensorArchive(path: dir.weightsPath)
        let name = SeedConverter.wordEmbeddingsName
        guard let entry = archive.entry(named: name) ?? archive.entry(named: "bert." + name) else {
            throw InputError(.missing, file: dir.weightsPath, key: name, "the model has no word-embedding matrix")
        }
        guard entry.shape.count == 2, entry.shape[0] > 0, entry.shape[1] > 0 else {
            throw InputError(.invalidStructure, file: dir.weightsPath, key: entry.name, "shape \(entry.shape) is not [vocab, hidden]")
        }
        let p = try Parameter.load(entry, from: archive)
        return FloatTensor(shape: entry.shape, values: p.array)
    }
}
