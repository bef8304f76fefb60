/// An immutable open-addressing hash table from byte strings to `Int32` values.
///
/// The WordPiece vocabulary is looked up tens of millions of times with byte slices of a reusable
/// word buffer; keying a Swift `Dictionary` by `String` would allocate a `String` per probe. Keys
/// live in one contiguous byte array; each slot holds an entry index or -1. FNV-1a (64-bit) hash,
/// linear probing, load factor ≤ 0.5. Built once by ``WordPieceVocabulary``, then only read, concurrently
/// and without locks (hence `@unchecked Sendable`). The hot loop reads it through a ``View`` of raw
/// pointers (made by ``freeze()``), so concurrent readers never touch a shared reference count.
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

    /// Raw-pointer copy of the table for lock-free, refcount-free reads; valid while the table lives.
    struct View: @unchecked Sendable {
        let keyBytes: UnsafePointer<UInt8>
        let keyStart: UnsafePointer<Int32>
        let keyLength: UnsafePointer<Int32>
        let values: UnsafePointer<Int32>
        let hashes: UnsafePointer<UInt64>
        let slots: UnsafePointer<Int32>
        let mask: Int
        let maxKeyLength: Int

        /// The value of the `n` bytes at `p`, or nil.
        @inline(__always)
        func lookup(_ p: UnsafePointer<UInt8>, _ n: Int) -> Int32? {
            let h = ByteTable.hash(p, n)
            var i = Int(truncatingIfNeeded: h) & mask
            while true {
                let e = Int(slots[i])
                if e < 0 { return nil }
                if hashes[e] == h && Int(keyLength[e]) == n && memcmp(keyBytes + Int(keyStart[e]), p, n) == 0 {
                    return values[e]
                }
                i = (i + 1) & mask
            }
        }
    }

    private var frozen: [UnsafeMutableRawPointer] = []
    /// Set by ``freeze()``.
    private(set) var view: View?

    /// Copies the table into raw memory and publishes ``view``. Call once, after the last insert.
    func freeze() {
        func copy<T>(_ a: [T]) -> UnsafePointer<T> {
            let p = UnsafeMutablePointer<T>.allocate(capacity: max(a.count, 1))
            a.withUnsafeBufferPointer { if let b = $0.baseAddress { p.initialize(from: b, count: a.count) } }
            frozen.append(UnsafeMutableRawPointer(p))
            return UnsafePointer(p)
        }
        view = View(
            keyBytes: copy(keyBytes), keyStart: copy(keyStart), keyLength: copy(keyLength), values: copy(values),
            hashes: copy(hashes), slots: copy(slots), mask: mask, maxKeyLength: maxKeyLength)
    }

    deinit {
        for p in frozen { p.deallocate() }
    }

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
        precondition(view == nil, "ByteTable is frozen")
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

    /// The value of `key` (its UTF-8 bytes), or nil. Only after ``freeze()``.
    func lookup(_ key: String) -> Int32? {
        guard let view else { preconditionFailure("ByteTable.lookup before freeze()") }
        var key = key
        return key.withUTF8 { b in
            var zero: UInt8 = 0
            return b.count == 0 ? view.lookup(&zero, 0) : view.lookup(b.baseAddress!, b.count)
        }
    }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
