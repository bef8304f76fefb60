import SentinelCore

/// The SentencePiece unigram tokenizer of XLM-R (and other SentencePiece models) with the behaviour of
/// HuggingFace's fast tokenizer, tokenizers 0.23 / transformers 5: added-token split on the raw text,
/// the `Precompiled` normalizer (the model's `nmt_nfkc` character map, ``PrecompiledCharsmap``), the
/// `WhitespaceSplit` + `Metaspace("▁", prepend_scheme: always, split: true)` pre-tokenizer, the `Unigram`
/// model (``UnigramModel``: Viterbi over piece scores, fused unknown pieces), and the template
/// `<s> A </s>` / `<s> A </s></s> B </s>`.
///
/// Loaders: ``load(directory:)`` (tokenizer.json, else the `.model` file), ``load(tokenizerJSON:specialTokens:)``
/// and ``load(sentencePieceModel:specialTokens:addPrefixSpace:)``, which converts a `.model` as transformers 5's
/// `XLMRobertaTokenizer` does (fairseq ids: `<s>`=0 `<pad>`=1 `</s>`=2 `<unk>`=3, piece i ≥ 3 → i + 1, `<mask>`
/// last). Where the fast and the slow (sentencepiece) tokenizers disagree this follows the fast one; the cases
/// are in `Formats/sentencepiece.md`.
///
/// Immutable and `Sendable`; each thread passes its own ``UnigramWorkspace`` to
/// ``append(_:word:to:workspace:)``. Offsets are UTF-8 byte offsets into the text given.
public final class UnigramTokenizer: @unchecked Sendable {
    /// When `Metaspace` puts the replacement character in front of a word.
    public enum PrependScheme: String, Sendable {
        /// Every word that does not already start with it (XLM-R).
        case always
        /// Only a word at the very start of the input.
        case first
        case never
    }

    /// The pre-tokenizer: optional `WhitespaceSplit`, then `Metaspace`.
    public struct PreTokenization: Sendable, Equatable {
        /// Split on Unicode White_Space (Rust `char::is_whitespace`) and drop it, before `Metaspace`.
        public var whitespaceSplit: Bool
        /// The word-start marker that also replaces spaces, `▁` (U+2581).
        public var replacement: String
        public var prependScheme: PrependScheme
        /// Cut words before every replacement character (`MergedWithNext`).
        public var split: Bool

        public init(whitespaceSplit: Bool = true, replacement: String = "\u{2581}", prependScheme: PrependScheme = .always, split: Bool = true) {
            self.whitespaceSplit = whitespaceSplit
            self.replacement = replacement
            self.prependScheme = prependScheme
            self.split = split
        }
    }

    /// One normalizer of the sequence, applied in order.
    public enum NormalizerStep: Sendable {
        /// tokenizers `Precompiled` (SentencePiece's character map).
        case precompiled(PrecompiledCharsmap)
        /// tokenizers `Replace` with a literal pattern.
        case replace(pattern: String, content: String)
        /// tokenizers `Replace` with the regex `" {2,}"`: runs of two or more spaces become `content`.
        case collapseSpaces(content: String)
    }

    public let model: UnigramModel
    public let normalizers: [NormalizerStep]
    public let preTokenization: PreTokenization
    public let addedTokens: [AddedToken]
    public let template: SpecialTokenTemplate
    public let specialIDs: Set<Int32>
    public let unknownID: Int32
    /// Added-token ids that also take the white space on their left or right (tokenizers `lstrip`/`rstrip`).
    public let addedTokenStripping: [Int32: (left: Bool, right: Bool)]

    private let replacementBytes: [UInt8]
    /// Added tokens as bytes, longest first, with (lstrip, rstrip).
    private let addedBytes: [(bytes: [UInt8], id: Int32, lstrip: Bool, rstrip: Bool)]
    private let addedFirstByte: UnsafeMutablePointer<Bool>
    /// Per ASCII byte: Unicode White_Space.
    private let asciiSpace: UnsafeMutablePointer<Bool>

    /// Builds a tokenizer from its parts.
    /// - Parameters:
    ///   - addedTokens: matched verbatim in the raw text before normalization (`normalized: false`).
    ///   - specialTokens: the special-tokens map; `<s>`/`</s>`/`<pad>` give the template, and every entry (with
    ///     the added tokens marked special) is in ``specialIDs``.
    ///   - templateStyle: `.roberta` for XLM-R.
    ///   - stripping: added-token ids that also take the white space on their left or right (tokenizers
    ///     `lstrip`/`rstrip`, e.g. XLM-R's `<mask>` in transformers 4 files).
    /// - Throws: ``InputError`` (`missing`) naming `file` when a token of the template is not in the vocabulary.
    public init(
        model: UnigramModel, normalizers: [NormalizerStep], preTokenization: PreTokenization,
        addedTokens: [AddedToken], specialTokens: BertTokenizer.SpecialTokens = UnigramTokenizer.xlmrSpecialTokens,
        templateStyle: SpecialTokenTemplate.Style = .roberta, stripping: [Int32: (left: Bool, right: Bool)] = [:],
        file: String
    ) throws {
        self.model = model
        self.normalizers = normalizers
        self.preTokenization = preTokenization
        self.addedTokens = addedTokens
        unknownID = model.unknownID
        addedTokenStripping = stripping
        func lookup(_ token: String) -> Int32? { addedTokens.first { $0.content == token }?.id ?? model.id(of: token) }
        func require(_ token: String, _ role: String) throws -> Int32 {
            if let id = lookup(token) { return id }
            throw InputError(.missing, file: file, key: token, "the vocabulary has no \(role) token \(quoted(token)) (\(model.count) pieces)")
        }
        template = SpecialTokenTemplate(
            style: templateStyle, start: try require(specialTokens.classifier, "start (cls)"),
            end: try require(specialTokens.separator, "end (sep)"), pad: try require(specialTokens.padding, "padding"))
        var special = Set(addedTokens.filter(\.special).map(\.id))
        for token in specialTokens.all { if let id = lookup(token) { special.insert(id) } }
        specialIDs = special
        replacementBytes = Array(preTokenization.replacement.utf8)
        addedBytes = addedTokens.filter { !$0.content.isEmpty }
            .map { (Array($0.content.utf8), $0.id, stripping[$0.id]?.left ?? false, stripping[$0.id]?.right ?? false) }
            .sorted { $0.0.count > $1.0.count }
        addedFirstByte = .allocate(capacity: 256)
        addedFirstByte.initialize(repeating: false, count: 256)
        for entry in addedBytes { addedFirstByte[Int(entry.bytes[0])] = true }
        asciiSpace = .allocate(capacity: 128)
        for b in 0..<128 { asciiSpace[b] = Unicode.Scalar(UInt8(b)).properties.isWhitespace }
    }

    deinit {
        addedFirstByte.deallocate()
        asciiSpace.deallocate()
    }

    /// XLM-R's special tokens: `<unk>`, `<s>` (cls), `</s>` (sep), `<pad>`, `<mask>`.
    public static var xlmrSpecialTokens: BertTokenizer.SpecialTokens {
        var s = BertTokenizer.SpecialTokens()
        s.unknown = "<unk>"
        s.classifier = "<s>"
        s.separator = "</s>"
        s.padding = "<pad>"
        s.mask = "<mask>"
        return s
    }

    // MARK: Tokenizing

    /// The pieces of `text`, without special tokens, with offsets and pre-tokenizer word indices.
    public func pieces(of text: String) -> Pieces {
        var out = Pieces()
        append(text, to: &out, workspace: UnigramWorkspace())
        return out
    }

    /// Appends the pieces of `text` to `out`.
    /// - Parameter word: when given, every piece gets this word index (pre-split words, NER); otherwise the
    ///   pre-tokenizer's words are numbered from the workspace's counter (reset it with a new workspace).
    public func append(_ text: String, word: Int32? = nil, to out: inout Pieces, workspace: UnigramWorkspace) {
        var text = text
        text.withUTF8 { append(UnsafeRawBufferPointer($0), word: word, to: &out, workspace: workspace) }
    }

    /// Appends the pieces of the UTF-8 bytes `text` to `out`. Offsets are relative to `text`.
    /// - Precondition: `text` is valid UTF-8 (a Swift `String`, or a file checked by ``TextFile``).
    public func append(_ text: UnsafeRawBufferPointer, word: Int32? = nil, to out: inout Pieces, workspace ws: UnigramWorkspace) {
        guard let p = text.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
        let n = text.count
        var segment = 0
        var i = 0
        while i < n {
            if addedFirstByte[Int(p[i])], let (index, length) = matchAdded(p + i, n - i) {
                var start = i, end = i + length
                if addedBytes[index].lstrip { while start > segment, let w = whitespaceBefore(p, start, floor: segment) { start -= w } }
                if addedBytes[index].rstrip { while end < n, let w = whitespaceWidth(p + end, n - end) { end += w } }
                appendSegment(p, segment, start, word: word, to: &out, workspace: ws)
                out.append(addedBytes[index].id, Int32(start), Int32(end), word ?? nextWord(ws))
                i = end
                segment = end
                continue
            }
            i += 1
        }
        appendSegment(p, segment, n, word: word, to: &out, workspace: ws)
    }

    @inline(__always)
    private func nextWord(_ ws: UnigramWorkspace) -> Int32 {
        defer { ws.nextWord += 1 }
        return ws.nextWord
    }

    /// The longest added token at `p` (index into `addedBytes`, byte length).
    private func matchAdded(_ p: UnsafePointer<UInt8>, _ n: Int) -> (Int, Int)? {
        for (index, entry) in addedBytes.enumerated() where entry.bytes.count <= n {
            var same = true
            for k in 0..<entry.bytes.count where p[k] != entry.bytes[k] {
                same = false
                break
            }
            if same { return (index, entry.bytes.count) }
        }
        return nil
    }

    /// The byte width of the character at `p` if it is White_Space.
    @inline(__always)
    private func whitespaceWidth(_ p: UnsafePointer<UInt8>, _ n: Int) -> Int? {
        let b = p[0]
        if b < 0x80 { return asciiSpace[Int(b)] ? 1 : nil }
        let (scalar, width) = decodeScalar(p, n)
        return scalar.properties.isWhitespace ? width : nil
    }

    /// The byte width of the character that ends at `end` if it is White_Space (not reaching before `floor`).
    private func whitespaceBefore(_ p: UnsafePointer<UInt8>, _ end: Int, floor: Int) -> Int? {
        var s = end - 1
        while s > floor && p[s] & 0xC0 == 0x80 { s -= 1 }
        guard let w = whitespaceWidth(p + s, end - s), w == end - s else { return nil }
        return w
    }

    /// Normalizes, pre-tokenizes and cuts the raw text `p[lo..<hi]` (between added tokens).
    private func appendSegment(
        _ p: UnsafePointer<UInt8>, _ lo: Int, _ hi: Int, word: Int32?, to out: inout Pieces,
        workspace ws: UnigramWorkspace
    ) {
        guard hi > lo else { return }
        ws.normalized.removeAll()
        // The loaders accept `Precompiled` only as the first normalizer: it reads the raw text.
        if case let .precompiled(map)? = normalizers.first {
            map.normalize(p + lo, hi - lo, base: Int32(lo), into: ws.normalized)
        } else {
            copyRaw(p, lo, hi, into: ws.normalized)
        }
        for step in normalizers {
            switch step {
            case .precompiled: break
            case let .replace(pattern, content): replace(Array(pattern.utf8), by: Array(content.utf8), collapse: false, ws)
            case let .collapseSpaces(content): replace([0x20], by: Array(content.utf8), collapse: true, ws)
            }
        }
        preTokenize(ws.normalized, word: word, to: &out, workspace: ws)
    }

    private func copyRaw(_ p: UnsafePointer<UInt8>, _ lo: Int, _ hi: Int, into out: AlignedBytes) {
        var i = lo
        while i < hi {
            let w = min(utf8Width(p[i]), hi - i)
            for k in 0..<w { out.append(p[i + k], Int32(i), Int32(i + w)) }
            i += w
        }
    }

    /// tokenizers `Replace` on the normalized text: every occurrence of `pattern` (with `collapse`, every run
    /// of two or more) becomes `content`, aligned to the span it replaces.
    private func replace(_ pattern: [UInt8], by content: [UInt8], collapse: Bool, _ ws: UnigramWorkspace) {
        let src = ws.normalized, dst = ws.scratch
        dst.removeAll()
        guard !pattern.isEmpty else { return }
        var i = 0
        let n = src.count
        func matches(at i: Int) -> Bool {
            guard i + pattern.count <= n else { return false }
            for k in 0..<pattern.count where src.bytes[i + k] != pattern[k] { return false }
            return true
        }
        while i < n {
            if matches(at: i) {
                var j = i + pattern.count
                if collapse {
                    while matches(at: j) { j += pattern.count }
                    if j - i < 2 * pattern.count {
                        for k in i..<j { dst.append(src.bytes[k], src.starts[k], src.ends[k]) }
                        i = j
                        continue
                    }
                }
                let s = src.starts[i], e = src.ends[j - 1]
                for b in content { dst.append(b, s, e) }
                i = j
            } else {
                dst.append(src.bytes[i], src.starts[i], src.ends[i])
                i += 1
            }
        }
        ws.swapNormalized()
    }

    /// `WhitespaceSplit` (if on), then `Metaspace` on each word, then the model on each part.
    private func preTokenize(_ text: AlignedBytes, word: Int32?, to out: inout Pieces, workspace ws: UnigramWorkspace) {
        let n = text.count
        guard n > 0 else { return }
        if !preTokenization.whitespaceSplit {
            metaspace(text, 0, n, word: word, to: &out, workspace: ws)
            return
        }
        var i = 0
        while i < n {
            while i < n, let w = whitespaceWidth(text.bytes + i, n - i) { i += w }
            guard i < n else { break }
            var j = i
            while j < n && whitespaceWidth(text.bytes + j, n - j) == nil { j += utf8Width(text.bytes[j]) }
            metaspace(text, i, min(j, n), word: word, to: &out, workspace: ws)
            i = j
        }
    }

    private func metaspace(_ text: AlignedBytes, _ lo: Int, _ hi: Int, word: Int32?, to out: inout Pieces, workspace ws: UnigramWorkspace) {
        let rep = replacementBytes
        let w = ws.word
        w.removeAll()
        let startsWithMarker = text.bytes[lo] == 0x20 || startsWith(text.bytes + lo, hi - lo, rep)
        let prepend: Bool
        switch preTokenization.prependScheme {
        case .always: prepend = !startsWithMarker
        case .first: prepend = !startsWithMarker && text.starts[lo] == 0
        case .never: prepend = false
        }
        if prepend { for b in rep { w.append(b, text.starts[lo], text.ends[lo]) } }
        for k in lo..<hi {
            if text.bytes[k] == 0x20 {
                for b in rep { w.append(b, text.starts[k], text.ends[k]) }
            } else {
                w.append(text.bytes[k], text.starts[k], text.ends[k])
            }
        }
        let m = w.count
        var start = 0
        if preTokenization.split && !rep.isEmpty {
            var k = rep.count <= m ? 1 : m
            while k < m {
                if startsWith(w.bytes + k, m - k, rep) {
                    model(w, start, k, word: word, to: &out, workspace: ws)
                    start = k
                    k += rep.count
                } else {
                    k += 1
                }
            }
        }
        model(w, start, m, word: word, to: &out, workspace: ws)
    }

    @inline(__always)
    private func startsWith(_ p: UnsafePointer<UInt8>, _ n: Int, _ prefix: [UInt8]) -> Bool {
        guard prefix.count <= n, !prefix.isEmpty else { return false }
        for k in 0..<prefix.count where p[k] != prefix[k] { return false }
        return true
    }

    private func model(_ w: AlignedBytes, _ lo: Int, _ hi: Int, word: Int32?, to out: inout Pieces, workspace ws: UnigramWorkspace) {
        guard hi > lo else { return }
        let index = word ?? nextWord(ws)
        let starts = w.starts, ends = w.ends
        let n = hi - lo
        // Words up to 64 bytes go through the workspace's cache (the result depends only on the bytes).
        guard n <= UnigramWorkspace.cachedWordBytes else {
            model.encode(w.bytes + lo, n, workspace: ws) { id, s, e in out.append(id, starts[lo + s], ends[lo + e - 1], index) }
            return
        }
        let key = UnsafeBufferPointer(start: w.bytes + lo, count: n)
        let slot = ws.cacheSlot(key)
        if ws.cacheKeys[slot].elementsEqual(key) {
            for (id, s, e) in ws.cachePieces[slot] { out.append(id, starts[lo + Int(s)], ends[lo + Int(e) - 1], index) }
            return
        }
        var found: [(Int32, Int32, Int32)] = []
        model.encode(w.bytes + lo, n, workspace: ws) { id, s, e in
            found.append((id, Int32(s), Int32(e)))
            out.append(id, starts[lo + s], ends[lo + e - 1], index)
        }
        ws.cacheKeys[slot] = Array(key)
        ws.cachePieces[slot] = found
    }
}

/// Decodes the scalar at `p` (valid UTF-8) and its byte width.
@inline(__always)
func decodeScalar(_ p: UnsafePointer<UInt8>, _ n: Int) -> (Unicode.Scalar, Int) {
    let b0 = UInt32(p[0])
    let w = min(utf8Width(p[0]), n)
    var v: UInt32
    switch w {
    case 2: v = (b0 & 0x1F) << 6 | UInt32(p[1] & 0x3F)
    case 3: v = (b0 & 0x0F) << 12 | UInt32(p[1] & 0x3F) << 6 | UInt32(p[2] & 0x3F)
    case 4: v = (b0 & 0x07) << 18 | UInt32(p[1] & 0x3F) << 12 | UInt32(p[2] & 0x3F) << 6 | UInt32(p[3] & 0x3F)
    default: v = b0
    }
    return (Unicode.Scalar(v) ?? "\u{FFFD}", w)
}

extension UnigramTokenizer: SubwordTokenizer {
    public var vocabularySize: Int { max(model.count, (addedTokens.map { Int($0.id) }.max() ?? -1) + 1) }

    public func id(of token: String) -> Int32? {
        addedTokens.first { $0.content == token }?.id ?? model.id(of: token)
    }

    public func token(of id: Int32) -> String? {
        if id >= 0 && Int(id) < model.count { return model.pieces[Int(id)] }
        return addedTokens.first { $0.id == id }?.content
    }

    public func pieces(ofWords words: [String]) -> Pieces {
        let ws = UnigramWorkspace()
        var out = Pieces()
        for (index, word) in words.enumerated() { append(word, word: Int32(index), to: &out, workspace: ws) }
        return out
    }
}
