import SentinelCore
import SentinelTokenizer

extension Encryptor {
    /// Loads the tokenizer of the ORIGINAL model directory and hashes its vocabulary as the adapted model's scheme
    /// does: `seed` keys BLAKE2b with the passkey; `hardened` with the subkey derived by Argon2id from the passkey and
    /// the salt and parameters in the adapted model's `sentinel.json` (``AdaptationManifest``).
    /// - Throws: ``InputError`` from the tokenizer (``Tokenizers/load(directory:)``, any family); `TokenHasher.Error` (seed, key over 64 bytes); ``KeyDerivationError``.
    public convenience init(modelDirectory: String, key: String, manifest: AdaptationManifest) throws {
        let tokenizer = try Tokenizers.load(directory: modelDirectory)
        let hasher = try manifest.tokenHasher(passkey: key)
        self.init(tokenizer: tokenizer, hasher: hasher, specialTokens: try SpecialTokensMap.read(directory: modelDirectory).all)
    }
}
