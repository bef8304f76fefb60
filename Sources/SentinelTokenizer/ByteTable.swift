/// An immutable open-addressing hash table from byte strings to `Int32` values.
///
/// The WordPiece vocabulary is looked up tens of millions of times with byte slices of a reusable
/// word buffer; keying a Swift `Dictionary` by `String` would allocate a `String` per probe. Keys
/// live in one contiguous byte array; each slot holds an entry index or -1. FNV-1a (64-bit) hash,
/// linear probing, load factor ≤ 0.5. Built once by ``WordPieceVocabulary``, then only read, concurrently
/// and without locks (hence `@unchecked Sendable`). A class, so the hot loop passes one reference.
final class ByteTable: @unchecked Sendable {
    private var keyBytes: [UInt8] = []
    private var keyStart: [Int32] = []
    private var keyLength: [Int32] = []
    private var values: [Int32] = []
    private var hashes: [UInt64] = []
    private var slots: [Int32]
    private var mask: Int
    /// Length in bytes of the longest key.
    private(set) var maxKeyLength = 0
    var count: Int { values.count }

    init(capacity: Int) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = [Int32](repeating: -1, count: size)
        mask = size - 1
    }

    @inline(__always)
    static func hash(_ p: UnsafePointer<UInt8>, _ n: Int) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for i in 0..<n {
            h = (h ^ UInt64(p[i])) &* 0x0000_0100_0000_01b3
        }
        return h
    }

    /// Inserts `key → value`; an existing key gets the new value (HuggingFace's vocab loaders keep the
    /// last line of a duplicated token).
    func insert<C: Collection>(_ key: C, value: Int32) where C.Element == UInt8 {
        let bytes = Array(key)
        if (values.count + 1) * 2 > slots.count { grow() }
        let h = bytes.withUnsafeBufferPointer { b in Self.hash(b.baseAddress ?? UnsafePointer(bitPattern: 1)!, b.count) }
        var i = Int(truncatingIfNeeded: h) & mask
        while slots[i] >= 0 {
            let e = Int(slots[i])
            if hashes[e] == h && keyLength[e] == Int32(bytes.count)
                && keyBytes[Int(keyStart[e])..<Int(keyStart[e]) + bytes.count].elementsEqual(bytes)
            {
                values[e] = value
                return
            }
            i = (i + 1) & mask
        }
        slots[i] = Int32(values.count)
        keyStart.append(Int32(keyBytes.count))
        keyLength.append(Int32(bytes.count))
        keyBytes.append(contentsOf: bytes)
        values.append(value)
        hashes.append(h)
        maxKeyLength = max(maxKeyLength, bytes.count)
    }

    private func grow() {
        let size = slots.count * 2
        slots = [Int32](repeating: -1, count: size)
        mask = size - 1
        for e in 0..<values.count {
            var i = Int(truncatingIfNeeded: hashes[e]) & mask
            while slots[i] >= 0 { i = (i + 1) & mask }
            slots[i] = Int32(e)
        }
    }

    /// The value of the `n` bytes at `p`, or nil.
    @inline(__always)
    func lookup(_ p: UnsafePointer<UInt8>, _ n: Int) -> Int32? {
        let h = Self.hash(p, n)
        var i = Int(truncatingIfNeeded: h) & mask
        while true {
            let e = Int(slots[i])
            if e < 0 { return nil }
            if hashes[e] == h && Int(keyLength[e]) == n {
                let equal = keyBytes.withUnsafeBufferPointer { kb in
                    memcmp(kb.baseAddress! + Int(keyStart[e]), p, n) == 0
                }
                if equal { return values[e] }
            }
            i = (i + 1) & mask
        }
    }

    func lookup(_ key: String) -> Int32? {
        var key = key
        return key.withUTF8 { b in
            b.count == 0 ? lookupEmpty() : lookup(b.baseAddress!, b.count)
        }
    }

    private func lookupEmpty() -> Int32? {
        var zero: UInt8 = 0
        return lookup(&zero, 0)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
