import SentinelCore

/// Limits of the ``RestrictedUnpickler``: a hostile pickle cannot make it use more than this.
///
/// The defaults are far above what real checkpoints need (the 90 MB MiniLM `data.pkl` is 12 KB,
/// ~3,000 opcodes; a 7B model's is under 1 MB).
public struct PickleLimits: Sendable {
    /// Opcodes executed per pickle.
    public var maxOpcodes = 20_000_000
    /// Values on the stack (all mark frames together).
    public var maxStackDepth = 1_000_000
    /// Open MARKs.
    public var maxMarkDepth = 10_000
    /// Memo entries.
    public var maxMemoEntries = 2_000_000
    /// Bytes the machine may allocate: string and bytes payloads plus 16 bytes per container element.
    public var maxAllocation = 256 << 20
    /// Nesting of containers (tuples, lists, dicts) inside each other.
    public var maxNesting = 200

    public init() {}
    public static let `default` = PickleLimits()
}

/// A pickle machine that understands the opcodes of protocols 0–5 that checkpoints use, resolves
/// only allow-listed globals (``PickleGlobal``) and never calls anything: REDUCE of an allowed
/// function builds a description (``PickleValue``, ``TorchTensor``).
///
/// Refused (``InputError`` code `.unsafe`): any other GLOBAL/STACK_GLOBAL (refused when the opcode is
/// read, before anything could use it), INST, OBJ, EXT1/2/4, out-of-band buffers, and applying an
/// allowed global in a way torch's weights-only unpickler would not. Structural damage is
/// `.invalidStructure`, a pickle that ends early `.truncated`, a limit `.outOfRange`.
/// Reference: CPython `Lib/pickle.py` and `Lib/pickletools.py` (opcode semantics),
/// `torch/_weights_only_unpickler.py` (allow-list), `torch/_utils.py` (rebuild functions).
public struct RestrictedUnpickler {
    /// Path of the file, for errors.
    public var file: String
    /// Record name used in errors (`archive/data.pkl`), or `nil` for a plain file.
    public var record: String?
    /// File offset of byte 0 of the pickle, when the pickle is a view of the file.
    public var fileOffset: Int?
    public var limits: PickleLimits

    /// Storages seen in persistent ids, in first-seen order.
    public private(set) var storages: [TorchStorage] = []
    private var storageIndex: [String: Int] = [:]
    /// The PROTO argument of the last pickle loaded (nil for protocol 0/1 pickles).
    public private(set) var protocolVersion: Int?
    /// Every `module.name` resolved, in order of first use.
    public private(set) var globalsSeen: [String] = []

    public init(file: String, record: String? = nil, fileOffset: Int? = nil, limits: PickleLimits = .default) {
        self.file = file
        self.record = record
        self.fileOffset = fileOffset
        self.limits = limits
    }

    private func fail(_ code: InputError.Code, _ pos: Int, _ message: String) -> InputError {
        InputError(
            code, file: file, offset: fileOffset.map { $0 + pos }, key: record,
            message + " (pickle byte \(pos))")
    }

    // MARK: Loading

    /// Runs one pickle starting at `start` up to its STOP.
    /// - Returns: the value and the position just after STOP.
    /// - Throws: ``InputError`` (see the type's documentation).
    public mutating func load(_ bytes: UnsafeRawBufferPointer, from start: Int = 0) throws -> (value: PickleValue, end: Int) {
        var pos = start
        let n = bytes.count
        var stack: [PickleValue] = []
        // Nesting height of each stack value (0 for scalars; lists and dicts carry their own, see `height`).
        var heights: [Int] = []
        var marks: [Int] = []
        var memo: [Int: (PickleValue, Int)] = [:]
        var opcodes = 0
        var allocated = 0
        protocolVersion = nil

        @inline(__always) func need(_ k: Int, _ at: Int) throws {
            if k < 0 || k > n - pos {
                throw fail(.truncated, at, "the pickle ends early: the opcode at byte \(at) needs \(k) more bytes, \(n - pos) are left")
            }
        }
        func u8() throws -> Int {
            try need(1, pos)
            defer { pos += 1 }
            return Int(bytes[pos])
        }
        func le<T: FixedWidthInteger>(_: T.Type) throws -> T {
            try need(MemoryLayout<T>.size, pos)
            defer { pos += MemoryLayout<T>.size }
            return T(littleEndian: bytes.loadUnaligned(fromByteOffset: pos, as: T.self))
        }
        func take(_ k: Int, _ at: Int) throws -> UnsafeRawBufferPointer {
            try need(k, at)
            allocated += k
            if allocated > limits.maxAllocation {
                throw fail(.outOfRange, at, "the pickle allocates more than the limit of \(limits.maxAllocation) bytes")
            }
            defer { pos += k }
            return UnsafeRawBufferPointer(rebasing: bytes[pos..<(pos + k)])
        }
        func line(_ at: Int) throws -> String {
            var end = pos
            while end < n && bytes[end] != 0x0A { end += 1 }
            guard end < n else { throw fail(.truncated, at, "the pickle ends inside a text argument") }
            let s = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[pos..<end]), as: UTF8.self)
            pos = end + 1
            return s
        }
        // Nesting is bounded while the object is built (so that no later recursion, not even the
        // release of the object, can run out of stack). A list or dict may not be changed once it is
        // inside another container (real pickles never do; cycles and depth tricks need it), so the
        // height recorded when it is inserted stays true.
        func height(_ v: PickleValue, _ recorded: Int) -> Int {
            switch v {
            case let .list(l): l.height
            case let .dict(d): d.height
            default: recorded
            }
        }
        func checkHeight(_ h: Int, _ at: Int) throws {
            if h > limits.maxNesting {
                throw fail(.outOfRange, at, "the pickled object is nested more than \(limits.maxNesting) levels deep")
            }
        }
        func seal(_ v: PickleValue) {
            switch v {
            case let .list(l): l.sealed = true
            case let .dict(d): d.sealed = true
            default: break
            }
        }
        func mutable(_ v: PickleValue, _ at: Int) throws {
            let sealed: Bool
            switch v {
            case let .list(l): sealed = l.sealed
            case let .dict(d): sealed = d.sealed
            default: sealed = false
            }
            if sealed {
                throw fail(
                    .invalidStructure, at,
                    "the pickle changes a \(v.typeName) after placing it inside another object "
                        + "(how reference cycles and nesting tricks are built); refused")
            }
        }
        /// Checks before putting `items` (greatest height `h`) into the list or dict `target`.
        func prepareInsert(_ items: [PickleValue], _ h: Int, into target: PickleValue, _ at: Int) throws {
            items.forEach(seal)  // first, so that putting a container into itself is refused as well
            try mutable(target, at)
            try account(items.count, at)
            if !items.isEmpty { try checkHeight(h + 1, at) }
        }
        /// `d[k] = v` for the pairs of `items`.
        func setPairs(_ d: PickleDict, _ items: [PickleValue], _ at: Int) throws {
            for i in stride(from: 0, to: items.count, by: 2) where !d.set(items[i], items[i + 1]) {
                throw fail(.invalidStructure, at, "unhashable dict key of type \(items[i].typeName)")
            }
        }
        func push(_ v: PickleValue, _ at: Int, height h: Int = 0) throws {
            if stack.count >= limits.maxStackDepth {
                throw fail(.outOfRange, at, "the pickle stack grows past the limit of \(limits.maxStackDepth) values")
            }
            try checkHeight(h, at)
            stack.append(v)
            heights.append(h)
        }
        func popH(_ at: Int) throws -> (PickleValue, Int) {
            guard stack.count > (marks.last ?? 0), let v = stack.popLast(), let h = heights.popLast() else {
                throw fail(.invalidStructure, at, "the pickle pops from an empty stack")
            }
            return (v, height(v, h))
        }
        func pop(_ at: Int) throws -> PickleValue { try popH(at).0 }
        func top(_ at: Int) throws -> PickleValue {
            guard let v = stack.last, stack.count > (marks.last ?? 0) else {
                throw fail(.invalidStructure, at, "the pickle reads the top of an empty stack")
            }
            return v
        }
        /// Pops back to the last MARK: the values and the greatest of their heights.
        func popMark(_ at: Int) throws -> ([PickleValue], Int) {
            guard let m = marks.popLast() else { throw fail(.invalidStructure, at, "the pickle closes a MARK that was never opened") }
            let items = Array(stack[m...])
            var h = 0
            for (v, r) in zip(items, heights[m...]) { h = max(h, height(v, r)) }
            stack.removeSubrange(m...)
            heights.removeSubrange(m...)
            return (items, h)
        }
        func account(_ elements: Int, _ at: Int) throws {
            allocated += 16 * elements
            if allocated > limits.maxAllocation {
                throw fail(.outOfRange, at, "the pickle allocates more than the limit of \(limits.maxAllocation) bytes")
            }
        }
        func memoPut(_ index: Int, _ at: Int) throws {
            guard index >= 0 else { throw fail(.invalidStructure, at, "negative memo index \(index)") }
            if memo[index] == nil && memo.count >= limits.maxMemoEntries {
                throw fail(.outOfRange, at, "the pickle memo grows past the limit of \(limits.maxMemoEntries) entries")
            }
            let v = try top(at)
            memo[index] = (v, heights[heights.count - 1])
        }
        func memoGet(_ index: Int, _ at: Int) throws {
            guard let (v, h) = memo[index] else { throw fail(.invalidStructure, at, "memo index \(index) was never stored") }
            try push(v, at, height: height(v, h))
        }
        func text(_ raw: UnsafeRawBufferPointer, _ at: Int) throws -> String {
            guard let s = String(validating: raw, as: UTF8.self) else {
                throw fail(.invalidStructure, at, "a pickled str is not valid UTF-8")
            }
            return s
        }
        func global(_ module: String, _ name: String, _ at: Int) throws -> PickleValue {
            let q = module + "." + name
            guard let g = PickleGlobal.lookup(module: module, name: name) else {
                throw fail(
                    .unsafe, at,
                    "pickle global \(q) (module '\(module)', name '\(name)') is not in the allow-list of "
                        + "weights-only globals; the file was refused and nothing in it was run")
            }
            if !globalsSeen.contains(q) { globalsSeen.append(q) }
            return .global(g)
        }

        while true {
            let at = pos
            guard pos < n else {
                throw fail(.truncated, at, "the pickle ends without a STOP opcode (truncated file?)")
            }
            opcodes += 1
            if opcodes > limits.maxOpcodes {
                throw fail(.outOfRange, at, "the pickle runs more than the limit of \(limits.maxOpcodes) opcodes")
            }
            let op = bytes[pos]
            pos += 1
            switch op {
            // Framing and protocol.
            case 0x80:  // PROTO
                let v = try u8()
                guard v <= 5 else { throw fail(.invalidStructure, at, "unsupported pickle protocol \(v)") }
                protocolVersion = v
            case 0x95:  // FRAME
                let len = try le(UInt64.self)
                guard len <= UInt64(n - pos) else { throw fail(.truncated, at, "a FRAME of \(len) bytes reaches past the end of the pickle") }
            case 0x2E:  // STOP
                let v = try pop(at)
                guard marks.isEmpty, stack.isEmpty else {
                    throw fail(.invalidStructure, at, "STOP with \(stack.count) values left on the stack")
                }
                return (v, pos)

            // Stack manipulation.
            case 0x28:  // MARK
                guard marks.count < limits.maxMarkDepth else {
                    throw fail(.outOfRange, at, "more than \(limits.maxMarkDepth) open MARKs")
                }
                marks.append(stack.count)
            case 0x30: _ = try pop(at)  // POP
            case 0x31: _ = try popMark(at)  // POP_MARK
            case 0x32:  // DUP
                let v = try top(at)
                try push(v, at, height: height(v, heights[heights.count - 1]))

            // Constants.
            case 0x4E: try push(.none, at)  // NONE
            case 0x88: try push(.bool(true), at)  // NEWTRUE
            case 0x89: try push(.bool(false), at)  // NEWFALSE

            // Integers.
            case 0x4B: try push(.int(Int64(try u8())), at)  // BININT1
            case 0x4D: try push(.int(Int64(try le(UInt16.self))), at)  // BININT2
            case 0x4A: try push(.int(Int64(try le(Int32.self))), at)  // BININT
            case 0x8A, 0x8B:  // LONG1, LONG4
                let len = op == 0x8A ? try u8() : Int(try le(Int32.self))
                guard len >= 0 else { throw fail(.invalidStructure, at, "negative LONG4 length") }
                let raw = try take(len, at)
                try push(Self.long(raw), at)
            case 0x49:  // INT (text)
                let s = try line(at)
                if s == "00" {
                    try push(.bool(false), at)
                } else if s == "01" {
                    try push(.bool(true), at)
                } else {
                    guard let i = Int64(s) else { throw fail(.invalidStructure, at, "INT argument '\(s.prefix(40))' is not an integer") }
                    try push(.int(i), at)
                }
            case 0x4C:  // LONG (text)
                var s = try line(at)
                if s.hasSuffix("L") { s.removeLast() }
                guard let i = Int64(s) else { throw fail(.invalidStructure, at, "LONG argument '\(s.prefix(40))' is not a 64-bit integer") }
                try push(.int(i), at)

            // Floats.
            case 0x47:  // BINFLOAT (big-endian)
                try need(8, at)
                let bits = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: pos, as: UInt64.self))
                pos += 8
                try push(.float(Double(bitPattern: bits)), at)
            case 0x46:  // FLOAT (text)
                let s = try line(at)
                guard let d = Double(s) else { throw fail(.invalidStructure, at, "FLOAT argument '\(s.prefix(40))' is not a number") }
                try push(.float(d), at)

            // Strings and bytes.
            case 0x58: try push(.string(try text(take(Int(try le(UInt32.self)), at), at)), at)  // BINUNICODE
            case 0x8C: try push(.string(try text(take(try u8(), at), at)), at)  // SHORT_BINUNICODE
            case 0x8D:  // BINUNICODE8
                let len = try le(UInt64.self)
                guard len <= UInt64(n - pos) else { throw fail(.truncated, at, "a str of \(len) bytes reaches past the end of the pickle") }
                try push(.string(try text(take(Int(len), at), at)), at)
            case 0x56:  // UNICODE (raw-unicode-escape text)
                guard let v = Self.rawUnicodeEscape(try line(at)) else { throw fail(.invalidStructure, at, "bad UNICODE escape") }
                try push(.string(v), at)
            case 0x54, 0x55:  // BINSTRING, SHORT_BINSTRING (Python 2 str: decoded as UTF-8, else Latin-1)
                let len = op == 0x54 ? Int(try le(Int32.self)) : try u8()
                guard len >= 0 else { throw fail(.invalidStructure, at, "negative BINSTRING length") }
                let raw = try take(len, at)
                try push(.string(String(validating: raw, as: UTF8.self) ?? String(raw.map { Character(Unicode.Scalar($0)) })), at)
            case 0x53:  // STRING (quoted text)
                let s = try line(at)
                guard let v = Self.quoted(s) else { throw fail(.invalidStructure, at, "STRING argument is not a quoted string") }
                try push(.string(v), at)
            case 0x42: try push(.bytes(Array(try take(Int(try le(UInt32.self)), at))), at)  // BINBYTES
            case 0x43: try push(.bytes(Array(try take(try u8(), at))), at)  // SHORT_BINBYTES
            case 0x8E, 0x96:  // BINBYTES8, BYTEARRAY8
                let len = try le(UInt64.self)
                guard len <= UInt64(n - pos) else { throw fail(.truncated, at, "bytes of \(len) reach past the end of the pickle") }
                try push(.bytes(Array(try take(Int(len), at))), at)

            // Containers.
            case 0x29: try push(.tuple([]), at)  // EMPTY_TUPLE
            case 0x74, 0x91:  // TUPLE, FROZENSET (kept as a tuple of members)
                let (items, h) = try popMark(at)
                try account(items.count, at)
                items.forEach(seal)
                try push(.tuple(items), at, height: h + 1)
            case 0x85, 0x86, 0x87:  // TUPLE1, TUPLE2, TUPLE3
                let k = Int(op) - 0x84
                guard stack.count - (marks.last ?? 0) >= k else {
                    throw fail(.invalidStructure, at, "TUPLE\(k) with fewer than \(k) values on the stack")
                }
                var items: [PickleValue] = []
                var h = 0
                for _ in 0..<k {
                    let (v, vh) = try popH(at)
                    items.append(v)
                    h = max(h, vh)
                }
                items.reverse()
                try account(k, at)
                items.forEach(seal)
                try push(.tuple(items), at, height: h + 1)
            case 0x5D, 0x8F: try push(.list(PickleList()), at)  // EMPTY_LIST, EMPTY_SET (a set is kept as a list of members)
            case 0x6C:  // LIST
                let (items, h) = try popMark(at)
                try account(items.count, at)
                items.forEach(seal)
                let l = PickleList(items)
                l.height = h + 1
                try push(.list(l), at)
            case 0x7D: try push(.dict(PickleDict(ordered: false)), at)  // EMPTY_DICT
            case 0x64:  // DICT
                let (items, h) = try popMark(at)
                guard items.count % 2 == 0 else { throw fail(.invalidStructure, at, "DICT with an odd number of values") }
                try account(items.count, at)
                items.forEach(seal)
                let d = PickleDict(ordered: false)
                try setPairs(d, items, at)
                d.height = h + 1
                try push(.dict(d), at)
            case 0x61:  // APPEND
                let (v, h) = try popH(at)
                let target = try top(at)
                guard case let .list(l) = target else { throw fail(.invalidStructure, at, "APPEND to a \(target.typeName)") }
                try prepareInsert([v], h, into: target, at)
                l.items.append(v)
                l.height = max(l.height, h + 1)
            case 0x65, 0x90:  // APPENDS, ADDITEMS
                let (items, h) = try popMark(at)
                let target = try top(at)
                guard case let .list(l) = target else { throw fail(.invalidStructure, at, "APPENDS to a \(target.typeName)") }
                try prepareInsert(items, h, into: target, at)
                l.items.append(contentsOf: items)
                l.height = max(l.height, items.isEmpty ? 0 : h + 1)
            case 0x73:  // SETITEM
                let (v, vh) = try popH(at), (k, kh) = try popH(at)
                let target = try top(at)
                guard case let .dict(d) = target else { throw fail(.invalidStructure, at, "SETITEM on a \(target.typeName)") }
                try prepareInsert([k, v], max(vh, kh), into: target, at)
                try setPairs(d, [k, v], at)
                d.height = max(d.height, max(vh, kh) + 1)
            case 0x75:  // SETITEMS
                let (items, h) = try popMark(at)
                guard items.count % 2 == 0 else { throw fail(.invalidStructure, at, "SETITEMS with an odd number of values") }
                let target = try top(at)
                guard case let .dict(d) = target else { throw fail(.invalidStructure, at, "SETITEMS on a \(target.typeName)") }
                try prepareInsert(items, h, into: target, at)
                try setPairs(d, items, at)
                d.height = max(d.height, items.isEmpty ? 0 : h + 1)

            // Memo.
            case 0x71: try memoPut(try u8(), at)  // BINPUT
            case 0x72: try memoPut(Int(try le(UInt32.self)), at)  // LONG_BINPUT
            case 0x70:  // PUT (text)
                let s = try line(at)
                guard let i = Int(s) else { throw fail(.invalidStructure, at, "PUT argument is not an integer") }
                try memoPut(i, at)
            case 0x94: try memoPut(memo.count, at)  // MEMOIZE
            case 0x68: try memoGet(try u8(), at)  // BINGET
            case 0x6A: try memoGet(Int(try le(UInt32.self)), at)  // LONG_BINGET
            case 0x67:  // GET (text)
                let s = try line(at)
                guard let i = Int(s) else { throw fail(.invalidStructure, at, "GET argument is not an integer") }
                try memoGet(i, at)

            // Globals and application.
            case 0x63:  // GLOBAL
                let module = try line(at), name = try line(at)
                try push(try global(module, name, at), at)
            case 0x93:  // STACK_GLOBAL
                let nameV = try pop(at), moduleV = try pop(at)
                guard case let .string(module) = moduleV, case let .string(name) = nameV else {
                    throw fail(.invalidStructure, at, "STACK_GLOBAL needs two str values")
                }
                try push(try global(module, name, at), at)
            case 0x52:  // REDUCE
                let (args, h) = try popH(at), callee = try pop(at)
                guard case let .tuple(a) = args else { throw fail(.invalidStructure, at, "REDUCE arguments are a \(args.typeName), not a tuple") }
                let result = try apply(callee, a, at)
                if case let .dict(d) = result { d.height = h }
                try push(result, at, height: h)
            case 0x81:  // NEWOBJ
                let args = try pop(at), cls = try pop(at)
                guard case let .tuple(a) = args else { throw fail(.invalidStructure, at, "NEWOBJ arguments are not a tuple") }
                try push(try newObject(cls, a, at), at)
            case 0x62:  // BUILD
                let (state, h) = try popH(at)
                let target = try top(at)
                seal(state)
                try mutable(target, at)
                try checkHeight(h + 1, at)
                try build(target, state, at)
                if case let .dict(d) = target { d.height = max(d.height, h + 1) }
            case 0x51:  // BINPERSID
                let pid = try pop(at)
                try push(try persistentLoad(pid, at), at)
            case 0x50:  // PERSID (text): torch never writes these
                throw fail(.invalidStructure, at, "text persistent ids (PERSID) are not torch storages")
            case 0x69, 0x6F:  // INST, OBJ
                throw fail(.unsafe, at, "pickle opcode \(op == 0x69 ? "INST" : "OBJ") instantiates an arbitrary class; refused")
            case 0x82, 0x83, 0x84:  // EXT1, EXT2, EXT4
                throw fail(.unsafe, at, "pickle extension-registry opcodes (EXT1/2/4) are refused")
            case 0x92:  // NEWOBJ_EX
                throw fail(.unsafe, at, "pickle opcode NEWOBJ_EX is refused")
            case 0x97, 0x98:  // NEXT_BUFFER, READONLY_BUFFER
                throw fail(.unsafe, at, "out-of-band pickle buffers are refused")
            default:
                throw fail(
                    .invalidStructure, at,
                    "unknown pickle opcode 0x\(String(op, radix: 16)) ('\(Character(Unicode.Scalar(op)))'); "
                        + "not a pickle, or a damaged one")
            }
        }
    }

    // MARK: Applying allowed globals (description only, nothing is called)

    private func apply(_ callee: PickleValue, _ a: [PickleValue], _ at: Int) throws -> PickleValue {
        guard case let .global(g) = callee else {
            throw fail(.unsafe, at, "REDUCE applies a \(callee.typeName), not an allowed global")
        }
        func bad(_ what: String) -> InputError { fail(.invalidStructure, at, "\(g.qualifiedName)\(what)") }
        switch g {
        case .orderedDict:
            let d = PickleDict(ordered: true)
            if let first = a.first {
                guard a.count == 1, let pairs = first.sequence else { throw bad(" takes at most one list of pairs") }
                for p in pairs {
                    guard let kv = p.sequence, kv.count == 2, d.set(kv[0], kv[1]) else { throw bad(" item is not a (key, value) pair") }
                }
            }
            return .dict(d)
        case .rebuildTensor, .rebuildTensorV2, .rebuildTensorV3:
            return .tensor(try rebuildTensor(g, a, at))
        case .rebuildParameter, .rebuildParameterWithState:
            guard a.count >= 2, case let .tensor(t) = a[0] else { throw bad(" needs (tensor, requires_grad, hooks)") }
            t.isParameter = true
            if case let .bool(r) = a[1] { t.requiresGrad = r }
            return .tensor(t)
        case .rebuildFromTypeV2:
            // (func, new_type, args, state): func(*args), then the tensor subclass.
            guard a.count == 4, case let .tuple(inner) = a[2] else { throw bad(" needs (func, type, args, state)") }
            let t = try apply(a[0], inner, at)
            guard case let .tensor(tensor) = t else { throw bad(" did not build a tensor") }
            switch a[1] {
            case .global(.parameterClass): tensor.isParameter = true
            case .global(.tensorClass): break
            default: throw fail(.unsafe, at, "\(g.qualifiedName) with tensor type \(a[1].typeName) is refused")
            }
            return t
        case .torchSize:
            guard a.count <= 1 else { throw bad(" takes one sequence") }
            return .tuple(a.first?.sequence ?? [])
        case .torchDevice:
            guard let s = a.first, case .string = s else { throw bad(" needs a device string") }
            return s
        case .codecsEncode:
            guard a.count >= 1, case let .string(s) = a[0] else { throw bad(" needs a str") }
            let enc: String
            if a.count >= 2, case let .string(e) = a[1] { enc = e.lowercased() } else { enc = "utf-8" }
            if enc == "latin1" || enc == "latin-1" || enc == "iso-8859-1" {
                var out: [UInt8] = []
                for u in s.unicodeScalars {
                    guard u.value < 256 else { throw bad(": character outside Latin-1") }
                    out.append(UInt8(u.value))
                }
                return .bytes(out)
            }
            guard enc == "utf-8" || enc == "utf8" || enc == "ascii" else { throw bad(": encoding '\(enc)' is not supported") }
            return .bytes(Array(s.utf8))
        case .builtinsSet, .builtinsFrozenset:
            return .list(PickleList(a.first?.sequence ?? []))
        case .builtinsBytearray:
            if a.isEmpty { return .bytes([]) }
            if case let .bytes(b) = a[0] { return .bytes(b) }
            throw bad(" needs bytes")
        case .tensorClass, .parameterClass, .storageClass, .dtype:
            throw fail(.unsafe, at, "calling \(g.qualifiedName) is refused (only the rebuild functions build tensors)")
        }
    }

    private func newObject(_ cls: PickleValue, _ a: [PickleValue], _ at: Int) throws -> PickleValue {
        switch cls {
        case .global(.orderedDict): return .dict(PickleDict(ordered: true))
        case .global(.builtinsSet), .global(.builtinsFrozenset): return .list(PickleList())
        default: throw fail(.unsafe, at, "NEWOBJ of \(cls.typeName) is refused")
        }
    }

    private func build(_ target: PickleValue, _ state: PickleValue, _ at: Int) throws {
        switch target {
        case let .dict(d):
            // `OrderedDict.__reduce__` state: the instance __dict__ (a state_dict's `_metadata`).
            var attrs: [(String, PickleValue)] = []
            var s = state
            if case let .tuple(t) = state, t.count == 2 { s = t[0] }  // (dict_state, slot_state)
            switch s {
            case .none: break
            case let .dict(sd):
                for (k, v) in sd.items {
                    guard case let .string(name) = k else { throw fail(.invalidStructure, at, "BUILD attribute name is a \(k.typeName)") }
                    attrs.append((name, v))
                }
            default: throw fail(.invalidStructure, at, "BUILD state of a dict is a \(s.typeName)")
            }
            d.attributes.append(contentsOf: attrs)
        case .tensor:
            // Tensor/Parameter state (hooks, `__dict__` of a subclass): nothing that changes the values.
            break
        default:
            throw fail(.unsafe, at, "BUILD on a \(target.typeName) is refused")
        }
    }

    private mutating func persistentLoad(_ pid: PickleValue, _ at: Int) throws -> PickleValue {
        guard case let .tuple(t) = pid, t.count == 5 || t.count == 6, case .string("storage") = t[0] else {
            throw fail(.invalidStructure, at, "persistent id is not ('storage', type, key, location, numel)")
        }
        guard case let .global(.storageClass(cls)) = t[1] else {
            throw fail(.invalidStructure, at, "persistent id storage type is a \(t[1].typeName), not a storage class")
        }
        let key: String
        switch t[2] {
        case let .string(s): key = s
        case let .int(i): key = String(i)
        default: throw fail(.invalidStructure, at, "persistent id key is a \(t[2].typeName)")
        }
        let location: String
        if case let .string(s) = t[3] { location = s } else { location = "cpu" }
        guard let numel = t[4].intValue, numel >= 0 else {
            throw fail(.invalidStructure, at, "storage '\(key)': persistent id numel is not a non-negative integer")
        }
        if t.count == 6, case .none = t[5] {
        } else if t.count == 6 {
            throw fail(.unknownFormat, at, "storage '\(key)': legacy storage views (view_metadata) are not supported")
        }
        let elem = TorchDType.byStorageClass[cls]!
        guard numel.multipliedReportingOverflow(by: elem.byteWidth).overflow == false else {
            throw fail(.outOfRange, at, "storage '\(key)': numel \(numel) overflows")
        }
        let s = TorchStorage(key: key, storageClass: cls, elementType: elem, location: location, numelInPersistentID: numel)
        if let i = storageIndex[key] {
            guard storages[i] == s else {
                throw fail(.invalidStructure, at, "storage '\(key)' is described twice with different types or sizes")
            }
        } else {
            storageIndex[key] = storages.count
            storages.append(s)
        }
        return .storage(s)
    }

    private func rebuildTensor(_ g: PickleGlobal, _ a: [PickleValue], _ at: Int) throws -> TorchTensor {
        let name = String(g.qualifiedName.split(separator: ".").last!)
        func bad(_ what: String) -> InputError { fail(.invalidStructure, at, "\(name): \(what)") }
        let minArgs = g == .rebuildTensor ? 4 : (g == .rebuildTensorV2 ? 6 : 7)
        guard a.count >= minArgs, a.count <= minArgs + 1 else { throw bad("\(a.count) arguments, expected \(minArgs)") }
        guard case let .storage(storage) = a[0] else { throw bad("first argument is a \(a[0].typeName), not a storage") }
        guard let offset = a[1].intValue, offset >= 0 else { throw bad("storage offset is not a non-negative integer") }
        guard let sizeV = a[2].sequence, let strideV = a[3].sequence else { throw bad("size and stride must be tuples") }
        let shape = sizeV.map { $0.intValue ?? -1 }, strides = strideV.map { $0.intValue ?? -1 }
        guard shape.count == strides.count else { throw bad("size has \(shape.count) dimensions, stride \(strides.count)") }
        guard !shape.contains(where: { $0 < 0 }), !strides.contains(where: { $0 < 0 }) else {
            throw bad("size and stride must hold non-negative integers")
        }
        var requiresGrad = false
        if g != .rebuildTensor, case let .bool(r) = a[4] { requiresGrad = r }
        var dtype = storage.elementType
        if g == .rebuildTensorV3 {
            guard case let .global(.dtype(d)) = a[6] else { throw bad("dtype argument is a \(a[6].typeName)") }
            dtype = d
        }
        return TorchTensor(
            storage: storage, dtype: dtype, storageOffset: offset, shape: shape, strides: strides,
            requiresGrad: requiresGrad, rebuildFunction: name)
    }

    // MARK: Text helpers

    /// LONG1/LONG4 payload: little-endian two's complement.
    static func long(_ raw: UnsafeRawBufferPointer) -> PickleValue {
        if raw.isEmpty { return .int(0) }
        if raw.count <= 8 {
            var v: UInt64 = 0
            for (i, b) in raw.enumerated() { v |= UInt64(b) << (8 * UInt64(i)) }
            if raw.count < 8, raw[raw.count - 1] & 0x80 != 0 { v |= ~0 << (8 * UInt64(raw.count)) }
            return .int(Int64(bitPattern: v))
        }
        return .bigInt(Array(raw))
    }

    /// Decodes Python's raw-unicode-escape (`\uXXXX`, `\UXXXXXXXX`; other bytes are Latin-1).
    static func rawUnicodeEscape(_ s: String) -> String? {
        var out = String.UnicodeScalarView()
        let u = Array(s.unicodeScalars)
        var i = 0
        while i < u.count {
            if u[i] == "\\", i + 1 < u.count, u[i + 1] == "u" || u[i + 1] == "U" {
                let k = u[i + 1] == "u" ? 4 : 8
                guard i + 2 + k <= u.count, let v = UInt32(String(String.UnicodeScalarView(u[(i + 2)..<(i + 2 + k)])), radix: 16),
                    let scalar = Unicode.Scalar(v)
                else { return nil }
                out.append(scalar)
                i += 2 + k
            } else {
                out.append(u[i])
                i += 1
            }
        }
        return String(out)
    }

    /// Decodes a protocol-0 STRING argument: a quoted Python literal with simple escapes.
    static func quoted(_ s: String) -> String? {
        guard s.count >= 2, let q = s.first, q == "'" || q == "\"", s.last == q else { return nil }
        let body = Array(s.unicodeScalars.dropFirst().dropLast())
        var out = String.UnicodeScalarView()
        var i = 0
        while i < body.count {
            if body[i] == "\\", i + 1 < body.count {
                let c = body[i + 1]
                i += 2
                switch c {
                case "n": out.append("\n")
                case "t": out.append("\t")
                case "r": out.append("\r")
                case "\\", "'", "\"": out.append(c)
                case "x":
                    guard i + 2 <= body.count, let v = UInt8(String(String.UnicodeScalarView(body[i..<(i + 2)])), radix: 16) else { return nil }
                    out.append(Unicode.Scalar(v))
                    i += 2
                default: return nil
                }
            } else {
                out.append(body[i])
                i += 1
            }
        }
        return String(out)
    }
}
