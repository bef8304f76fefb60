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

    @Argument(help: "The adapted model directory (its vocab.txt lists digests in adapted-id order).")
    var adaptedDirectory: String

    @Option(help: "The original model directory (needed, with the key, to link tokens to digests).")
    var original: String?

    @Option(help: "Look up one token (needs the key; --original adds its original id).")
    var token: String?

    @Option(help: "Look up one id (original with --original and key, else adapted).")
    var id: Int?

    @Option(help: "Look up one digest (32 hex characters) or special token.")
    var digest: String?

    @Flag(help: "List every entry.")
    var all = false

    @OptionGroup var key: KeyOptions
    @OptionGroup var report: ReportOptions

    func validate() throws {
        let queries = [token != nil, id != nil, digest != nil].filter { $0 }.count
        if queries > 1 { throw ValidationError("give at most one of --token, --id, --digest") }
        if queries == 1 && all { throw ValidationError("--all lists everything; drop the query or --all") }
    }

    /// One row of the mapping; nil fields are unknown from what was given.
    struct Entry {
        var token: String?
        var digest: String?
        var originalID: Int?
        var adaptedID: Int?

        var json: JSONValue {
            func opt(_ s: String?) -> JSONValue { s.map { .string($0) } ?? .null }
            func opt(_ i: Int?) -> JSONValue { i.map { .int(Int64($0)) } ?? .null }
            return .object([("token", opt(token)), ("digest", opt(digest)),
                            ("original_id", opt(originalID)), ("adapted_id", opt(adaptedID))])
        }

        var line: String {
            [token.map { JSONValue.string($0).serialized() } ?? "?", digest ?? "?",
             originalID.map(String.init) ?? "?", adaptedID.map(String.init) ?? "?"].joined(separator: "\t")
        }
    }

    /// Whether a passkey was provided (the command works without one).
    var hasKey: Bool {
        if key.keyFile != nil { return true }
        if let env = getenv("SENTINEL_KEY") { return env.pointee != 0 }
        return false
    }

    func run() throws {
        try reportingErrors(json: report.json) {
            let adapted = try AdaptedVocabulary(path: adaptedDirectory)
            let adaptedTokens = adapted.vocabulary.tokens
            var encryptor: Encryptor?
            if let original, hasKey {
                do {
                    encryptor = try Encryptor(modelDirectory: original, key: try key.passkey())
                } catch let e as TokenHasher.Error {
                    throw ValidationError(e.description)
                }
            } else if token != nil && !hasKey {
                throw ValidationError("--token needs the passkey (SENTINEL_KEY or --key-file)")
            }

            // Entry of an original id (mapping known) or of an adapted id (adapted directory alone).
            func originalEntry(_ e: Encryptor, _ id: Int) -> Entry {
                let text = e.encryptedToken(id: Int32(id))
                let hashed = e.isHashed(id: Int32(id))
                let adaptedID = adapted.vocabulary.id(of: text).map(Int.init)
                return Entry(token: e.tokenizer.tokens([Int32(id)])[0], digest: hashed ? text : nil,
                             originalID: id, adaptedID: adaptedID)
            }
            func adaptedEntry(_ id: Int) -> Entry {
                let text = adaptedTokens[id]
                let isDigest = text.utf8.count == Encryptor.digestHexLength && text.utf8.allSatisfy(isHex)
                return Entry(token: isDigest ? nil : text, digest: isDigest ? text : nil, originalID: nil, adaptedID: id)
            }
            var reverse: [String: Int] = [:]
            if let e = encryptor, digest != nil {
                for id in 0..<e.tokenizer.vocabulary.count { reverse[e.encryptedToken(id: Int32(id))] = id }
            }

            var entries: [Entry] = []
            if let token {
                if let e = encryptor, let id = e.tokenizer.vocabulary.id(of: token) {
                    entries.append(originalEntry(e, Int(id)))
                } else {
                    // The digest needs only the key: hash the token and look it up in the adapted vocabulary.
                    let hasher: TokenHasher
                    do { hasher = try TokenHasher(passkey: try key.passkey()) } catch let e as TokenHasher.Error {
                        throw ValidationError(e.description)
                    }
                    let d = hasher.hexDigest(token)
                    entries.append(Entry(token: token, digest: d, originalID: nil, adaptedID: adapted.vocabulary.id(of: d).map(Int.init)))
                }
            } else if let id {
                let limit = encryptor?.tokenizer.vocabulary.count ?? adaptedTokens.count
                guard id >= 0 && id < limit else { throw ValidationError("--id \(id) is outside 0..<\(limit)") }
                entries.append(encryptor.map { originalEntry($0, id) } ?? adaptedEntry(id))
            } else if let digest {
                let wanted = digest.lowercased()
                if let adaptedID = adapted.vocabulary.id(of: wanted) ?? adapted.vocabulary.id(of: digest) {
                    if let e = encryptor, let originalID = reverse[adaptedTokens[Int(adaptedID)]] {
                        entries.append(originalEntry(e, originalID))
                    } else {
                        entries.append(adaptedEntry(Int(adaptedID)))
                    }
                } else {
                    entries.append(Entry(token: nil, digest: wanted, originalID: reverse[wanted], adaptedID: nil))
                }
            } else if all {
                if let e = encryptor {
                    entries = (0..<e.tokenizer.vocabulary.count).map { originalEntry(e, $0) }
                } else {
                    entries = adaptedTokens.indices.map(adaptedEntry)
                }
            }

            // Summary.
            let digests = adaptedTokens.filter { $0.utf8.count == Encryptor.digestHexLength && $0.utf8.allSatisfy(isHex) }.count
            var summary: [(String, JSONValue)] = [
                ("adapted_vocab_size", .int(Int64(adaptedTokens.count))),
                ("adapted_digests", .int(Int64(digests))),
                ("adapted_plain_tokens", .array(adaptedTokens.enumerated()
                    .filter { !($0.element.utf8.count == Encryptor.digestHexLength && $0.element.utf8.allSatisfy(isHex)) }
                    .map { .object([("token", .string($0.element)), ("adapted_id", .int(Int64($0.offset)))]) })),
                ("key_given", .bool(hasKey)),
                ("mapping_known", .bool(encryptor != nil)),
            ]
            if let e = encryptor {
                let n = e.tokenizer.vocabulary.count
                var found = 0, moved = 0
                for id in 0..<n {
                    if let a = adapted.vocabulary.id(of: e.encryptedToken(id: Int32(id))) {
                        found += 1
                        if Int(a) != id { moved += 1 }
                    }
                }
                summary += [("original_vocab_size", .int(Int64(n))), ("original_tokens_found", .int(Int64(found))),
                            ("original_tokens_moved", .int(Int64(moved)))]
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
                var text = "token\tdigest\toriginal_id\tadapted_id\n"
                for e in entries { text += e.line + "\n" }
                try writeOutput(Array(text.utf8), to: "-")
            }
        }
    }
}

private func isHex(_ b: UInt8) -> Bool { (b >= 0x30 && b <= 0x39) || (b >= 0x61 && b <= 0x66) }
