import SentinelScheme
import SentinelCore
import SentinelFormats

extension AdaptedModelVerifier {
    /// The checks of ``verify(adapted:original:passkey:sentences:tolerance:progress:)`` for a `hardened` model. With the
    /// key, every choice of the scheme can be recomputed, so the checks are exact:
    /// 1. `manifest`: the Argon2id parameters and transform settings of `sentinel.json` (validated when read);
    /// 2. `vocabulary`: every original token's digest (keyed with the derived subkey) present once, specials in place,
    ///    the id mapping the ChaCha20 Fisher–Yates permutation for this key;
    /// 3. `tensors`: every other tensor byte-identical;
    /// 4. `embeddings`: every adapted row equal to the scheme's transform of its source row, recomputed from the key
    ///    (noise and re-initialised rows included);
    /// 5. `forward`: encrypted input on the adapted model against plain input on the original. Parity within
    ///    `tolerance` is required only when the transform is function-preserving; otherwise the differences are
    ///    reported and only the digest lookup is checked.
    /// - Throws: ``InputError`` (unreadable directories; Argon2id failing with the recorded parameters).
    static func verifyHardened(
        adaptedDir: ModelDirectory, originalDir: ModelDirectory, manifest: HardenedManifest, passkey: String,
        sentences: [String], tolerance: Float, progress: (String) -> Void
    ) throws -> VerificationReport {
        var checks: [VerificationCheck] = []
        let t = manifest.transform
        checks.append(
            VerificationCheck(
                name: "manifest", passed: true,
                detail:
                    "scheme hardened, Argon2id opslimit \(manifest.kdf.opsLimit), memlimit \(manifest.kdf.memLimit) bytes; transform scale \(t.scale), "
                    + "dim-scale \(t.dimScale), noise-std \(t.noiseStd), reinit-fraction \(t.reinitFraction) (std \(manifest.reinitStd))",
                values: [("scheme", .string(HardenedScheme.name)), ("function_preserving", .bool(t.isFunctionPreserving))]))

        progress("deriving keys (Argon2id)")
        let keys: HardenedKeys
        do {
            keys = try HardenedKeys(passkey: passkey, parameters: manifest.kdf)
        } catch let e as KeyDerivationError {
            throw InputError(.outOfRange, file: adaptedDir.file("sentinel.json"), key: "kdf", e.description)
        }

        progress("checking the vocabulary")
        let hasher = keys.tokenHasher()
        let (vocabularyCheck, expected, specialIDs) = try vocabularyCheck(
            originalDir: originalDir, adaptedDir: adaptedDir, hasher: hasher, mappingName: "the hardened permutation",
            matchedName: "the hardened permutation for this key"
        ) { HardenedScheme.mapping(vocabSize: $0, specialIDs: $1, key: keys.permutation) }
        checks.append(vocabularyCheck)

        progress("comparing tensors")
        let originalWeights = try openTensorArchive(path: originalDir.weightsPath)
        let adaptedWeights = try openTensorArchive(path: adaptedDir.weightsPath)
        try checkRecordChecksums(originalWeights)
        try checkRecordChecksums(adaptedWeights)
        let embeddingName = try SeedConverter.wordEmbeddingsName(in: originalWeights.entries.map(\.name), file: originalWeights.path)
        checks.append(try tensorsCheck(original: originalWeights, adapted: adaptedWeights, embeddingName: embeddingName, mapping: expected))

        progress("recomputing the embedding rows")
        checks.append(
            try embeddingCheck(
                original: originalWeights, adapted: adaptedWeights, name: embeddingName, mapping: expected,
                transformName: "hardened transform"
            ) {
                HardenedEmbeddingTransform(
                    source: $0, dtype: $1, rows: $2, hidden: $3, mapping: expected, specialIDs: specialIDs,
                    options: t, reinitStd: manifest.reinitStd, key: keys.embeddingTransform)
            })

        progress("running both encoders on \(sentences.count) sentences")
        checks += try forwardChecks(
            originalDir: originalDir, adaptedDir: adaptedDir, originalWeights: originalWeights,
            adaptedWeights: adaptedWeights, hasher: hasher, sentences: sentences, tolerance: tolerance,
            expectParity: t.isFunctionPreserving)
        return VerificationReport(checks: checks)
    }
}
