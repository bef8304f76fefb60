/// A unigram language model over subword pieces: every piece has a log-probability score, and a word is
/// cut into the pieces of highest total score (Viterbi).
///
/// Reproduces tokenizers 0.23 `models::unigram::Unigram::encode_optimized` (itself sentencepiece's
/// `Model::EncodeOptimized`, `unigram_model.cc`): scores are summed in float64 from the left; at each
/// character start every vocabulary piece that is a prefix is tried, shortest first, and replaces the best
/// path to its end only when strictly better, so ties keep the earlier candidate; when no piece covers
/// exactly the one character there, an unknown node of score `min(score) − 10` spans it. Consecutive
/// unknown nodes are fused into one piece (`fuse_unk`), which is looked up again as a whole (then, with
/// byte fallback, as `<0xHH>` pieces) before falling back to `unk_id`.
///
/// Every vocabulary entry takes part, special and user-defined pieces included (tokenizers' trie holds them
/// all, unlike sentencepiece, which skips control pieces).
public final class UnigramModel: @unchecked Sendable {
    /// Piece of each id, `[vocab]`.
    public let pieces: [String]
    /// Score of each id (log probability; 0 for specials), `[vocab]`.
    public let scores: [Double]
    public let unknownID: Int32
    public let byteFallback: Bool
    /// `min(scores) − 10` (tokenizers' `K_UNK_PENALTY`).
    public let unknownScore: Double

    // Raw memory, immutable after init (shared by every thread without reference counting).
    private let scoreTable: UnsafeMutablePointer<Double>
    private let trie: PieceTrie
    /// `<0xHH>` ids for byte fallback (-1 when absent).
    private let byteIDs: UnsafeMutablePointer<Int32>

    /// - Parameters:
    ///   - pieces, scores: the vocabulary in id order (same length, scores finite).
    ///   - unknownID: the id of `<unk>` (in range).
    /// - Precondition: `pieces.count == scores.count`, `unknownID` in range (the loaders check both).
    public init(pieces: [String], scores: [Double], unknownID: Int32, byteFallback: Bool) {
        precondition(pieces.count == scores.count && Int(unknownID) < pieces.count && unknownID >= 0)
        self.pieces = pieces
        self.scores = scores
        self.unknownID = unknownID
        self.byteFallback = byteFallback
        unknownScore = (scores.min() ?? 0) - 10
        scoreTable = .allocate(capacity: max(scores.count, 1))
        scoreTable.initialize(from: scores, count: scores.count)
        trie = PieceTrie(pieces)
        byteIDs = .allocate(capacity: 256)
        for b in 0..<256 {
            let name = "<0x" + String(b, radix: 16, uppercase: true).leftPadded(to: 2) + ">"
            byteIDs[b] = trie.exact(Array(name.utf8)) ?? -1
        }
    }

    deinit {
        scoreTable.deallocate()
        byteIDs.deallocate()
    }

    /// Number of ids.
    public var count: Int { pieces.count }

    /// The id of a piece spelled exactly `piece`, or nil (the last id when a piece is listed twice).
    public func id(of piece: String) -> Int32? { trie.exact(Array(piece.utf8)) }

    /// Appends the pieces of one pre-tokenized word `word[0..<n]` (UTF-8, usually `▁`-prefixed) to `out`
    /// as (id, start, end) with byte offsets into `word`.
    /// - Precondition: `word` is valid UTF-8.
    func encode(
        _ word: UnsafePointer<UInt8>, _ n: Int, workspace ws: UnigramWorkspace,
        emit: (_ id: Int32, _ start: Int, _ end: Int) -> Void
    ) {
        guard n > 0 else { return }
        ws.reserveLattice(n + 1)
        let best = ws.bestScore, from = ws.bestStart, ids = ws.bestID
        for k in 0...n { from[k] = -1 }
        best[0] = 0
        var start = 0
        while start < n {
            let here = best[start]
            let width = utf8Width(word[start])
            var single = false
            trie.forEachPrefix(word + start, n - start) { length, id in
                let end = start + length
                let candidate = scoreTable[Int(id)] + here
                if from[end] < 0 || candidate > best[end] {
                    best[end] = candidate
                    from[end] = Int32(start)
                    ids[end] = id
                }
                if length == width { single = true }
            }
            if !single {
                let end = start + width
                let candidate = unknownScore + here
                if from[end] < 0 || candidate > best[end] {
                    best[end] = candidate
                    from[end] = Int32(start)
                    ids[end] = -1
                }
            }
            start += width
        }
        // Back-track, fusing runs of unknown nodes; the result is collected reversed.
        ws.path.removeAll(keepingCapacity: true)
        var end = n
        var unknownEnd = -1
        while end > 0 {
            let s = Int(from[end])
            if ids[end] < 0 || ids[end] == unknownID {
                if unknownEnd < 0 { unknownEnd = end }
            } else {
                if unknownEnd >= 0 {
                    ws.path.append((-1, Int32(end), Int32(unknownEnd)))
                    unknownEnd = -1
                }
                ws.path.append((ids[end], Int32(s), Int32(end)))
            }
            end = s
        }
        if unknownEnd >= 0 { ws.path.append((-1, 0, Int32(unknownEnd))) }
        for (id, s, e) in ws.path.reversed() {
            if id >= 0 {
                emit(id, Int(s), Int(e))
                continue
            }
            // A fused unknown piece: the vocabulary may still hold it whole; else bytes; else unk_id.
            if let whole = trie.exact(word + Int(s), Int(e - s)) {
                emit(whole, Int(s), Int(e))
            } else if byteFallback && (Int(s)..<Int(e)).allSatisfy({ byteIDs[Int(word[$0])] >= 0 }) {
                for k in Int(s)..<Int(e) { emit(byteIDs[Int(word[k])], Int(s), Int(e)) }
            } else {
                emit(unknownID, Int(s), Int(e))
            }
        }
    }
}

extension String {
    fileprivate func leftPadded(to n: Int) -> String { count >= n ? self : String(repeating: "0", count: n - count) + self }
}

/// Scratch memory of ``UnigramTokenizer`` for one thread: the normalized text, the word being cut, and the
/// Viterbi lattice. Reused across texts; make one per thread.
public final class UnigramWorkspace {
    var normalized = AlignedBytes()
    var scratch = AlignedBytes()
    let word = AlignedBytes()
    var bestScore: UnsafeMutablePointer<Double>
    var bestStart: UnsafeMutablePointer<Int32>
    var bestID: UnsafeMutablePointer<Int32>
    var latticeCapacity: Int
    var path: [(Int32, Int32, Int32)] = []
    /// Next word index when the pre-tokenizer numbers words.
    var nextWord: Int32 = 0
    /// A direct-mapped cache of recent words (as tokenizers' Unigram cache): the word's bytes and its pieces
    /// (id, start, end relative to the word) per slot.
    static let cachedWordBytes = 64
    static let cacheSlots = 1 << 12
    var cacheKeys = [[UInt8]](repeating: [], count: UnigramWorkspace.cacheSlots)
    var cachePieces = [[(Int32, Int32, Int32)]](repeating: [], count: UnigramWorkspace.cacheSlots)

    /// The cache slot of a word (FNV-1a).
    @inline(__always)
    func cacheSlot(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return Int(truncatingIfNeeded: h ^ (h >> 29)) & (Self.cacheSlots - 1)
    }

    public init() {
        latticeCapacity = 256
        bestScore = .allocate(capacity: latticeCapacity)
        bestStart = .allocate(capacity: latticeCapacity)
        bestID = .allocate(capacity: latticeCapacity)
    }

    /// Makes `scratch` the normalized text (after a normalizer wrote it there).
    func swapNormalized() { swap(&normalized, &scratch) }

    deinit {
        bestScore.deallocate()
        bestStart.deallocate()
        bestID.deallocate()
    }

    func reserveLattice(_ n: Int) {
        guard n > latticeCapacity else { return }
        bestScore.deallocate()
        bestStart.deallocate()
        bestID.deallocate()
        latticeCapacity = max(n, latticeCapacity * 2)
        bestScore = .allocate(capacity: latticeCapacity)
        bestStart = .allocate(capacity: latticeCapacity)
        bestID = .allocate(capacity: latticeCapacity)
    }
}

/// A byte trie over the vocabulary for common-prefix search: node 0 is the root; the root's children are
/// a direct 256-entry table, deeper edges an open-addressing hash table keyed by (node, byte).
final class PieceTrie: @unchecked Sendable {
    private let mask: Int
    private let rootTable: UnsafeMutablePointer<Int32>
    private let valueTable: UnsafeMutablePointer<Int32>
    private let keyTable: UnsafeMutablePointer<UInt64>
    private let childTable: UnsafeMutablePointer<Int32>

    init(_ pieces: [String]) {
        let totalBytes = pieces.reduce(0) { $0 + $1.utf8.count }
        var capacity = 16
        while capacity < totalBytes * 2 { capacity <<= 1 }
        let mask = capacity - 1
        var rootChild = [Int32](repeating: -1, count: 256)
        var values: [Int32] = [-1]
        var keys = [UInt64](repeating: 0, count: capacity)
        var children = [Int32](repeating: 0, count: capacity)
        func insertEdge(_ node: Int32, _ b: UInt8) -> Int32 {
            let k = Self.key(node, b)
            var slot = Self.hash(k) & mask
            while keys[slot] != 0 {
                if keys[slot] == k { return children[slot] }
                slot = (slot + 1) & mask
            }
            let child = Int32(values.count)
            values.append(-1)
            keys[slot] = k
            children[slot] = child
            return child
        }
        for (id, piece) in pieces.enumerated() {
            var node: Int32 = 0
            for (depth, b) in piece.utf8.enumerated() {
                if depth == 0 {
                    if rootChild[Int(b)] < 0 {
                        rootChild[Int(b)] = Int32(values.count)
                        values.append(-1)
                    }
                    node = rootChild[Int(b)]
                } else {
                    node = insertEdge(node, b)
                }
            }
            if node > 0 { values[Int(node)] = Int32(id) }
        }
        self.mask = mask
        rootTable = .allocate(capacity: 256)
        rootTable.initialize(from: rootChild, count: 256)
        valueTable = .allocate(capacity: values.count)
        valueTable.initialize(from: values, count: values.count)
        keyTable = .allocate(capacity: keys.count)
        keyTable.initialize(from: keys, count: keys.count)
        childTable = .allocate(capacity: children.count)
        childTable.initialize(from: children, count: children.count)
    }

    deinit {
        rootTable.deallocate()
        valueTable.deallocate()
        keyTable.deallocate()
        childTable.deallocate()
    }

    @inline(__always) private static func key(_ node: Int32, _ b: UInt8) -> UInt64 { (UInt64(node) << 8 | UInt64(b)) &+ 1 }
    @inline(__always) private static func hash(_ k: UInt64) -> Int { Int(truncatingIfNeeded: (k &* 0x9E37_79B9_7F4A_7C15) >> 20) }

    @inline(__always)
    private func child(_ node: Int32, _ b: UInt8) -> Int32 {
        if node == 0 { return rootTable[Int(b)] }
        let k = Self.key(node, b)
        var slot = Self.hash(k) & mask
        while true {
            let found = keyTable[slot]
            if found == k { return childTable[slot] }
            if found == 0 { return -1 }
            slot = (slot + 1) & mask
        }
    }

    /// Calls `body(length, id)` for every piece that is a prefix of `key[0..<n]`, shortest first.
    @inline(__always)
    func forEachPrefix(_ key: UnsafePointer<UInt8>, _ n: Int, _ body: (Int, Int32) -> Void) {
        var node: Int32 = 0
        for i in 0..<n {
            node = child(node, key[i])
            if node < 0 { return }
            let v = valueTable[Int(node)]
            if v >= 0 { body(i + 1, v) }
        }
    }

    /// The id of the piece spelled exactly `key[0..<n]`.
    func exact(_ key: UnsafePointer<UInt8>, _ n: Int) -> Int32? {
        guard n > 0 else { return nil }
        var node: Int32 = 0
        for i in 0..<n {
            node = child(node, key[i])
            if node < 0 { return nil }
        }
        let v = valueTable[Int(node)]
        return v >= 0 ? v : nil
    }

    func exact(_ bytes: [UInt8]) -> Int32? {
        bytes.withUnsafeBufferPointer { b in b.baseAddress.flatMap { exact($0, b.count) } }
    }
}
