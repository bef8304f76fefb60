import SentinelCore

/// A value built by the ``RestrictedUnpickler``: plain Python data, tensor descriptions and the
/// handful of allowed globals. Nothing in it can run code.
public indirect enum PickleValue {
    case none
    case bool(Bool)
    case int(Int64)
    /// A Python int that does not fit in 64 bits: little-endian two's-complement bytes (LONG1/LONG4).
    case bigInt([UInt8])
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tuple([PickleValue])
    /// A mutable list (reference semantics: the memo and the stack share it).
    case list(PickleList)
    /// A `dict` or `collections.OrderedDict` (reference semantics).
    case dict(PickleDict)
    /// An allowed global that has not been applied (a storage class, a dtype, a function).
    case global(PickleGlobal)
    /// A storage from a persistent id (only valid as the first argument of a rebuild function).
    case storage(TorchStorage)
    case tensor(TorchTensor)

    /// Python type name for messages and descriptions.
    public var typeName: String {
        switch self {
        case .none: "None"
        case .bool: "bool"
        case .int, .bigInt: "int"
        case .float: "float"
        case .string: "str"
        case .bytes: "bytes"
        case .tuple: "tuple"
        case .list: "list"
        case let .dict(d): d.isOrdered ? "OrderedDict" : "dict"
        case let .global(g): "global \(g.qualifiedName)"
        case .storage: "storage"
        case .tensor: "tensor"
        }
    }

    /// The int value if it fits in `Int`.
    var intValue: Int? {
        if case let .int(i) = self { return Int(exactly: i) }
        if case let .bool(b) = self { return b ? 1 : 0 }
        return nil
    }

    /// Elements of a tuple or a list.
    var sequence: [PickleValue]? {
        switch self {
        case let .tuple(t): t
        case let .list(l): l.items
        default: nil
        }
    }
}

/// A Python list under construction.
public final class PickleList {
    public internal(set) var items: [PickleValue]
    /// Nesting height (1 + the deepest item) and whether it sits inside another object (then frozen).
    var height = 0
    var sealed = false
    init(_ items: [PickleValue] = []) { self.items = items }
}

/// A Python dict (insertion-ordered, as Python's are) under construction.
public final class PickleDict {
    /// Items in insertion order; setting an existing key replaces its value in place, as Python does.
    public private(set) var items: [(key: PickleValue, value: PickleValue)] = []
    /// `collections.OrderedDict` rather than `dict`.
    public let isOrdered: Bool
    /// Instance attributes set by a pickle `BUILD` (`_metadata` of a `state_dict()`), in order.
    public internal(set) var attributes: [(name: String, value: PickleValue)] = []
    /// Nesting height (1 + the deepest item) and whether it sits inside another object (then frozen).
    var height = 0
    var sealed = false
    private var index: [HashKey: Int] = [:]

    init(ordered: Bool) { isOrdered = ordered }

    /// Keys Python can hash and compare by value, for replacing an existing key.
    private enum HashKey: Hashable {
        case none, int(Int64), string(String), bytes([UInt8]), float(UInt64), tuple([HashKey]), object(ObjectIdentifier)
    }

    private static func hashKey(_ v: PickleValue) -> HashKey? {
        switch v {
        case .none: return HashKey.none
        case let .bool(b): return .int(b ? 1 : 0)
        case let .int(i): return .int(i)
        case let .bigInt(b): return .bytes(b)
        case let .float(d):
            if let i = Int64(exactly: d) { return .int(i) }
            return .float(d.bitPattern)
        case let .string(s): return .string(s)
        case let .bytes(b): return .bytes(b)
        case let .tuple(t):
            var keys: [HashKey] = []
            for e in t {
                guard let k = hashKey(e) else { return nil }
                keys.append(k)
            }
            return .tuple(keys)
        case let .tensor(t): return .object(ObjectIdentifier(t))
        case .global, .storage: return .string("\u{0}" + v.typeName)
        case .list, .dict: return nil
        }
    }

    /// `d[key] = value`. Returns `false` when the key is unhashable (a list or a dict).
    func set(_ key: PickleValue, _ value: PickleValue) -> Bool {
        guard let h = Self.hashKey(key) else { return false }
        if let i = index[h] {
            items[i].value = value
        } else {
            index[h] = items.count
            items.append((key, value))
        }
        return true
    }
}

/// The globals the restricted unpickler accepts: an exact allow-list of `module.name` pairs, in the
/// spirit of `torch.load(weights_only=True)` (`torch/_weights_only_unpickler.py`, `_get_allowed_globals`).
/// None of them is ever called: applying one (REDUCE, NEWOBJ) builds a description.
public enum PickleGlobal: Equatable, Sendable {
    case orderedDict
    case rebuildTensor, rebuildTensorV2, rebuildTensorV3
    case rebuildParameter, rebuildParameterWithState
    case rebuildFromTypeV2
    case tensorClass, parameterClass
    case torchSize, torchDevice
    case storageClass(String)
    case dtype(TorchDType)
    /// `_codecs.encode(str, 'latin1')`: how protocol 2 pickles `bytes`.
    case codecsEncode
    case builtinsSet, builtinsFrozenset, builtinsBytearray

    /// Looks `module.name` up in the allow-list.
    static func lookup(module: String, name: String) -> PickleGlobal? {
        switch (module, name) {
        case ("collections", "OrderedDict"): return .orderedDict
        case ("torch._utils", "_rebuild_tensor"): return .rebuildTensor
        case ("torch._utils", "_rebuild_tensor_v2"): return .rebuildTensorV2
        case ("torch._utils", "_rebuild_tensor_v3"): return .rebuildTensorV3
        case ("torch._utils", "_rebuild_parameter"): return .rebuildParameter
        case ("torch._utils", "_rebuild_parameter_with_state"): return .rebuildParameterWithState
        case ("torch._tensor", "_rebuild_from_type_v2"): return .rebuildFromTypeV2
        case ("torch", "Tensor"), ("torch._tensor", "Tensor"): return .tensorClass
        case ("torch.nn.parameter", "Parameter"), ("torch", "nn.Parameter"): return .parameterClass
        case ("torch", "Size"): return .torchSize
        case ("torch", "device"): return .torchDevice
        case ("_codecs", "encode"): return .codecsEncode
        case ("builtins", "set"), ("__builtin__", "set"): return .builtinsSet
        case ("builtins", "frozenset"), ("__builtin__", "frozenset"): return .builtinsFrozenset
        case ("builtins", "bytearray"), ("__builtin__", "bytearray"): return .builtinsBytearray
        default: break
        }
        if module == "torch" || module == "torch.storage", TorchDType.byStorageClass[name] != nil {
            if name == "UntypedStorage" || module == "torch" { return .storageClass(name) }
        }
        if module == "torch", let d = TorchDType.byTorchAttribute[name] { return .dtype(d) }
        return nil
    }

    /// `module.name` as it appears in a pickle.
    public var qualifiedName: String {
        switch self {
        case .orderedDict: "collections.OrderedDict"
        case .rebuildTensor: "torch._utils._rebuild_tensor"
        case .rebuildTensorV2: "torch._utils._rebuild_tensor_v2"
        case .rebuildTensorV3: "torch._utils._rebuild_tensor_v3"
        case .rebuildParameter: "torch._utils._rebuild_parameter"
        case .rebuildParameterWithState: "torch._utils._rebuild_parameter_with_state"
        case .rebuildFromTypeV2: "torch._tensor._rebuild_from_type_v2"
        case .tensorClass: "torch.Tensor"
        case .parameterClass: "torch.nn.parameter.Parameter"
        case .torchSize: "torch.Size"
        case .torchDevice: "torch.device"
        case let .storageClass(n): n == "UntypedStorage" ? "torch.storage.UntypedStorage" : "torch.\(n)"
        case let .dtype(d): "torch.\(d.torchAttribute)"
        case .codecsEncode: "_codecs.encode"
        case .builtinsSet: "builtins.set"
        case .builtinsFrozenset: "builtins.frozenset"
        case .builtinsBytearray: "builtins.bytearray"
        }
    }
}
