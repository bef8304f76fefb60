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
                throw InputError(.truncated, file: file, offset: 0, key: key, "a precompiled charsmap needs a 4-byte trie size; it has \(bytes.count) bytes")
            }
            trieBytes = Int(bytes[0]) | Int(bytes[1]) << 8 | Int(bytes[2]) << 16 | Int(bytes[3]) << 24
            guard trieBytes % 4 == 0 else {
                throw InputError(.invalidStructure, file: file, offset: 0, key: key, "trie size \(trieBytes) is not a multiple of 4")
            }
            guard trieBytes <= bytes.count - 4 else {
                throw InputError(.truncated, file: file, offset: 0, key: key, "trie size \(trieBytes) is over the \(bytes.count - 4) bytes that follow")
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
                        throw InputError(.invalidStructure, file: file, offset: 4 + 4 * child, key: key,
                                         "a trie value (\(v)) is not the start of a character in the \(stringCount)-byte replacement strings")
                    }
                }
                stack.append(child)
            }
        }
    }

    /// Appends the normalization of `text[0..<n]` to `out`; each output byte carries the original byte range
    /// (`base +` offset in `text`) of the cluster or character it came from.
    /// - Precondition: `text` is valid UTF-8.
    func normalize(_ text: UnsafePointer<UInt8>, _ n: Int, base: Int32, into out: AlignedBytes) {
        var i = 0
        while i < n {
            let b = text[i]
            // An ASCII byte followed by another ASCII byte (not CR LF) or the end is a cluster of its own.
            if b < 0x80 && (i + 1 == n || (text[i + 1] < 0x80 && !(b == 0x0D && text[i + 1] == 0x0A))) {
                let s = asciiStart[Int(b)]
                let o = base + Int32(i)
                if s < 0 {
                    out.append(b, o, o + 1)
                } else {
                    for k in Int(s)..<Int(asciiEnd[Int(b)]) { out.append(strings[k], o, o + 1) }
                }
                i += 1
                continue
            }
            // A region that may hold multi-byte clusters: up to the next pair of ASCII bytes (not CR LF),
            // where a cluster boundary is certain.
            var j = i + 1
            while j < n && !(text[j] < 0x80 && text[j - 1] < 0x80 && !(text[j - 1] == 0x0D && text[j] == 0x0A)) { j += 1 }
            normalizeClusters(text + i, j - i, base: base + Int32(i), into: out)
            i = j
        }
    }

    private func normalizeClusters(_ text: UnsafePointer<UInt8>, _ n: Int, base: Int32, into out: AlignedBytes) {
        let region = String(decoding: UnsafeBufferPointer(start: text, count: n), as: UTF8.self)
        var at = 0
        for cluster in region {
            let length = cluster.utf8.count
            let o = base + Int32(at)
            if length < 6, let (s, e) = firstMatch(text + at, length) {
                for k in s..<e { out.append(strings[k], o, o + Int32(length)) }
            } else {
                var c = at
                let end = at + length
                while c < end {
                    let w = utf8Width(text[c])
                    let co = base + Int32(c)
                    if let (s, e) = firstMatch(text + c, w) {
                        for k in s..<e { out.append(strings[k], co, co + Int32(w)) }
                    } else {
                        for k in 0..<w { out.append(text[c + k], co, co + Int32(w)) }
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
