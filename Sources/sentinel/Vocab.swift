import ArgumentParser
import SentinelAdapt
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

    @Option(help: "Look up one token (needs the key; --original adds its original id).")
    var token: String?

    @Option(help: "Look up one id (original with --original and key, else adapted).")
    var id: Int?

    @Option(help: "Look up one digest (32 lowercase hex characters) or special token such as [CLS] or <s>.")
    var digest: String?

    @Flag(help: "List every entry.")
    var all = false

    @OptionGroup var key: KeyOptions
    @OptionGroup var report: ReportOptions

    func validate() throws {
        let queries = [token != nil, id != nil, digest != nil].filter { $0 }.count
        if queries > 1 { throw ValidationError("give at most one of --token, --id, --digest") }
        if queries == 1 && all { throw ValidationError("--all lists everything; drop the query or --all") }
        if let digest, !isDigest(digest), !(digest.count > 2 && ((digest.hasPrefix("[") && digest.hasSuffix("]")) || (digest.hasPrefix("<") && digest.hasSuffix(">")))) {
            throw ValidationError("--digest \(JSONValue.string(digest).serialized()) is neither a digest "
                                  + "(\(Encryptor.digestHexLength) lowercase hex characters 0-9a-f) nor a special token such as [CLS] or <s>")
        }
    }

    /// One row of the mapping; nil fields are unknown from what was given.
    struct Entry {
        var token: String?
        var digest: String?
        var originalID: Int?
        var adaptedID: Int?
        /// Why a looked-up token or digest has no adapted id, in words (single queries only).
        var note: String?
        /// A byte-level BPE spelling shown readably (``ByteLevel/readable(_:)``: `Ġthe` → `␣the`, lone bytes in hex).
        var readable: String?

        var json: JSONValue {
            func opt(_ s: String?) -> JSONValue { s.map { .string($0) } ?? .null }
            func opt(_ i: Int?) -> JSONValue { i.map { .int(Int64($0)) } ?? .null }
            var fields: [(String, JSONValue)] = [("token", opt(token)), ("digest", opt(digest)),
                                                 ("original_id", opt(originalID)), ("adapted_id", opt(adaptedID))]
            if let readable { fields.insert(("readable", .string(readable)), at: 1) }
            if let note { fields.append(("note", .string(note))) }
            return .object(fields)
        }

        /// TAB-separated; `?` is unknown from what was given, `none` is looked up and not there.
        var line: String {
            [token.map { JSONValue.string($0).serialized() } ?? "?", digest ?? "?",
             originalID.map(String.init) ?? "?", adaptedID.map(String.init) ?? (digest != nil ? "none" : "?")]
                .joined(separator: "\t") + (readable.map { "\t" + $0 } ?? "")
        }
    }

    func run() throws {
        try reportingErrors(json: report.json) {
            let passkey = key.isGiven ? try key.passkey() : nil  // the command works without a key
            let adapted = try AdaptedVocabulary(path: adaptedDirectory)
            let adaptedTokens = adapted.vocabulary.tokens
            var encryptor: Encryptor?
            if let original, let passkey {
                do {
                    encryptor = try Encryptor(modelDirectory: original, key: passkey)
                } catch let e as TokenHasher.Error {
                    throw ValidationError(e.description)
                }
            } else if token != nil && passkey == nil {
                throw ValidationError("--token needs the passkey (SENTINEL_KEY or --key-file)")
            }

            // Byte-level BPE spellings (`Ġthe`) get a readable column.
            let byteLevel = encryptor?.tokenizer is ByteLevelBPETokenizer
                || (original == nil && fileExists(adaptedDirectory + "/vocab.json") && !fileExists(adaptedDirectory + "/vocab.txt"))

            // Summary.
            let digests = adaptedTokens.filter(isDigest).count
            var summary: [(String, JSONValue)] = [
                ("adapted_vocab_size", .int(Int64(adaptedTokens.count))),
                ("adapted_digests", .int(Int64(digests))),
                ("adapted_plain_tokens", .array(adaptedTokens.enumerated()
                    .filter { !isDigest($0.element) }
                    .map { .object([("token", .string($0.element)), ("adapted_id", .int(Int64($0.offset)))]) })),
                ("key_given", .bool(passkey != nil)),
                ("mapping_known", .bool(encryptor != nil)),
            ]
            if let e = encryptor {
                let n = e.tokenizer.vocabularySize
                var found = 0, moved = 0, hashed = 0, hashedFound = 0
                for id in 0..<n {
                    let isHashed = e.isHashed(id: Int32(id))
                    if isHashed { hashed += 1 }
                    if let a = adapted.vocabulary.id(of: e.encryptedToken(id: Int32(id))) {
                        found += 1
                        if isHashed { hashedFound += 1 }
                        if Int(a) != id { moved += 1 }
                    }
                }
                // A wrong key finds (almost) no digest: only the special tokens, which are never hashed, match.
                let keyMatches = hashed == 0 || hashedFound * 100 >= hashed
                summary += [("original_vocab_size", .int(Int64(n))), ("original_tokens_found", .int(Int64(found))),
                            ("original_hashed_tokens", .int(Int64(hashed))),
                            ("original_hashed_tokens_found", .int(Int64(hashedFound))),
                            ("original_tokens_moved", .int(Int64(moved))), ("key_matches", .bool(keyMatches))]
                if !keyMatches {
                    let reason = "the key does not match this adapted model: \(hashedFound) of the \(hashed) hashed tokens of "
                        + "\(original ?? "") have their digest in the vocabulary of \(adaptedDirectory) (a wrong key, "
                        + "or --original is not the model it was adapted from)"
                    printError(reason)
                    if report.json {
                        print(JSONValue.object([("summary", .object(summary)),
                                                ("error", .object([("code", .string("key_mismatch")), ("message", .string(reason))]))])
                            .serialized(.pretty))
                    } else {
                        for (k, v) in summary { print("\(k): \(v.serialized())") }
                    }
                    throw Exit.checkFailed
                }
            }

            // Entry of an original id (mapping known) or of an adapted id (adapted directory alone).
            func originalEntry(_ e: Encryptor, _ id: Int) -> Entry {
                let text = e.encryptedToken(id: Int32(id))
                let hashed = e.isHashed(id: Int32(id))
                let adaptedID = adapted.vocabulary.id(of: text).map(Int.init)
                let token = e.tokenizer.tokens([Int32(id)])[0]
                return Entry(token: token, digest: hashed ? text : nil, originalID: id, adaptedID: adaptedID,
                             readable: byteLevel ? ByteLevel.readable(token) : nil)
            }
            func adaptedEntry(_ id: Int) -> Entry {
                let text = adaptedTokens[id]
                let digest = isDigest(text)
                return Entry(token: digest ? nil : text, digest: digest ? text : nil, originalID: nil, adaptedID: id)
            }
            var reverse: [String: Int] = [:]
            if let e = encryptor, digest != nil {
                for id in 0..<e.tokenizer.vocabularySize { reverse[e.encryptedToken(id: Int32(id))] = id }
            }

            var entries: [Entry] = []
            if let token {
                if let e = encryptor, let id = e.tokenizer.id(of: token) {
                    var entry = originalEntry(e, Int(id))
                    if entry.adaptedID == nil {
                        entry.note = "\(JSONValue.string(token).serialized()) is original id \(id), but its digest is not in the adapted vocabulary"
                    }
                    entries.append(entry)
                } else {
                    // The digest needs only the key: hash the token and look it up in the adapted vocabulary.
                    let hasher: TokenHasher
                    do { hasher = try TokenHasher(passkey: passkey ?? "") } catch let e as TokenHasher.Error {
                        throw ValidationError(e.description)
                    }
                    let d = hasher.hexDigest(token)
                    var entry = Entry(token: token, digest: d, originalID: nil, adaptedID: adapted.vocabulary.id(of: d).map(Int.init),
                                      readable: byteLevel ? ByteLevel.readable(token) : nil)
                    if entry.adaptedID == nil {
                        let quotedToken = JSONValue.string(token).serialized()
                        entry.note = encryptor != nil
                            ? "\(quotedToken) is not a token of the original vocabulary, and its digest is not in the adapted vocabulary"
                            : "the digest of \(quotedToken) is not in the adapted vocabulary: the key is not this model's key, "
                              + "or \(quotedToken) is not a token of the original vocabulary (--original tells which)"
                    }
                    entries.append(entry)
                }
            } else if let id {
                let limit = encryptor?.tokenizer.vocabularySize ?? adaptedTokens.count
                guard id >= 0 && id < limit else { throw ValidationError("--id \(id) is outside 0..<\(limit)") }
                var entry = encryptor.map { originalEntry($0, id) } ?? adaptedEntry(id)
                if entry.adaptedID == nil { entry.note = "the digest of original id \(id) is not in the adapted vocabulary" }
                entries.append(entry)
            } else if let digest {
                if let adaptedID = adapted.vocabulary.id(of: digest) {
                    if let e = encryptor, let originalID = reverse[adaptedTokens[Int(adaptedID)]] {
                        entries.append(originalEntry(e, originalID))
                    } else {
                        entries.append(adaptedEntry(Int(adaptedID)))
                    }
                } else {
                    entries.append(Entry(token: nil, digest: isDigest(digest) ? digest : nil, originalID: reverse[digest], adaptedID: nil,
                                         note: "\(digest) is not in the adapted vocabulary"))
                }
            } else if all {
                if let e = encryptor {
                    entries = (0..<e.tokenizer.vocabularySize).map { originalEntry(e, $0) }
                } else {
                    entries = adaptedTokens.indices.map(adaptedEntry)
                }
            }

            if report.json {
                var doc: [(String, JSONValue)] = [("summary", .object(summary))]
                if !entries.isEmpty || token != nil || id != nil || digest != nil || all {
                    doc.append(("entries", .array(entries.map(\.json))))
                }
                print(JSONValue.object(doc).serialized(.pretty))
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
                try writeOutput(Array(text.utf8), to: "-")
            }
        }
    }
}

/// Whether `text` is a token digest: 32 lowercase hex characters.
private func isDigest(_ text: String) -> Bool {
    text.utf8.count == Encryptor.digestHexLength && text.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
}

private func fileExists(_ path: String) -> Bool {
    var st = stat()
    return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
}
