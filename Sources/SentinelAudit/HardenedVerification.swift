import SentinelAdapt
import SentinelCore
import SentinelTorch

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
    static func verifyHardened(adaptedDir: ModelDirectory, originalDir: ModelDirectory, manifest: HardenedManifest, passkey: String,
                               sentences: [String], tolerance: Float, progress: (String) -> Void) throws -> VerificationReport {
        var checks: [VerificationCheck] = []
        let t = manifest.transform
        checks.append(VerificationCheck(
            name: "manifest", passed: true,
            detail: "scheme hardened, Argon2id opslimit \(manifest.kdf.opsLimit), memlimit \(manifest.kdf.memLimit) bytes; transform scale \(t.scale), "
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
        for dir in [originalDir, adaptedDir] where !dir.has("vocab.txt") {
            throw InputError(.missing, file: dir.file("vocab.txt"), "verify needs the vocab.txt of both models")
        }
        let originalVocab = try Vocabulary(contentsOf: originalDir.file("vocab.txt"))
        let adaptedVocab = try Vocabulary(contentsOf: adaptedDir.file("vocab.txt"))
        let specialIDs = Set(try originalDir.specialTokens().compactMap { originalVocab.ids[$0] })
        let hasher = keys.tokenHasher()
        let hashed = SeedConverter.hashVocabulary(originalVocab.tokens, special: specialIDs, hasher: hasher)
        let found = hashed.map { adaptedVocab.ids[$0] ?? -1 }
        let missing = found.filter { $0 < 0 }.count
        let distinct = Set(found.filter { $0 >= 0 }).count
        let expected = HardenedScheme.mapping(vocabSize: originalVocab.count, specialIDs: specialIDs, key: keys.permutation)
        let mappingMatches = missing == 0 && found == expected
        let bijection = missing == 0 && distinct == originalVocab.count && adaptedVocab.count == originalVocab.count
        let hashedCount = originalVocab.count - specialIDs.count
        let hashedFound = found.indices.filter { !specialIDs.contains($0) && found[$0] >= 0 }.count
        let vocabDetail: String
        if hashedFound == 0 && hashedCount > 0 {
            vocabDetail = "none of the \(hashedCount) hashed tokens is in the adapted vocabulary: the key does not match this model"
        } else if !bijection {
            vocabDetail = "\(missing) original tokens have no digest in the adapted vocabulary (\(distinct) of \(originalVocab.count) distinct ids found)"
        } else if !mappingMatches {
            vocabDetail = "the vocabulary is a bijection but \(zip(found, expected).filter { $0 != $1 }.count) ids differ from the hardened permutation for this key"
        } else {
            vocabDetail = "all \(originalVocab.count) tokens found once; mapping is the hardened permutation for this key"
        }
        checks.append(VerificationCheck(name: "vocabulary", passed: bijection && mappingMatches, detail: vocabDetail, values: [
            ("tokens", .int(Int64(originalVocab.count))), ("hashed_tokens_found", .int(Int64(hashedFound))),
            ("missing", .int(Int64(missing))), ("bijection", .bool(bijection)), ("mapping_matches_scheme", .bool(mappingMatches)),
        ]))

        progress("comparing tensors")
        let originalWeights = try openTensorArchive(path: originalDir.weightsPath)
        let adaptedWeights = try openTensorArchive(path: adaptedDir.weightsPath)
        let embeddingName = SeedConverter.wordEmbeddingsName
        checks.append(try tensorsCheck(original: originalWeights, adapted: adaptedWeights, embeddingName: embeddingName))

        progress("recomputing the embedding rows")
        checks.append(try embeddingCheck(original: originalWeights, adapted: adaptedWeights, name: embeddingName, mapping: expected,
                                         transformName: "hardened transform") {
            HardenedEmbeddingTransform(source: $0, dtype: $1, rows: $2, hidden: $3, mapping: expected, specialIDs: specialIDs,
                                       options: t, reinitStd: manifest.reinitStd, key: keys.embeddingTransform)
        })

        progress("running both encoders on \(sentences.count) sentences")
        checks.append(try forwardCheck(originalDir: originalDir, adaptedDir: adaptedDir, originalWeights: originalWeights,
                                       adaptedWeights: adaptedWeights, hasher: hasher, sentences: sentences, tolerance: tolerance,
                                       expectParity: t.isFunctionPreserving))
        return VerificationReport(checks: checks)
    }
}
