import SentinelCore
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// GPT-2 / RoBERTa byte-level BPE with the behaviour of HuggingFace's fast (Rust) tokenizer, `tokenizers`
/// 0.23: added-token split (leftmost-longest, `lstrip`/`rstrip`), the `ByteLevel` pre-tokenizer (optional
/// prefix space, GPT-2's split pattern, bytes spelled with ``ByteLevel``), the `BPE` model (merges applied
/// lowest rank first, leftmost on ties), and the `RobertaProcessing` template `<s> A </s>` /
/// `<s> A </s></s> B </s>`.
///
/// The split pattern `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+` (tokenizers'
/// `ByteLevel` regex, GPT-2's `encoder.py`) is matched by hand over Unicode scalars: `\s` is the Unicode
/// `White_Space` property, `\p{L}` general categories L*, `\p{N}` N*. The merge loop works on ids, with merge
/// ranks in a hash table keyed by the id pair, and a per-thread cache of the pieces of frequent words.
///
/// Immutable and `Sendable`: one instance serves every thread; each thread passes its own
/// ``BPEWorkspace`` to ``append(_:word:to:workspace:)``. Notes and differences: `Formats/tokenizer-bpe.md`.
public final class ByteLevelBPETokenizer: @unchecked Sendable {
    /// An added token with its matching options (tokenizer.json `added_tokens`).
    public struct Added: Sendable, Equatable {
        public var token: AddedToken
        /// The match also takes the whitespace before it (`lstrip`).
        public var lstrip: Bool
        /// The match also takes the whitespace after it (`rstrip`).
        public var rstrip: Bool
        public init(_ token: AddedToken, lstrip: Bool = false, rstrip: Bool = false) {
            self.token = token
            self.lstrip = lstrip
            self.rstrip = rstrip
        }
    }

    /// Options of the `ByteLevel` pre-tokenizer and post-processing.
    public struct Options: Sendable, Equatable {
        /// Put a space before each text segment that does not start with one (`add_prefix_space`), so that a
        /// first word is spelled like a later one (`Ġthe`).
        public var addPrefixSpace: Bool
        /// Split with GPT-2's pattern (`use_regex`); false keeps each segment one word.
        public var useRegex: Bool
        /// Offsets exclude leading and trailing spaces of a piece (`trim_offsets`).
        public var trimOffsets: Bool
        /// Take a whole word that is in the vocabulary as one piece before merging (`ignore_merges`).
        public var ignoreMerges: Bool
        public init(addPrefixSpace: Bool = false, useRegex: Bool = true, trimOffsets: Bool = true, ignoreMerges: Bool = false) {
            self.addPrefixSpace = addPrefixSpace
            self.useRegex = useRegex
            self.trimOffsets = trimOffsets
            self.ignoreMerges = ignoreMerges
        }
    }

    /// The spelling table, id → byte-level token (`Ġthe`), with a byte-keyed lookup.
    public let vocabulary: WordPieceVocabulary
    /// Merges in rank order: `merges[r]` joins two tokens into `merges[r].0 + merges[r].1`.
    public let merges: [(String, String)]
    public let options: Options
    public let added: [Added]
    public let template: SpecialTokenTemplate
    public let specialIDs: Set<Int32>
    public let unknownID: Int32

    // Immutable after init, raw memory: threads never touch a shared reference count in the hot loop.
    /// Id of the one-byte token of each byte, or -1.
    private let byteIDs: UnsafeMutablePointer<Int32>
    private let pairs: PairTable
    /// Per ASCII byte: scalar class (``ScalarClass``).
    private let asciiClass: UnsafeMutablePointer<UInt8>
    private let addedFirstByte: UnsafeMutablePointer<Bool>
    /// Added tokens as bytes, longest first, with their index in ``added``.
    private let addedBytes: [([UInt8], Int)]
    private let whole: ByteTable.View

    /// Builds a tokenizer from its parts.
    /// - Parameters:
    ///   - vocabulary: byte-level spellings by id (`vocab.json`, `model.vocab`).
    ///   - merges: `(left, right)` in rank order; each part and their concatenation must be in `vocabulary`.
    ///   - template: the post-processor's special tokens.
    ///   - specialIDs: ids never hashed by the encryption scheme (added special tokens are included anyway).
    ///   - file: the file named in errors.
    /// - Throws: ``InputError`` (`invalid_structure`, key `model.merges[r]` or `line N`) for a merge whose part
    ///   or result is not in the vocabulary.
    public init(
        vocabulary: WordPieceVocabulary, merges: [(String, String)], options: Options = Options(),
        added: [Added], template: SpecialTokenTemplate, specialIDs: Set<Int32>, unknownID: Int32,
        file: String = "tokenizer.json", mergeKey: (Int) -> String = { "model.merges[\($0)]" },
        mergeOffset: (Int) -> Int? = { _ in nil }
    ) throws {
        self.vocabulary = vocabulary
        self.merges = merges
        self.options = options
        self.added = added
        self.template = template
        self.specialIDs = specialIDs.union(added.filter(\.token.special).map(\.token.id))
        self.unknownID = unknownID
        whole = vocabulary.whole.view!

        byteIDs = .allocate(capacity: 256)
        for b in 0..<256 {
            byteIDs[b] = vocabulary.id(of: String(ByteLevel.scalars[b])) ?? -1
        }
        let table = PairTable(capacity: merges.count)
        for (rank, (a, b)) in merges.enumerated() {
            guard let left = vocabulary.id(of: a), let right = vocabulary.id(of: b) else {
                let missing = vocabulary.id(of: a) == nil ? a : b
                table.deallocate()
                byteIDs.deallocate()
                throw InputError(
                    .invalidStructure, file: file, offset: mergeOffset(rank), key: mergeKey(rank),
                    "merge \(quoted(a + " " + b)) names \(quoted(missing)), which is not in the vocabulary")
            }
            guard let result = vocabulary.id(of: a + b) else {
                table.deallocate()
                byteIDs.deallocate()
                throw InputError(
                    .invalidStructure, file: file, offset: mergeOffset(rank), key: mergeKey(rank),
                    "the result \(quoted(a + b)) of merge \(quoted(a + " " + b)) is not in the vocabulary")
            }
            table.insert(left: left, right: right, rank: Int32(rank), result: result)
        }
        pairs = table

        var cls = [UInt8](repeating: ScalarClass.other, count: 128)
        for b in 0..<128 { cls[b] = ScalarClass.of(Unicode.Scalar(UInt8(b))) }
        asciiClass = .allocate(capacity: 128)
        asciiClass.initialize(from: cls, count: 128)

        let nonEmpty = added.enumerated().filter { !$0.element.token.content.isEmpty }
        addedBytes = nonEmpty.map { (Array($0.element.token.content.utf8), $0.offset) }.sorted { $0.0.count > $1.0.count }
        addedFirstByte = .allocate(capacity: 256)
        addedFirstByte.initialize(repeating: false, count: 256)
        for (bytes, _) in addedBytes { addedFirstByte[Int(bytes[0])] = true }
    }

    deinit {
        byteIDs.deallocate()
        pairs.deallocate()
        asciiClass.deallocate()
        addedFirstByte.deallocate()
    }

    // MARK: Tokenizing

    /// Appends the pieces of `text` to `out`.
    /// - Parameter word: when given, every piece gets this word index (pre-split words, NER); otherwise the
    ///   pre-tokenizer's words are numbered from the workspace's counter.
    public func append(_ text: String, word: Int32? = nil, to out: inout Pieces, workspace: inout BPEWorkspace) {
        var text = text
        text.withUTF8 { append(UnsafeRawBufferPointer($0), word: word, to: &out, workspace: &workspace) }
    }

    /// Appends the pieces of the UTF-8 bytes `text` to `out`; offsets are relative to `text`.
    /// - Precondition: `text` is valid UTF-8 (a Swift `String`, or a file checked by ``TextFile``).
    public func append(
        _ text: UnsafeRawBufferPointer, word: Int32? = nil, to out: inout Pieces,
        workspace ws: inout BPEWorkspace
    ) {
        guard let p = text.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
        let n = text.count
        if addedBytes.isEmpty {
            segment(p, 0, n, word, &out, &ws)
            return
        }
        // Split on added tokens first (tokenizers' AddedVocabulary), leftmost-longest.
        var segmentStart = 0
        var i = 0
        while i < n {
            if addedFirstByte[Int(p[i])], let (length, index) = matchAdded(p + i, n - i) {
                var lo = i, hi = i + length
                let a = added[index]
                if a.lstrip { while lo > segmentStart, let w = whitespaceBefore(p, segmentStart, lo) { lo -= w } }
                if a.rstrip { while hi < n, let w = whitespaceAt(p, hi, n) { hi += w } }
                segment(p, segmentStart, lo, word, &out, &ws)
                out.append(a.token.id, Int32(lo), Int32(hi), word ?? nextWord(&ws))
                i = hi
                segmentStart = hi
                continue
            }
            i += 1
        }
        segment(p, segmentStart, n, word, &out, &ws)
    }

    @inline(__always)
    private func nextWord(_ ws: inout BPEWorkspace) -> Int32 {
        defer { ws.nextWord += 1 }
        return ws.nextWord
    }

    private func matchAdded(_ p: UnsafePointer<UInt8>, _ n: Int) -> (Int, Int)? {
        for (bytes, index) in addedBytes where bytes.count <= n {
            if bytes.withUnsafeBufferPointer({ memcmp($0.baseAddress!, p, bytes.count) == 0 }) { return (bytes.count, index) }
        }
        return nil
    }

    /// Byte length of the whitespace scalar at `i`, or nil.
    private func whitespaceAt(_ p: UnsafePointer<UInt8>, _ i: Int, _ n: Int) -> Int? {
        let (c, l) = classify(p, i, n)
        return c == ScalarClass.space ? l : nil
    }

    /// Byte length of the whitespace scalar that ends at `end` (not before `start`), or nil.
    private func whitespaceBefore(_ p: UnsafePointer<UInt8>, _ start: Int, _ end: Int) -> Int? {
        var s = end - 1
        while s > start && (p[s] & 0xC0) == 0x80 { s -= 1 }
        let (c, l) = classify(p, s, end)
        return c == ScalarClass.space && s + l == end ? l : nil
    }

    /// Pre-tokenizes and encodes the text segment `p[start..<end]` (no added token inside).
    private func segment(
        _ p: UnsafePointer<UInt8>, _ start: Int, _ end: Int, _ word: Int32?,
        _ out: inout Pieces, _ ws: inout BPEWorkspace
    ) {
        guard end > start else { return }
        if options.addPrefixSpace && p[start] != 0x20 {
            // tokenizers prepends " " to the segment; the added byte is aligned with nothing (offset start..<start).
            let n = end - start
            ws.reservePrefixed(n + 1)
            ws.prefixed[0] = 0x20
            (ws.prefixed + 1).update(from: p + start, count: n)
            let q = UnsafePointer(ws.prefixed)
            splitWords(q, n + 1, origin: start - 1, word, &out, &ws)
        } else {
            splitWords(p + start, end - start, origin: start, word, &out, &ws)
        }
    }

    /// Splits `q[0..<n]` with GPT-2's pattern and encodes each word; `origin` is the text offset of `q[0]`.
    private func splitWords(
        _ q: UnsafePointer<UInt8>, _ n: Int, origin: Int, _ word: Int32?,
        _ out: inout Pieces, _ ws: inout BPEWorkspace
    ) {
        guard options.useRegex else {
            encodeWord(q, 0, n, origin: origin, word ?? nextWord(&ws), &out, &ws)
            return
        }
        var i = 0
        while i < n {
            let e = wordEnd(q, i, n)
            encodeWord(q, i, e, origin: origin, word ?? nextWord(&ws), &out, &ws)
            i = e
        }
    }

    /// The scalar class and byte length at `i`.
    @inline(__always)
    private func classify(_ p: UnsafePointer<UInt8>, _ i: Int, _ n: Int) -> (UInt8, Int) {
        let b = p[i]
        if b < 0x80 { return (asciiClass[Int(b)], 1) }
        let (s, l) = decodeScalar(p + i, n - i)
        return (ScalarClass.of(s), l)
    }

    /// End of the pattern match that starts at `i` (every position starts a match: the pattern's last
    /// alternatives cover all scalars).
    @inline(__always)
    private func wordEnd(_ p: UnsafePointer<UInt8>, _ i: Int, _ n: Int) -> Int {
        let b0 = p[i]
        // 's|'t|'re|'ve|'m|'ll|'d
        if b0 == 0x27 && i + 1 < n {
            let b1 = p[i + 1]
            if b1 == 0x73 || b1 == 0x74 || b1 == 0x6D || b1 == 0x64 { return i + 2 }
            if i + 2 < n {
                let b2 = p[i + 2]
                if (b1 == 0x72 && b2 == 0x65) || (b1 == 0x76 && b2 == 0x65) || (b1 == 0x6C && b2 == 0x6C) { return i + 3 }
            }
        }
        var (c, l) = classify(p, i, n)
        var j = i
        if b0 == 0x20 && i + 1 < n {
            // ` ?\p{L}+ | ?\p{N}+ | ?[^\s\p{L}\p{N}]+`: the optional space, then a run of the next scalar's class.
            let (c1, l1) = classify(p, i + 1, n)
            if c1 != ScalarClass.space {
                c = c1
                l = l1
                j = i + 1
            }
        }
        if c != ScalarClass.space {
            j += l
            while j < n {
                let (cj, lj) = classify(p, j, n)
                if cj != c { break }
                j += lj
            }
            return j
        }
        // `\s+(?!\S)|\s+`: the whitespace run; before a non-space, all but its last scalar (if it has two or more).
        var k = i + l
        var last = i
        while k < n {
            let (ck, lk) = classify(p, k, n)
            if ck != ScalarClass.space { break }
            last = k
            k += lk
        }
        if k == n || last == i { return k }
        return last
    }

    /// Byte-level BPE of the word `q[a..<b]`; pieces get text offsets `origin + …`, trimmed of spaces.
    private func encodeWord(
        _ q: UnsafePointer<UInt8>, _ a: Int, _ b: Int, origin: Int, _ wordID: Int32,
        _ out: inout Pieces, _ ws: inout BPEWorkspace
    ) {
        let n = b - a
        guard n > 0 else { return }
        let w = q + a
        // The cache keeps the ids and the byte end (in the word) of each piece.
        if n <= BPEWorkspace.cachedWordLength,
            ws.cache.lookup(w, n, { ids, ends, count in emit(ids, ends, count, w, n, origin: origin + a, wordID, &out) })
        {
            return
        }
        ws.reserveSymbols(n)
        let sym = ws.symbols, end = ws.symbolEnds, rank = ws.ranks, result = ws.results
        var m = 0
        if options.ignoreMerges, let id = whole.lookupByteLevel(w, n, &ws) {
            sym[0] = id
            end[0] = Int32(n)
            m = 1
        } else {
            for k in 0..<n {
                let id = byteIDs[Int(w[k])]
                if id < 0 { continue }  // no token for this byte and no unk: tokenizers drops it
                sym[m] = id
                end[m] = Int32(k + 1)
                m += 1
            }
        }
        if m > Self.linearScanLimit {
            m = mergeWithHeap(sym, end, m, &ws)
        } else if m > 1 {
            for k in 0..<(m - 1) { (rank[k], result[k]) = pairs.lookup(sym[k], sym[k + 1]) }
            while m > 1 {
                var best = Int32.max, at = -1
                for k in 0..<(m - 1) where rank[k] < best {
                    best = rank[k]
                    at = k
                }
                if at < 0 { break }
                sym[at] = result[at]
                end[at] = end[at + 1]
                let tail = m - at - 2
                if tail > 0 {
                    (sym + at + 1).update(from: sym + at + 2, count: tail)
                    (end + at + 1).update(from: end + at + 2, count: tail)
                    (rank + at + 1).update(from: rank + at + 2, count: tail - 1 >= 0 ? tail - 1 : 0)
                    (result + at + 1).update(from: result + at + 2, count: tail - 1 >= 0 ? tail - 1 : 0)
                }
                m -= 1
                if at > 0 { (rank[at - 1], result[at - 1]) = pairs.lookup(sym[at - 1], sym[at]) }
                if at < m - 1 { (rank[at], result[at]) = pairs.lookup(sym[at], sym[at + 1]) }
            }
        }
        if n <= BPEWorkspace.cachedWordLength { ws.cache.insert(w, n, ids: sym, ends: end, count: m) }
        emit(UnsafePointer(sym), UnsafePointer(end), m, w, n, origin: origin + a, wordID, &out)
    }

    /// Words of more symbols than this merge with a heap (O(n log n)) instead of a linear scan per merge (O(n²)).
    static let linearScanLimit = 48

    /// The merge loop for long words, as tokenizers' `Word::merge_all`: a binary heap of `(rank, position)` over a
    /// linked list of symbols; an entry whose pair changed since it was pushed is skipped. Same result as the scan
    /// (lowest rank first, leftmost on ties). Writes the merged symbols back to `sym`/`end`; returns their count.
    private func mergeWithHeap(
        _ sym: UnsafeMutablePointer<Int32>, _ end: UnsafeMutablePointer<Int32>, _ m: Int,
        _ ws: inout BPEWorkspace
    ) -> Int {
        ws.next.removeAll(keepingCapacity: true)
        ws.prev.removeAll(keepingCapacity: true)
        ws.heap.removeAll(keepingCapacity: true)
        for i in 0..<m {
            ws.next.append(i + 1 < m ? Int32(i + 1) : -1)
            ws.prev.append(Int32(i - 1))
        }
        func push(_ i: Int, _ heap: inout [UInt64]) {
            let j = Int(ws.next[i])
            guard j >= 0 else { return }
            let (r, _) = pairs.lookup(sym[i], sym[j])
            guard r != .max else { return }
            heap.append(UInt64(UInt32(bitPattern: r)) << 32 | UInt64(i))
            var c = heap.count - 1
            while c > 0 {
                let parent = (c - 1) / 2
                if heap[parent] <= heap[c] { break }
                heap.swapAt(parent, c)
                c = parent
            }
        }
        func pop(_ heap: inout [UInt64]) -> UInt64 {
            let top = heap[0]
            let last = heap.removeLast()
            if !heap.isEmpty {
                heap[0] = last
                var c = 0
                while true {
                    let l = 2 * c + 1, r = l + 1
                    var smallest = c
                    if l < heap.count && heap[l] < heap[smallest] { smallest = l }
                    if r < heap.count && heap[r] < heap[smallest] { smallest = r }
                    if smallest == c { break }
                    heap.swapAt(c, smallest)
                    c = smallest
                }
            }
            return top
        }
        var heap = ws.heap
        ws.heap = []
        for i in 0..<(m - 1) { push(i, &heap) }
        var alive = [Bool](repeating: true, count: m)
        while !heap.isEmpty {
            let top = pop(&heap)
            let i = Int(truncatingIfNeeded: top & 0xFFFF_FFFF), r = Int32(truncatingIfNeeded: top >> 32)
            guard alive[i] else { continue }
            let j = Int(ws.next[i])
            guard j >= 0 else { continue }
            let (current, merged) = pairs.lookup(sym[i], sym[j])
            guard current == r else { continue }  // stale: the pair changed since it was pushed
            sym[i] = merged
            end[i] = end[j]
            alive[j] = false
            let k = Int(ws.next[j])
            ws.next[i] = Int32(k)
            if k >= 0 { ws.prev[k] = Int32(i) }
            let p = Int(ws.prev[i])
            if p >= 0 { push(p, &heap) }
            push(i, &heap)
        }
        ws.heap = heap
        var count = 0
        var i = 0
        while i >= 0 && i < m {
            sym[count] = sym[i]
            end[count] = end[i]
            count += 1
            i = Int(ws.next[i])
        }
        return count
    }

    /// Appends `count` pieces with their offsets: a piece's range is widened to whole scalars of the text and,
    /// with ``Options/trimOffsets``, narrowed by its leading and trailing spaces.
    @inline(__always)
    private func emit(
        _ ids: UnsafePointer<Int32>, _ ends: UnsafePointer<Int32>, _ count: Int, _ w: UnsafePointer<UInt8>,
        _ n: Int, origin: Int, _ wordID: Int32, _ out: inout Pieces
    ) {
        @inline(__always) func scalarStart(_ i: Int) -> Int {
            var j = i
            while j > 0 && j < n && (w[j] & 0xC0) == 0x80 { j -= 1 }
            return j
        }
        var start = 0
        for k in 0..<count {
            let stop = Int(ends[k])
            var lo = scalarStart(start), hi = stop < n ? scalarStart(stop) : n
            if hi < stop { hi = scalarEnd(w, hi, n) }
            if options.trimOffsets {
                while lo < hi && w[lo] == 0x20 { lo += 1 }
                while hi > lo && w[hi - 1] == 0x20 { hi -= 1 }
            }
            out.append(ids[k], Int32(max(0, origin + lo)), Int32(max(0, origin + hi)), wordID)
            start = stop
        }
    }

    @inline(__always)
    private func scalarEnd(_ w: UnsafePointer<UInt8>, _ i: Int, _ n: Int) -> Int {
        var j = i + 1
        while j < n && (w[j] & 0xC0) == 0x80 { j += 1 }
        return j
    }

    /// Decodes one scalar at `p` (lead byte ≥ 0x80). Input is valid UTF-8 by contract; a stray or cut-off
    /// byte decodes as U+FFFD of length 1 and nothing is read past `n` bytes.
    @inline(__always)
    private func decodeScalar(_ p: UnsafePointer<UInt8>, _ n: Int) -> (Unicode.Scalar, Int) {
        let b0 = UInt32(p[0])
        let expected = b0 < 0xC0 ? 0 : b0 < 0xE0 ? 2 : b0 < 0xF0 ? 3 : b0 < 0xF8 ? 4 : 0
        if expected == 0 || expected > n { return ("\u{FFFD}", 1) }
        let v: UInt32
        if expected == 2 {
            v = (b0 & 0x1F) << 6 | (UInt32(p[1]) & 0x3F)
        } else if expected == 3 {
            v = (b0 & 0x0F) << 12 | (UInt32(p[1]) & 0x3F) << 6 | (UInt32(p[2]) & 0x3F)
        } else {
            v = (b0 & 0x07) << 18 | (UInt32(p[1]) & 0x3F) << 12 | (UInt32(p[2]) & 0x3F) << 6 | (UInt32(p[3]) & 0x3F)
        }
        return (Unicode.Scalar(v) ?? "\u{FFFD}", expected)
    }
}

extension ByteLevelBPETokenizer: SubwordTokenizer {
    public var vocabularySize: Int { max(vocabulary.count, (added.map { Int($0.token.id) }.max() ?? -1) + 1) }

    public func id(of token: String) -> Int32? {
        added.first { $0.token.content == token }?.token.id ?? vocabulary.id(of: token)
    }

    public func token(of id: Int32) -> String? {
        if Int(id) >= 0 && Int(id) < vocabulary.count { return vocabulary.tokens[Int(id)] }
        return added.first { $0.token.id == id }?.token.content
    }

    public func pieces(of text: String) -> Pieces {
        var out = Pieces()
        var ws = BPEWorkspace()
        append(text, to: &out, workspace: &ws)
        return out
    }

    /// Each word is tokenized on its own (tokenizers' pre-tokenized input): with ``Options/addPrefixSpace``
    /// every word gets its own `Ġ`, without it none does.
    public func pieces(ofWords words: [String]) -> Pieces {
        var out = Pieces()
        var ws = BPEWorkspace()
        for (index, word) in words.enumerated() { append(word, word: Int32(index), to: &out, workspace: &ws) }
        return out
    }
}

/// Classes of the split pattern: `\s`, `\p{L}`, `\p{N}`, and everything else.
enum ScalarClass {
    static let space: UInt8 = 0
    static let letter: UInt8 = 1
    static let number: UInt8 = 2
    static let other: UInt8 = 3

    @inline(__always)
    static func of(_ s: Unicode.Scalar) -> UInt8 {
        let p = s.properties
        if p.isWhitespace { return space }
        switch p.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return letter
        case .decimalNumber, .letterNumber, .otherNumber: return number
        default: return other
        }
    }
}

/// Merge ranks keyed by the id pair: open addressing on `left << 32 | right`, load ≤ 0.5, raw memory.
final class PairTable: @unchecked Sendable {
    private let keys: UnsafeMutablePointer<UInt64>
    /// `rank << 32 | result`, or `UInt64.max` for an empty slot.
    private let values: UnsafeMutablePointer<UInt64>
    private let mask: Int

    init(capacity: Int) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        keys = .allocate(capacity: size)
        values = .allocate(capacity: size)
        values.initialize(repeating: .max, count: size)
        keys.initialize(repeating: 0, count: size)
        mask = size - 1
    }

    func deallocate() {
        keys.deallocate()
        values.deallocate()
    }

    @inline(__always)
    private static func slot(_ key: UInt64, _ mask: Int) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 29) & mask
    }

    /// Inserts a merge; a pair listed twice keeps its last rank, as tokenizers' merge map (a `HashMap` collected
    /// in rank order) does.
    func insert(left: Int32, right: Int32, rank: Int32, result: Int32) {
        let key = UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
        var i = Self.slot(key, mask)
        while values[i] != .max {
            if keys[i] == key {
                values[i] = UInt64(UInt32(bitPattern: rank)) << 32 | UInt64(UInt32(bitPattern: result))
                return
            }
            i = (i + 1) & mask
        }
        keys[i] = key
        values[i] = UInt64(UInt32(bitPattern: rank)) << 32 | UInt64(UInt32(bitPattern: result))
    }

    /// `(rank, result)` of the pair, or `(Int32.max, -1)`.
    @inline(__always)
    func lookup(_ left: Int32, _ right: Int32) -> (Int32, Int32) {
        let key = UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
        var i = Self.slot(key, mask)
        while true {
            let v = values[i]
            if v == .max { return (.max, -1) }
            if keys[i] == key { return (Int32(truncatingIfNeeded: v >> 32), Int32(truncatingIfNeeded: v)) }
            i = (i + 1) & mask
        }
    }
}

extension ByteTable.View {
    /// The id of the byte-level spelling of the raw bytes `w[0..<n]` (for `ignore_merges`).
    func lookupByteLevel(_ w: UnsafePointer<UInt8>, _ n: Int, _ ws: inout BPEWorkspace) -> Int32? {
        let spelled = Array(ByteLevel.spelling(of: UnsafeBufferPointer(start: w, count: n)).utf8)
        return spelled.withUnsafeBufferPointer { lookup($0.baseAddress!, $0.count) }
    }
}

/// Reusable scratch memory for ``ByteLevelBPETokenizer``; one per thread (it is not copyable). Holds the
/// symbols of the word being merged and a cache of the pieces of up to 16,384 words.
public struct BPEWorkspace: ~Copyable {
    /// Words up to this many bytes are cached.
    static let cachedWordLength = 64

    var symbols: UnsafeMutablePointer<Int32>
    var symbolEnds: UnsafeMutablePointer<Int32>
    var ranks: UnsafeMutablePointer<Int32>
    var results: UnsafeMutablePointer<Int32>
    var capacity: Int
    var prefixed: UnsafeMutablePointer<UInt8>
    var prefixedCapacity: Int
    var cache = WordCache()
    var nextWord: Int32 = 0
    // The heap merge of long words: linked-list links and the heap, reused.
    var next: [Int32] = []
    var prev: [Int32] = []
    var heap: [UInt64] = []

    public init() {
        capacity = 256
        symbols = .allocate(capacity: capacity)
        symbolEnds = .allocate(capacity: capacity)
        ranks = .allocate(capacity: capacity)
        results = .allocate(capacity: capacity)
        prefixedCapacity = 256
        prefixed = .allocate(capacity: prefixedCapacity)
    }

    deinit {
        symbols.deallocate()
        symbolEnds.deallocate()
        ranks.deallocate()
        results.deallocate()
        prefixed.deallocate()
    }

    mutating func reserveSymbols(_ n: Int) {
        guard n > capacity else { return }
        symbols.deallocate()
        symbolEnds.deallocate()
        ranks.deallocate()
        results.deallocate()
        capacity = max(n, capacity * 2)
        symbols = .allocate(capacity: capacity)
        symbolEnds = .allocate(capacity: capacity)
        ranks = .allocate(capacity: capacity)
        results = .allocate(capacity: capacity)
    }

    mutating func reservePrefixed(_ n: Int) {
        guard n > prefixedCapacity else { return }
        prefixed.deallocate()
        prefixedCapacity = max(n, prefixedCapacity * 2)
        prefixed = .allocate(capacity: prefixedCapacity)
    }

}

/// Word → pieces cache of a ``BPEWorkspace``: open addressing on FNV-1a of the word's bytes (load ≤ 0.5),
/// grown by doubling up to ``maxEntries`` words, then emptied.
struct WordCache {
    static let maxEntries = 16_384
    private var slots: [Int32] = []
    private var hashes: [UInt64] = []
    private var keyStart: [Int32] = []
    private var keyLength: [Int32] = []
    private var valueStart: [Int32] = []
    private var valueCount: [Int32] = []
    private var keyBytes: [UInt8] = []
    private var ids: [Int32] = []
    private var ends: [Int32] = []

    init() {}

    /// Calls `body` with the cached pieces of `w[0..<n]` (ids, end offsets in the word, count) and returns
    /// true, or returns false when the word is not cached.
    @inline(__always)
    func lookup(
        _ w: UnsafePointer<UInt8>, _ n: Int,
        _ body: (UnsafePointer<Int32>, UnsafePointer<Int32>, Int) -> Void
    ) -> Bool {
        guard !slots.isEmpty else { return false }
        let h = ByteTable.hash(w, n)
        let mask = slots.count - 1
        var i = Int(truncatingIfNeeded: h) & mask
        return slots.withUnsafeBufferPointer { sl in
            keyBytes.withUnsafeBufferPointer { kb in
                while true {
                    let e = Int(sl[i])
                    if e < 0 { return false }
                    if hashes[e] == h && Int(keyLength[e]) == n && memcmp(kb.baseAddress! + Int(keyStart[e]), w, n) == 0 {
                        let s = Int(valueStart[e])
                        ids.withUnsafeBufferPointer { ip in
                            ends.withUnsafeBufferPointer { ep in body(ip.baseAddress! + s, ep.baseAddress! + s, Int(valueCount[e])) }
                        }
                        return true
                    }
                    i = (i + 1) & mask
                }
            }
        }
    }

    mutating func insert(_ w: UnsafePointer<UInt8>, _ n: Int, ids newIDs: UnsafePointer<Int32>, ends newEnds: UnsafePointer<Int32>, count: Int) {
        if hashes.count >= Self.maxEntries {
            hashes.removeAll(keepingCapacity: true)
            keyStart.removeAll(keepingCapacity: true)
            keyLength.removeAll(keepingCapacity: true)
            valueStart.removeAll(keepingCapacity: true)
            valueCount.removeAll(keepingCapacity: true)
            keyBytes.removeAll(keepingCapacity: true)
            ids.removeAll(keepingCapacity: true)
            ends.removeAll(keepingCapacity: true)
            for i in slots.indices { slots[i] = -1 }
        }
        if (hashes.count + 1) * 2 > slots.count { grow() }
        let h = ByteTable.hash(w, n)
        let mask = slots.count - 1
        var i = Int(truncatingIfNeeded: h) & mask
        while slots[i] >= 0 { i = (i + 1) & mask }
        slots[i] = Int32(hashes.count)
        hashes.append(h)
        keyStart.append(Int32(keyBytes.count))
        keyLength.append(Int32(n))
        keyBytes.append(contentsOf: UnsafeBufferPointer(start: w, count: n))
        valueStart.append(Int32(ids.count))
        valueCount.append(Int32(count))
        ids.append(contentsOf: UnsafeBufferPointer(start: newIDs, count: count))
        ends.append(contentsOf: UnsafeBufferPointer(start: newEnds, count: count))
    }

    private mutating func grow() {
        let size = max(256, slots.count * 2)
        slots = [Int32](repeating: -1, count: size)
        let mask = size - 1
        for e in hashes.indices {
            var i = Int(truncatingIfNeeded: hashes[e]) & mask
            while slots[i] >= 0 { i = (i + 1) & mask }
            slots[i] = Int32(e)
        }
    }
}
