import SentinelCore

/// SentencePiece's precompiled normalization map (`NormalizerSpec.precompiled_charsmap`, or the base64
/// `precompiled_charsmap` of a tokenizers `Precompiled` normalizer), and HF tokenizers' `Precompiled`
/// normalizer over it.
///
/// Layout (little-endian): `u32 trieBytes`, then `trieBytes / 4` units of a darts-clone double-array trie,
/// then the replacement strings, each ended by `\0`. A trie key is a source string (one or more characters);
/// its value is the byte offset of its replacement in the strings blob. Unit bits (darts-clone
/// `DoubleArrayUnit`): bit 8 `has_leaf`, bits 0–7 (and 31) the label, `value = unit & 0x7fffffff`,
/// `offset = (unit >> 10) << ((unit & 0x200) >> 6)`. Notes: `Formats/sentencepiece.md`.
///
/// The normalization reproduces tokenizers 0.23 (`normalizers/precompiled.rs`, `spm_precompiled` 0.1), which
/// the fast XLM-R tokenizer uses, not sentencepiece's own loop: the text is cut into extended grapheme
/// clusters; a cluster shorter than 6 UTF-8 bytes that has a trie key as a prefix is replaced *whole* by the
/// replacement of the shortest such key (so `e\u{301}\u{302}` becomes `é`: the U+0302 is dropped); other
/// clusters are mapped one character at a time. Sentencepiece instead maps the longest prefix and continues
/// after it (`é\u{302}`).
public final class PrecompiledCharsmap: @unchecked Sendable {
    // Immutable after init; raw memory so that threads never touch a shared reference count.
    private let units: UnsafeMutablePointer<UInt32>
    private let unitCount: Int
    private let strings: UnsafeMutablePointer<UInt8>
    private let stringCount: Int
    /// Per ASCII byte: the replacement of the one-byte key (start, end in `strings`), or start = -1.
    private let asciiStart: UnsafeMutablePointer<Int32>
    private let asciiEnd: UnsafeMutablePointer<Int32>
    /// Whether the trie maps nothing (an empty charsmap: the identity).
    public let isEmpty: Bool

    /// Parses and checks a charsmap.
    /// - Parameters:
    ///   - bytes: the charsmap.
    ///   - file, key: name the source in errors (`key` is `normalizer_spec.precompiled_charsmap` or
    ///     `normalizer.precompiled_charsmap`); error offsets are byte offsets inside the charsmap.
    /// - Throws: ``InputError``: `truncated` when the trie size is over the data, `invalid_structure` when the
    ///   size is not a multiple of 4, the replacement strings are not UTF-8, or a trie leaf points outside the
    ///   strings or inside a character.
    public init(_ bytes: [UInt8], file: String, key: String) throws {
        var trieBytes = 0
        if bytes.isEmpty {
            trieBytes = 0
        } else {
            guard bytes.count >= 4 else {
                throw InputError(
                    .truncated, file: file, offset: 0, key: key, "a precompiled charsmap needs a 4-byte trie size; it has \(bytes.count) bytes")
            }
            trieBytes = Int(bytes[0]) | Int(bytes[1]) << 8 | Int(bytes[2]) << 16 | Int(bytes[3]) << 24
            guard trieBytes % 4 == 0 else {
                throw InputError(.invalidStructure, file: file, offset: 0, key: key, "trie size \(trieBytes) is not a multiple of 4")
            }
            guard trieBytes <= bytes.count - 4 else {
                throw InputError(
                    .truncated, file: file, offset: 0, key: key, "trie size \(trieBytes) is over the \(bytes.count - 4) bytes that follow")
            }
        }
        unitCount = trieBytes / 4
        units = .allocate(capacity: max(unitCount, 1))
        for i in 0..<unitCount {
            let o = 4 + 4 * i
            units[i] = UInt32(bytes[o]) | UInt32(bytes[o + 1]) << 8 | UInt32(bytes[o + 2]) << 16 | UInt32(bytes[o + 3]) << 24
        }
        let stringsStart = bytes.isEmpty ? 0 : 4 + trieBytes
        stringCount = bytes.count - stringsStart
        strings = .allocate(capacity: max(stringCount, 1))
        for i in 0..<stringCount { strings[i] = bytes[stringsStart + i] }
        asciiStart = .allocate(capacity: 128)
        asciiEnd = .allocate(capacity: 128)
        asciiStart.initialize(repeating: -1, count: 128)
        asciiEnd.initialize(repeating: -1, count: 128)
        isEmpty = unitCount == 0
        let stringBuffer = UnsafeBufferPointer(start: strings, count: stringCount)
        if String(validating: stringBuffer, as: UTF8.self) == nil {
            throw InputError(.invalidStructure, file: file, offset: stringsStart, key: key, "the replacement strings are not valid UTF-8")
        }
        try checkTrie(file: file, key: key)
        for b in 1..<128 {
            var byte = UInt8(b)
            if let (s, e) = firstMatch(&byte, 1) {
                asciiStart[b] = Int32(s)
                asciiEnd[b] = Int32(e)
            }
        }
    }

    deinit {
        units.deallocate()
        strings.deallocate()
        asciiStart.deallocate()
        asciiEnd.deallocate()
    }

    @inline(__always) private static func hasLeaf(_ u: UInt32) -> Bool { (u >> 8) & 1 == 1 }
    @inline(__always) private static func value(_ u: UInt32) -> Int { Int(u & 0x7fff_ffff) }
    @inline(__always) private static func label(_ u: UInt32) -> UInt32 { u & (0x8000_0000 | 0xff) }
    @inline(__always) private static func offset(_ u: UInt32) -> Int { Int(u >> 10) << Int((u & 0x200) >> 6) }

    /// The replacement (a byte range of the strings blob) of the shortest trie key that is a prefix of
    /// `key[0..<n]` (darts-clone `commonPrefixSearch`, first result), or nil. A `0` byte ends the key.
    @inline(__always)
    func firstMatch(_ key: UnsafePointer<UInt8>, _ n: Int) -> (Int, Int)? {
        guard unitCount > 0 else { return nil }
        var pos = Self.offset(units[0])
        for i in 0..<n {
            let c = key[i]
            if c == 0 { return nil }
            pos ^= Int(c)
            guard pos < unitCount else { return nil }
            let u = units[pos]
            guard Self.label(u) == UInt32(c) else { return nil }
            pos ^= Self.offset(u)
            if Self.hasLeaf(u) {
                guard pos < unitCount else { return nil }
                let start = Self.value(units[pos])
                guard start < stringCount else { return nil }
                var end = start
                while end < stringCount && strings[end] != 0 { end += 1 }
                return (start, end)
            }
        }
        return nil
    }

    /// Visits every node of the trie once (darts-clone shares suffixes, so it is a graph: nodes reached again
    /// are skipped): every leaf must point at a character boundary inside the strings.
    private func checkTrie(file: String, key: String) throws {
        guard unitCount > 0 else { return }
        var visited = [Bool](repeating: false, count: unitCount)
        var stack: [Int] = [Self.offset(units[0])]
        while let pos = stack.popLast() {
            for c in 1..<256 {
                let q = pos ^ c
                guard q < unitCount, !visited[q] else { continue }
                let u = units[q]
                guard Self.label(u) == UInt32(c) else { continue }
                visited[q] = true
                let child = q ^ Self.offset(u)
                if Self.hasLeaf(u) {
                    guard child < unitCount else {
                        throw InputError(.invalidStructure, file: file, offset: 4 + 4 * q, key: key, "a trie leaf is outside the \(unitCount) units")
                    }
                    let v = Self.value(units[child])
                    guard v < stringCount, strings[v] & 0xC0 != 0x80 else {
                        throw InputError(
                            .invalidStructure, file: file, offset: 4 + 4 * child, key: key,
                            "a trie value (\(v)) is not the start of a character in the \(stringCount)-byte replacement strings")
                    }
                }
                stack.append(child)
            }
        }
    }

    /// Appends the normalization of `text[0..<n]` to `out`; each output byte carries an original byte range
    /// (`base +` offset in `text`), assigned as tokenizers' `NormalizedString::transform` does with the
    /// `(char, change)` list its `Precompiled` normalizer builds: output character j of a unit of k original
    /// characters replaced by m characters takes the range of the next unconsumed original character (j < k)
    /// or, for the m − k inserted ones, that of the character before; when m < k the k − m extra originals are
    /// skipped, except before any output of the text (tokenizers has no character to attach the removal to, so
    /// later ranges lag behind: `"\u{2}\u{2}ab"` gives `ab` the ranges of the two removed characters).
    /// - Precondition: `text` is valid UTF-8.
    func normalize(_ text: UnsafePointer<UInt8>, _ n: Int, base: Int32, into out: AlignedBytes) {
        var state = AlignmentCursor(text: text, n: n, base: base)
        var i = 0
        while i < n {
            let b = text[i]
            // An ASCII byte followed by another ASCII byte (not CR LF) or the end is a cluster of its own.
            if b < 0x80 && (i + 1 == n || (text[i + 1] < 0x80 && !(b == 0x0D && text[i + 1] == 0x0A))) {
                let s = asciiStart[Int(b)]
                if s < 0 {
                    if state.isIdle(at: i) {  // the common case: an unchanged character, aligned to itself
                        state.passThrough(b, into: out)
                    } else {
                        state.push(text + i, 1, change: 0, into: out)
                    }
                } else {
                    state.replace(units: 1, with: strings + Int(s), Int(asciiEnd[Int(b)] - s), into: out)
                }
                i += 1
                continue
            }
            // A region that may hold multi-byte clusters: up to the next pair of ASCII bytes (not CR LF),
            // where a cluster boundary is certain.
            var j = i + 1
            while j < n && !(text[j] < 0x80 && text[j - 1] < 0x80 && !(text[j - 1] == 0x0D && text[j] == 0x0A)) { j += 1 }
            normalizeClusters(i, j, &state, into: out)
            i = j
        }
        state.flush(into: out)
    }

    private func normalizeClusters(_ lo: Int, _ hi: Int, _ state: inout AlignmentCursor, into out: AlignedBytes) {
        let text = state.text
        let region = String(decoding: UnsafeBufferPointer(start: text + lo, count: hi - lo), as: UTF8.self)
        var at = lo
        for cluster in region {
            let length = cluster.utf8.count
            if length < 6, let (s, e) = firstMatch(text + at, length) {
                var k = 0
                var c = at
                while c < at + length {
                    k += 1
                    c += utf8Width(text[c])
                }
                state.replace(units: k, with: strings + s, e - s, into: out)
            } else {
                var c = at
                let end = at + length
                while c < end {
                    let w = utf8Width(text[c])
                    if let (s, e) = firstMatch(text + c, w) {
                        state.replace(units: 1, with: strings + s, e - s, into: out)
                    } else {
                        state.push(text + c, w, change: 0, into: out)
                    }
                    c += w
                }
            }
            at += length
        }
    }

    /// The normalized text of `text` (for tests and tools).
    public func normalize(_ text: String) -> String {
        let out = AlignedBytes()
        var copy = text
        copy.withUTF8 { normalize($0.baseAddress ?? UnsafePointer(bitPattern: 1)!, $0.count, base: 0, into: out) }
        return String(decoding: UnsafeBufferPointer(start: out.bytes, count: out.count), as: UTF8.self)
    }
}

/// The original-character cursor of tokenizers' `NormalizedString::transform` (see
/// ``PrecompiledCharsmap/normalize(_:_:base:into:)``). Output characters are held back by one: a later removal
/// changes the last character's `change` (an inserted character whose change drops to 0 then consumes an
/// original character), and its range is known only then.
struct AlignmentCursor {
    let text: UnsafePointer<UInt8>
    let n: Int
    let base: Int32
    /// Byte offset of the next original character to consume.
    var cursor = 0
    /// The last output character, not yet aligned: its bytes, byte count (0 when none) and change.
    private var pending: (UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0)
    private var pendingCount = 0
    private var pendingChange = 0
    /// Whether a character was output (written or held back).
    private var emitted = false

    init(text: UnsafePointer<UInt8>, n: Int, base: Int32) {
        self.text = text
        self.n = n
        self.base = base
    }

    /// Whether nothing is held back and the cursor is at `i` (an unchanged character then aligns to itself).
    @inline(__always)
    func isIdle(at i: Int) -> Bool { pendingCount == 0 && cursor == i }

    /// Outputs an unchanged character without holding it back (only when ``isIdle(at:)``).
    @inline(__always)
    mutating func passThrough(_ b: UInt8, into out: AlignedBytes) {
        out.append(b, base + Int32(cursor), base + Int32(cursor + 1))
        cursor += 1
        emitted = true
    }

    /// Queues one output character (`count` ≤ 4 bytes) with its change (0 replaces an original, 1 inserts).
    @inline(__always)
    mutating func push(_ bytes: UnsafePointer<UInt8>, _ count: Int, change: Int, into out: AlignedBytes) {
        flush(into: out)
        pending = (bytes[0], count > 1 ? bytes[1] : 0, count > 2 ? bytes[2] : 0, count > 3 ? bytes[3] : 0)
        pendingCount = count
        pendingChange = change
        emitted = true
    }

    /// Aligns and writes the held-back character.
    mutating func flush(into out: AlignedBytes) {
        guard pendingCount > 0 else { return }
        var s = base, e = base
        if pendingChange > 0 {
            if cursor > 0 {
                var p = cursor - 1
                while p > 0 && text[p] & 0xC0 == 0x80 { p -= 1 }
                s = base + Int32(p)
                e = base + Int32(cursor)
            }
        } else {
            if cursor < n {
                let w = utf8Width(text[cursor])
                s = base + Int32(cursor)
                e = base + Int32(min(cursor + w, n))
                cursor = min(cursor + w, n)
            }
            for _ in 0..<(-pendingChange) where cursor < n { cursor += utf8Width(text[cursor]) }
        }
        let count = pendingCount
        withUnsafeBytes(of: pending) { bytes in
            for k in 0..<count { out.append(bytes[k], s, e) }
        }
        pendingCount = 0
    }

    /// Replaces `units` original characters by the UTF-8 string `replacement[0..<count]` (tokenizers'
    /// `push_replacement`: the characters past the first `units` are insertions; a shorter replacement adds
    /// the difference to the last character's change, which is lost when there is none yet).
    mutating func replace(units k: Int, with replacement: UnsafePointer<UInt8>, _ count: Int, into out: AlignedBytes) {
        var j = 0
        var p = 0
        while p < count {
            let w = min(utf8Width(replacement[p]), count - p)
            push(replacement + p, w, change: j >= k ? 1 : 0, into: out)
            j += 1
            p += w
        }
        guard j < k else { return }
        if pendingCount > 0 {
            pendingChange += j - k
        } else if emitted {
            // The last character was written unchanged (change 0): its removal count takes effect now.
            for _ in 0..<(k - j) where cursor < n { cursor += utf8Width(text[cursor]) }
        }
    }
}

/// Bytes of a lead byte's UTF-8 sequence (1 for continuation or invalid bytes).
@inline(__always)
func utf8Width(_ b: UInt8) -> Int {
    if b < 0xC0 { return 1 }
    if b < 0xE0 { return 2 }
    if b < 0xF0 { return 3 }
    return 4
}

/// A growable byte buffer where every byte carries an original byte range (the text after normalization,
/// aligned to the input, as tokenizers' `NormalizedString`). Reused across texts; not thread-safe.
final class AlignedBytes {
    private(set) var bytes: UnsafeMutablePointer<UInt8>
    private(set) var starts: UnsafeMutablePointer<Int32>
    private(set) var ends: UnsafeMutablePointer<Int32>
    private(set) var count = 0
    private var capacity: Int

    init(capacity: Int = 256) {
        self.capacity = capacity
        bytes = .allocate(capacity: capacity)
        starts = .allocate(capacity: capacity)
        ends = .allocate(capacity: capacity)
    }

    deinit {
        bytes.deallocate()
        starts.deallocate()
        ends.deallocate()
    }

    @inline(__always)
    func append(_ b: UInt8, _ start: Int32, _ end: Int32) {
        if count == capacity { grow() }
        bytes[count] = b
        starts[count] = start
        ends[count] = end
        count += 1
    }

    @inline(__always)
    func removeAll() { count = 0 }

    private func grow() {
        let n = capacity * 2
        let b = UnsafeMutablePointer<UInt8>.allocate(capacity: n)
        let s = UnsafeMutablePointer<Int32>.allocate(capacity: n)
        let e = UnsafeMutablePointer<Int32>.allocate(capacity: n)
        b.update(from: bytes, count: count)
        s.update(from: starts, count: count)
        e.update(from: ends, count: count)
        bytes.deallocate()
        starts.deallocate()
        ends.deallocate()
        bytes = b
        starts = s
        ends = e
        capacity = n
    }
}
