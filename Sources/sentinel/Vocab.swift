import ArgumentParser
import SentinelScheme
import SentinelAudit
import SentinelCore
import SentinelTokenizer
#if canImport(Glibc)
    import Glibc
#endif

/// `sentinel vocab`: the vocabulary mapping token ↔ digest ↔ original id ↔ adapted id.
struct Vocab: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the vocabulary mapping of an adapted model: token, digest, original id, adapted id.",
        discussion: """
            With --original and the passkey (SENTINEL_KEY or --key-file), every
            original token is hashed and looked up in the adapted vocabulary.
            Without the key, only what the adapted directory alone reveals is
            shown: adapted ids, digests, and the special tokens (never hashed).
            --id N is an original id when the mapping is known (--original and the
            key), an adapted id otherwise. Without a query or --all, a summary is
            printed.
            """)

    @Argument(help: "The adapted model directory (its vocab.txt, or vocab.json for byte-level BPE, lists digests and adapted ids).")
    var adaptedDirectory: String

    @Option(help: "The original model directory (needed, with the key, to link tokens to digests).")
    var original: String?

    @Option(parsing: .unconditional, help: "Look up one token (needs the key; --original adds its original id).")
    var token: String?

    @Option(parsing: .unconditional, help: "Look up one id (original with --original and key, else adapted).")
    var id: Int?

    @Option(parsing: .unconditional, help: "Look up one digest (32 hex characters, either case) or special token such as [CLS] or <s>.")
    var digest: String?

    @Flag(help: "List every entry.")
    var all = false

    @OptionGroup var key: KeyOptions
    @OptionGroup var report: ReportOptions

    func validate() throws {
        let queries = [token != nil, id != nil, digest != nil].filter { $0 }.count
        if queries > 1 { throw ValidationError("give at most one of --token, --id, --digest") }
        if queries == 1 && all { throw ValidationError("--all lists everything; drop the query or --all") }
        if let digest, !Digest.isDigest(digest),
            !(digest.count > 2 && ((digest.hasPrefix("[") && digest.hasSuffix("]")) || (digest.hasPrefix("<") && digest.hasSuffix(">"))))
        {
            throw ValidationError(
                "--digest \(JSONValue.string(digest).serialized()) is neither a digest "
                    + "(\(Digest.hexLength) hex characters) nor a special token such as [CLS] or <s>")
        }
    }

    func run() throws {
        try reportingErrors(json: report.json) {
            let passkey = key.isGiven ? try key.passkey() : nil  // the command works without a key
            var encryptor: Encryptor?
            var hasher: TokenHasher?
            // The adapted model's scheme (hardened: Argon2id with the salt and parameters of its sentinel.json).
            let manifest = try AdaptationManifest.of(directory: adaptedDirectory)
            do {
                // The key is used only to link tokens to digests: with --original, or for --token.
                if let passkey, token != nil || original != nil { hasher = try manifest.tokenHasher(passkey: passkey) }
                if let original, let hasher {
                    encryptor = Encryptor(
                        tokenizer: try Tokenizers.load(directory: original), hasher: hasher,
                        specialTokens: try SpecialTokensMap.read(directory: original).all)
                }
            } catch let e as TokenHasher.Error {
                throw ValidationError(e.description)
            } catch let e as KeyDerivationError {
                throw ValidationError(e.description)
            }
            if token != nil && passkey == nil {
                throw ValidationError("--token needs the passkey (SENTINEL_KEY or --key-file)")
            }
            let mapping = VocabularyMapping(adapted: try AdaptedVocabulary(path: adaptedDirectory), encryptor: encryptor)

            // Byte-level BPE spellings (`Ġthe`) get a readable column.
            let byteLevel =
                mapping.byteLevel
                || (original == nil && isRegularFile(adaptedDirectory + "/vocab.json") && !isRegularFile(adaptedDirectory + "/vocab.txt"))

            // Summary.
            var summary: [(String, JSONValue)] = [
                ("adapted_vocab_size", .int(Int64(mapping.adapted.count))),
                ("adapted_digests", .int(Int64(mapping.digestCount))),
                (
                    "adapted_plain_tokens",
                    .array(
                        mapping.plainAdaptedTokens.map {
                            .object([("token", .string($0.token)), ("adapted_id", .int(Int64($0.id)))])
                        })
                ),
                ("scheme", .string(manifest.scheme)),
                ("key_given", .bool(passkey != nil)),
                ("mapping_known", .bool(encryptor != nil)),
            ]
            if let c = mapping.coverage {
                let keyMatches = KeyCheck.keyMatches(hashed: c.hashed, hashedFound: c.hashedFound)
                summary += [
                    ("original_vocab_size", .int(Int64(c.originalTokens))), ("original_tokens_found", .int(Int64(c.found))),
                    ("original_hashed_tokens", .int(Int64(c.hashed))),
                    ("original_hashed_tokens_found", .int(Int64(c.hashedFound))),
                    ("original_tokens_moved", .int(Int64(c.moved))), ("key_matches", .bool(keyMatches)),
                ]
                if !keyMatches {
                    let reason = KeyCheck.mismatchMessage(
                        hashed: c.hashed, hashedFound: c.hashedFound,
                        original: original ?? "", adapted: adaptedDirectory)
                    printError(reason)
                    if report.json {
                        print(
                            JSONValue.object([
                                ("summary", .object(summary)),
                                ("error", .object([("code", .string("key_mismatch")), ("message", .string(reason))])),
                            ])
                            .serialized(.pretty))
                    } else {
                        for (k, v) in summary { print("\(k): \(v.serialized())") }
                    }
                    throw Exit.checkFailed
                }
            }

            var entries: [VocabularyMapping.Entry] = []
            if let token, let hasher {
                entries.append(mapping.entry(token: token, hasher: hasher))
            } else if let id {
                let limit = encryptor?.tokenizer.vocabularySize ?? mapping.adapted.count
                guard var entry = encryptor != nil ? mapping.entry(originalID: id) : mapping.entry(adaptedID: id) else {
                    throw ValidationError("--id \(id) is outside 0..<\(limit)")
                }
                if entry.adaptedID == nil { entry.note = "the digest of original id \(id) is not in the adapted vocabulary" }
                entries.append(entry)
            } else if let digest {
                entries.append(mapping.entry(encryptedToken: digest))
            } else if all {
                entries = mapping.allEntries()
            }

            // A --token whose digest the adapted vocabulary lacks is a failed lookup (exit 1): a wrong key (no common
            // token is found either: KeyCheck.probe) or a token the original vocabulary does not hold.
            var failure: (code: String, message: String)? = nil
            if let token, let hasher, entries.first?.adaptedID == nil {
                let probe = KeyCheck.probe(mapping.adapted, hasher: hasher)
                failure =
                    probe.found == 0 && encryptor == nil
                    ? (
                        "key_mismatch",
                        "the key does not match \(adaptedDirectory): neither \(quoted(token)) nor any of \(probe.probed) common tokens "
                            + "(the, Ġthe, ▁the, ',', …) has its digest in its vocabulary"
                    )
                    : ("not_found", entries.first?.note ?? "the digest of \(quoted(token)) is not in the adapted vocabulary")
            }
            if report.json {
                var doc: [(String, JSONValue)] = [("summary", .object(summary))]
                if !entries.isEmpty || token != nil || id != nil || digest != nil || all {
                    doc.append(("entries", .array(entries.map(\.json))))
                }
                if let failure { doc.append(("error", .object([("code", .string(failure.code)), ("message", .string(failure.message))]))) }
                print(JSONValue.object(doc).serialized(.pretty))
                if let failure {
                    printError(failure.message)
                    throw Exit.checkFailed
                }
                return
            }
            if entries.isEmpty {
                for (k, v) in summary { print("\(k): \(v.serialized())") }
                if encryptor == nil {
                    print("without --original and the key, digests cannot be linked to tokens")
                }
            } else {
                var text = "token\tdigest\toriginal_id\tadapted_id" + (byteLevel ? "\treadable\n" : "\n")
                for e in entries { text += e.line + "\n" }
                for e in entries { if let note = e.note { text += "note: " + note + "\n" } }
                try OutputFile.write(Array(text.utf8), to: "-")
            }
            if let failure {
                printError(failure.message)
                throw Exit.checkFailed
            }
        }
    }
}
