import SentinelCore

/// The options of HuggingFace's `BertNormalizer` (tokenizer.json `normalizer`, or `do_lower_case`,
/// `strip_accents`, `tokenize_chinese_chars` of tokenizer_config.json).
public struct BertNormalization: Sendable, Equatable {
    /// Remove U+0000, U+FFFD and control characters (Cc, Cf, Co; not tab/LF/CR); whitespace → space.
    public var cleanText = true
    /// Put spaces around CJK ideographs, so each is its own word.
    public var handleChineseCharacters = true
    /// NFD, then drop nonspacing marks (Mn). `nil` follows ``lowercase`` (HF's default).
    public var stripAccents: Bool? = nil
    /// Lowercase per scalar (Unicode full lowercase mapping, no context: `Σ` → `σ` everywhere).
    public var lowercase = true

    public init(cleanText: Bool = true, handleChineseCharacters: Bool = true, stripAccents: Bool? = nil, lowercase: Bool = true) {
        self.cleanText = cleanText
        self.handleChineseCharacters = handleChineseCharacters
        self.stripAccents = stripAccents
        self.lowercase = lowercase
    }

    /// Whether accents are stripped (`strip_accents`, or `lowercase` when it is null).
    public var stripsAccents: Bool { stripAccents ?? lowercase }
}

/// A token matched verbatim in the raw text before normalization (tokenizer.json `added_tokens` with
/// `normalized: false`; for BERT the special tokens `[PAD] [UNK] [CLS] [SEP] [MASK]`).
public struct AddedToken: Sendable, Equatable {
    public var content: String
    public var id: Int32
    /// Special tokens are never hashed by the encryption scheme.
    public var special: Bool

    public init(content: String, id: Int32, special: Bool) {
        self.content = content
        self.id = id
        self.special = special
    }
}

/// The wordpieces of one text: parallel arrays, one element per piece.
///
/// Offsets are UTF-8 byte offsets into the text that was tokenized (HF's Rust offsets; Python's are
/// scalar indices). `words` is the word index: the pre-tokenizer's word number for ``BertTokenizer/pieces(of:)``,
/// the caller's word index for pre-split input.
public struct Pieces: Sendable, Equatable {
    /// Vocabulary ids (`input_ids` without special tokens).
    public var ids: [Int32] = []
    /// Start byte offset of each piece in the original text.
    public var starts: [Int32] = []
    /// End byte offset (exclusive) of each piece in the original text.
    public var ends: [Int32] = []
    /// Word index of each piece.
    public var words: [Int32] = []

    public init() {}

    public var count: Int { ids.count }

    /// Appends one piece.
    @inline(__always)
    public mutating func appendPiece(_ id: Int32, start: Int32, end: Int32, word: Int32) {
        append(id, start, end, word)
    }

    @inline(__always)
    mutating func append(_ id: Int32, _ start: Int32, _ end: Int32, _ word: Int32) {
        ids.append(id)
        starts.append(start)
        ends.append(end)
        words.append(word)
    }

    mutating func truncate(to n: Int) {
        ids.removeSubrange(n...)
        starts.removeSubrange(n...)
        ends.removeSubrange(n...)
        words.removeSubrange(n...)
    }

    /// Empties the arrays, keeping their storage for the next text.
    public mutating func removeAll() {
        ids.removeAll(keepingCapacity: true)
        starts.removeAll(keepingCapacity: true)
        ends.removeAll(keepingCapacity: true)
        words.removeAll(keepingCapacity: true)
    }
}

/// Reusable scratch buffers for ``BertTokenizer``; one per thread (it is not copyable).
///
/// Holds the word being built: its normalized UTF-8 bytes and, per byte, the original text's byte range of
/// the scalar it came from. The buffers are raw memory sized once for the longest word the tokenizer can
/// match (`max_input_chars_per_word` scalars of up to 4 bytes); a longer word only counts its scalars,
/// since it becomes `[UNK]` anyway.
public struct TokenizerWorkspace: ~Copyable {
    var bytes: UnsafeMutablePointer<UInt8>
    var starts: UnsafeMutablePointer<Int32>
    var ends: UnsafeMutablePointer<Int32>
    var capacity: Int
    /// Bytes of the word stored.
    var count = 0
    /// Scalars in the word (may be more than are stored).
    var scalars = 0
    /// Original end offset of the word's last scalar.
    var lastEnd: Int32 = 0
    var nextWord: Int32 = 0
    var scratch: [Unicode.Scalar] = []
    var lowered: [Unicode.Scalar] = []

    public init() {
        capacity = 512
        bytes = .allocate(capacity: capacity)
        starts = .allocate(capacity: capacity)
        ends = .allocate(capacity: capacity)
    }

    deinit {
        bytes.deallocate()
        starts.deallocate()
        ends.deallocate()
    }

    /// Makes room for `n` bytes (called once per text, outside the hot loop).
    mutating func reserve(_ n: Int) {
        guard n > capacity else { return }
        bytes.deallocate()
        starts.deallocate()
        ends.deallocate()
        capacity = n
        bytes = .allocate(capacity: n)
        starts = .allocate(capacity: n)
        ends = .allocate(capacity: n)
        count = 0
    }

    /// Appends one byte of a scalar that came from original bytes `start..<end`.
    @inline(__always)
    mutating func push(_ b: UInt8, _ start: Int32, _ end: Int32) {
        if count < capacity {
            bytes[count] = b
            starts[count] = start
            ends[count] = end
            count += 1
        }
    }

    @inline(__always)
    mutating func clearWord() {
        count = 0
        scalars = 0
    }
}

/// BERT's tokenizer (BasicTokenizer + WordPiece) with the behaviour of HuggingFace's fast (Rust)
/// tokenizer, `tokenizers` 0.23: added-token split, `BertNormalizer`, `BertPreTokenizer`, `WordPiece`,
/// and the BERT template `[CLS] A [SEP]` / `[CLS] A [SEP] B [SEP]`.
///
/// Immutable and `Sendable`: one instance serves every thread; each thread passes its own
/// ``TokenizerWorkspace`` to the low-level ``append(_:word:to:workspace:)``. Text is processed as UTF-8
/// bytes, one Unicode scalar at a time (never grapheme clusters), with a table-driven ASCII path.
/// The behaviour, and where it differs from the slow Python tokenizer, is in `Formats/tokenizer.md`.
public final class BertTokenizer: @unchecked Sendable {
    public let vocabulary: WordPieceVocabulary
    public let normalization: BertNormalization
    /// Words longer than this many scalars (after normalization) become one `[UNK]`.
    public let maxInputCharactersPerWord: Int
    public let addedTokens: [AddedToken]
    public let unknownID: Int32
    public let clsID: Int32
    public let sepID: Int32
    public let padID: Int32
    /// Ids that the encryption scheme never hashes: the special-tokens map (`[UNK] [SEP] [PAD] [CLS] [MASK]`)
    /// and every added token marked special.
    public let specialIDs: Set<Int32>

    // Immutable after init; raw memory so that threads sharing the tokenizer never touch a shared
    // reference count in the hot loop (hence `@unchecked Sendable`).
    /// Per ASCII byte: 0 drop, 1 whitespace, 2 punctuation, 3 word character.
    private let asciiClass: UnsafeMutablePointer<UInt8>
    /// Per ASCII byte: the byte after lowercasing (if on).
    private let asciiMapped: UnsafeMutablePointer<UInt8>
    /// Per byte: whether an added token starts with it.
    private let addedFirstByte: UnsafeMutablePointer<Bool>
    private let whole: ByteTable.View
    private let continuation: ByteTable.View
    /// Added tokens as bytes, longest first (leftmost-longest matching).
    private let addedBytes: [([UInt8], Int32)]

    /// Builds a tokenizer from its parts.
    /// - Parameters:
    ///   - specialTokens: the special-tokens map values (`unk`, `cls`, `sep`, `pad`, `mask`); each must be in
    ///     the vocabulary (or among `addedTokens`).
    /// - Throws: ``InputError`` (`missing`) naming `file` when `[UNK]`, `[CLS]`, `[SEP]` or `[PAD]` is not in the vocabulary.
    public init(
        vocabulary: WordPieceVocabulary, normalization: BertNormalization = BertNormalization(),
        maxInputCharactersPerWord: Int = 100, addedTokens: [AddedToken]? = nil,
        specialTokens: SpecialTokens = SpecialTokens(), file: String = "vocab.txt"
    ) throws {
        self.vocabulary = vocabulary
        self.normalization = normalization
        // The workspace holds up to 4 bytes per scalar of the longest matchable word; keep that bounded.
        self.maxInputCharactersPerWord = min(max(maxInputCharactersPerWord, 0), 100_000)
        func require(_ token: String, _ role: String) throws -> Int32 {
            if let id = addedTokens?.first(where: { $0.content == token })?.id ?? vocabulary.id(of: token) { return id }
            throw InputError(
                .missing, file: file, key: token,
                "the vocabulary has no \(role) token \(quoted(token)) (\(vocabulary.count) entries)")
        }
        unknownID = try require(specialTokens.unknown, "unknown")
        clsID = try require(specialTokens.classifier, "classifier")
        sepID = try require(specialTokens.separator, "separator")
        padID = try require(specialTokens.padding, "padding")
        var added = addedTokens ?? []
        if addedTokens == nil {
            // Like transformers: the special tokens are added tokens matched in the raw text.
            for token in specialTokens.all {
                if let id = vocabulary.id(of: token) { added.append(AddedToken(content: token, id: id, special: true)) }
            }
        }
        self.addedTokens = added
        var special = Set(added.filter(\.special).map(\.id))
        for token in specialTokens.all {
            if let id = added.first(where: { $0.content == token })?.id ?? vocabulary.id(of: token) { special.insert(id) }
        }
        specialIDs = special
        let nonEmpty = added.filter { !$0.content.isEmpty }
        addedBytes = nonEmpty.map { (Array($0.content.utf8), $0.id) }.sorted { $0.0.count > $1.0.count }
        var first = [Bool](repeating: false, count: 256)
        for (bytes, _) in addedBytes { first[Int(bytes[0])] = true }
        addedFirstByte = .allocate(capacity: 256)
        addedFirstByte.initialize(from: first, count: 256)
        whole = vocabulary.whole.view!
        continuation = vocabulary.continuation.view!

        var cls = [UInt8](repeating: 3, count: 128)
        var mapped = [UInt8](repeating: 0, count: 128)
        for b in 0..<128 {
            let s = Unicode.Scalar(UInt8(b))
            mapped[b] = normalization.lowercase && b >= 65 && b <= 90 ? UInt8(b + 32) : UInt8(b)
            if normalization.cleanText && (b == 0 || BertCharacters.isControl(s)) {
                cls[b] = 0
            } else if BertCharacters.isWhitespace(s) {
                cls[b] = 1
            } else if BertCharacters.isPunctuation(s) {
                cls[b] = 2
            }
        }
        asciiClass = .allocate(capacity: 128)
        asciiClass.initialize(from: cls, count: 128)
        asciiMapped = .allocate(capacity: 128)
        asciiMapped.initialize(from: mapped, count: 128)
    }

    deinit {
        asciiClass.deallocate()
        asciiMapped.deallocate()
        addedFirstByte.deallocate()
    }

    /// The special-tokens map (special_tokens_map.json / tokenizer_config.json).
    public struct SpecialTokens: Sendable, Equatable {
        public var unknown = "[UNK]"
        public var classifier = "[CLS]"
        public var separator = "[SEP]"
        public var padding = "[PAD]"
        public var mask: String? = "[MASK]"
        public init() {}
        public var all: [String] { [unknown, separator, padding, classifier] + (mask.map { [$0] } ?? []) }
    }

    /// The wordpieces of `text`, without special tokens, with offsets and pre-tokenizer word indices.
    public func pieces(of text: String) -> Pieces {
        var out = Pieces()
        var workspace = TokenizerWorkspace()
        append(text, to: &out, workspace: &workspace)
        return out
    }

    /// Appends the wordpieces of `text` to `out`.
    /// - Parameter word: when given, every piece gets this word index (pre-split words, NER); otherwise
    ///   the pre-tokenizer's words are numbered from the workspace's counter.
    public func append(_ text: String, word: Int32? = nil, to out: inout Pieces, workspace: inout TokenizerWorkspace) {
        var text = text
        text.withUTF8 { append(UnsafeRawBufferPointer($0), word: word, to: &out, workspace: &workspace) }
    }

    /// Appends the wordpieces of the UTF-8 bytes `text` to `out`. Offsets are relative to `text`.
    /// - Precondition: `text` is valid UTF-8 (a Swift `String`, or a file checked by ``TextFile``).
    public func append(
        _ text: UnsafeRawBufferPointer, word: Int32? = nil, to out: inout Pieces,
        workspace ws: inout TokenizerWorkspace
    ) {
        guard let p = text.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
        let n = text.count
        var i = 0
        ws.reserve(maxInputCharactersPerWord * 4 + 16)
        ws.clearWord()
        while i < n {
            let b = p[i]
            if addedFirstByte[Int(b)], let (length, id) = matchAdded(p + i, n - i) {
                flush(word, &out, &ws)
                out.append(id, Int32(i), Int32(i + length), word ?? nextWord(&ws))
                i += length
                continue
            }
            if b < 0x80 {
                switch asciiClass[Int(b)] {
                case 0: break
                case 1: flush(word, &out, &ws)
                case 2:
                    flush(word, &out, &ws)
                    ws.push(b, Int32(i), Int32(i + 1))
                    ws.scalars = 1
                    ws.lastEnd = Int32(i + 1)
                    flush(word, &out, &ws)
                default:
                    ws.push(asciiMapped[Int(b)], Int32(i), Int32(i + 1))
                    ws.scalars += 1
                    ws.lastEnd = Int32(i + 1)
                }
                i += 1
            } else {
                let (scalar, length) = decodeScalar(p + i, n - i)
                nonASCII(scalar, Int32(i), Int32(i + length), word, &out, &ws)
                i += length
            }
        }
        flush(word, &out, &ws)
    }

    @inline(__always)
    private func nextWord(_ ws: inout TokenizerWorkspace) -> Int32 {
        defer { ws.nextWord += 1 }
        return ws.nextWord
    }

    private func matchAdded(_ p: UnsafePointer<UInt8>, _ n: Int) -> (Int, Int32)? {
        for (bytes, id) in addedBytes where bytes.count <= n {
            if bytes.withUnsafeBufferPointer({ memcmp($0.baseAddress!, p, bytes.count) == 0 }) { return (bytes.count, id) }
        }
        return nil
    }

    /// Decodes one scalar at `p` (lead byte ≥ 0x80). Input is valid UTF-8 by contract; should it not be, a
    /// stray or cut-off byte decodes as U+FFFD of length 1 and nothing is read past `n` bytes.
    @inline(__always)
    private func decodeScalar(_ p: UnsafePointer<UInt8>, _ n: Int) -> (Unicode.Scalar, Int) {
        let b0 = UInt32(p[0])
        var v: UInt32
        var length: Int
        let expected = b0 < 0xC0 ? 0 : b0 < 0xE0 ? 2 : b0 < 0xF0 ? 3 : b0 < 0xF8 ? 4 : 0
        if expected == 0 || expected > n { return ("\u{FFFD}", 1) }
        if b0 < 0xE0 {
            v = (b0 & 0x1F) << 6 | (UInt32(p[1]) & 0x3F)
            length = 2
        } else if b0 < 0xF0 {
            v = (b0 & 0x0F) << 12 | (UInt32(p[1]) & 0x3F) << 6 | (UInt32(p[2]) & 0x3F)
            length = 3
        } else {
            v = (b0 & 0x07) << 18 | (UInt32(p[1]) & 0x3F) << 12 | (UInt32(p[2]) & 0x3F) << 6 | (UInt32(p[3]) & 0x3F)
            length = 4
        }
        return (Unicode.Scalar(v) ?? "\u{FFFD}", length)
    }

    /// Normalizes and pre-tokenizes one non-ASCII scalar of the original text at bytes `start..<end`.
    private func nonASCII(
        _ s: Unicode.Scalar, _ start: Int32, _ end: Int32, _ word: Int32?,
        _ out: inout Pieces, _ ws: inout TokenizerWorkspace
    ) {
        let v = s.value
        if normalization.cleanText {
            if v == 0xFFFD || BertCharacters.isControl(s) { return }
            if BertCharacters.isWhitespace(s) {
                flush(word, &out, &ws)
                return
            }
        }
        let chinese = normalization.handleChineseCharacters && BertCharacters.isChinese(v)
        if chinese { flush(word, &out, &ws) }
        ws.scratch.removeAll(keepingCapacity: true)
        if normalization.stripsAccents {
            BertCharacters.appendDecomposition(of: s, to: &ws.scratch)
            ws.scratch.removeAll { BertCharacters.isNonspacingMark($0) }
        } else {
            ws.scratch.append(s)
        }
        if normalization.lowercase && ws.scratch.contains(where: { $0.properties.changesWhenLowercased }) {
            ws.lowered.removeAll(keepingCapacity: true)
            for x in ws.scratch {
                if x.properties.changesWhenLowercased {
                    ws.lowered.append(contentsOf: x.properties.lowercaseMapping.unicodeScalars)
                } else {
                    ws.lowered.append(x)
                }
            }
            swap(&ws.scratch, &ws.lowered)
        }
        for x in ws.scratch {
            if BertCharacters.isWhitespace(x) {
                flush(word, &out, &ws)
            } else if BertCharacters.isPunctuation(x) {
                flush(word, &out, &ws)
                appendScalar(x, start, end, &ws)
                flush(word, &out, &ws)
            } else {
                appendScalar(x, start, end, &ws)
            }
        }
        if chinese { flush(word, &out, &ws) }
    }

    @inline(__always)
    private func appendScalar(_ x: Unicode.Scalar, _ start: Int32, _ end: Int32, _ ws: inout TokenizerWorkspace) {
        UTF8.encode(x) { ws.push($0, start, end) }
        ws.scalars += 1
        ws.lastEnd = end
    }

    /// WordPiece on the word in the workspace: greedy longest-match-first, `##` continuations; a word
    /// over the length limit or with an unmatchable position becomes one `[UNK]`.
    private func flush(_ word: Int32?, _ out: inout Pieces, _ ws: inout TokenizerWorkspace) {
        let n = ws.count
        if ws.scalars == 0 { return }
        let wordID = word ?? nextWord(&ws)
        let first = ws.starts[0]
        let last = ws.lastEnd
        defer { ws.clearWord() }
        if ws.scalars > maxInputCharactersPerWord {
            out.append(unknownID, first, last, wordID)
            return
        }
        let mark = out.count
        let base = UnsafePointer(ws.bytes)
        var start = 0
        var matched = true
        while start < n {
            let table = start == 0 ? whole : continuation
            var end = min(n, start + table.maxKeyLength)
            while end < n && end > start && (base[end] & 0xC0) == 0x80 { end -= 1 }
            var found: Int32?
            while end > start {
                if let id = table.lookup(base + start, end - start) {
                    found = id
                    break
                }
                end -= 1
                while end > start && (base[end] & 0xC0) == 0x80 { end -= 1 }
            }
            guard let id = found else {
                matched = false
                break
            }
            out.append(id, ws.starts[start], ws.ends[end - 1], wordID)
            start = end
        }
        if !matched {
            out.truncate(to: mark)
            out.append(unknownID, first, last, wordID)
        }
    }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
