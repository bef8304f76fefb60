import SentinelCore

extension PickleValue {
    /// The value as plain JSON (what `inspect` prints for non-tensor entries): dicts become objects
    /// with string keys, tuples and lists arrays, NaN/±inf the strings `"nan"`, `"inf"`, `"-inf"`, a
    /// tensor `{"tensor": name}` (names from `tensorNames`), bytes `{"bytes_hex": …}`, an int over 64
    /// bits `{"int_hex_le": …}` (two's complement, little-endian).
    public func plainJSON(tensorNames: [ObjectIdentifier: String] = [:]) -> JSONValue {
        switch self {
        case .none: return .null
        case let .bool(b): return .bool(b)
        case let .int(i): return .int(i)
        case let .bigInt(b): return .object([("int_hex_le", .string(hex(b)))])
        case let .float(d): return floatJSON(d)
        case let .string(s): return .string(s)
        case let .bytes(b): return .object([("bytes_hex", .string(hex(b)))])
        case let .tuple(t): return .array(t.map { $0.plainJSON(tensorNames: tensorNames) })
        case let .list(l): return .array(l.items.map { $0.plainJSON(tensorNames: tensorNames) })
        case let .dict(d): return .object(d.items.map { (Flattener.component($0.key), $0.value.plainJSON(tensorNames: tensorNames)) })
        case let .global(g): return .object([("global", .string(g.qualifiedName))])
        case let .storage(s): return .object([("storage", .string(s.key))])
        case let .tensor(t): return .object([("tensor", .string(tensorNames[ObjectIdentifier(t)] ?? "?"))])
        }
    }
}

func floatJSON(_ d: Double) -> JSONValue {
    if d.isNaN { return .string("nan") }
    if d.isInfinite { return .string(d > 0 ? "inf" : "-inf") }
    return .double(d, text: d.description)  // shortest round-trip spelling, as Python's repr
}

func hex(_ b: [UInt8]) -> String {
    let digits = Array("0123456789abcdef")
    var s = ""
    s.reserveCapacity(b.count * 2)
    for x in b {
        s.append(digits[Int(x >> 4)])
        s.append(digits[Int(x & 15)])
    }
    return s
}

extension TorchCheckpoint {
    /// Names of the tensor objects (the first name of each object).
    var tensorNames: [ObjectIdentifier: String] {
        var out: [ObjectIdentifier: String] = [:]
        for item in items where out[ObjectIdentifier(item.tensor)] == nil { out[ObjectIdentifier(item.tensor)] = item.name }
        return out
    }

    /// The pickled object as a typed tree, in the schema of `root` in
    /// `../shared/fixtures/torch/*.expected.json`: `{"type": "dict"|"OrderedDict", "items": [[key, node]…],
    /// "attrs": {…}}`, `{"type": "tuple"|"list", "items": […]}`, `{"type": "tensor", "key": name}`,
    /// `{"type": "int"|"float"|"str"|"bool"|"None", "value": …}`.
    public func typedTree() -> JSONValue {
        var names: [ObjectIdentifier: String] = [:]
        for item in items { names[ObjectIdentifier(item.tensor)] = names[ObjectIdentifier(item.tensor)] ?? item.name }
        // A tensor reached by several paths is named by the path that reaches it each time.
        return node(root, path: [], names: names)
    }

    private func node(_ v: PickleValue, path: [String], names: [ObjectIdentifier: String]) -> JSONValue {
        switch v {
        case .tensor:
            return .object([("type", .string("tensor")), ("key", .string(path.isEmpty ? "tensor" : path.joined(separator: "/")))])
        case let .dict(d):
            var members: [(String, JSONValue)] = [("type", .string(d.isOrdered ? "OrderedDict" : "dict"))]
            members.append(
                (
                    "items",
                    .array(
                        d.items.map { k, e in
                            let c = Flattener.component(k)
                            return .array([.string(c), node(e, path: path + [c], names: names)])
                        })
                ))
            if !d.attributes.isEmpty {
                members.append(("attrs", .object(d.attributes.map { ($0.name, $0.value.plainJSON(tensorNames: names)) })))
            }
            return .object(members)
        case let .tuple(t):
            return .object([
                ("type", .string("tuple")),
                ("items", .array(t.enumerated().map { node($1, path: path + [String($0)], names: names) })),
            ])
        case let .list(l):
            return .object([
                ("type", .string("list")),
                ("items", .array(l.items.enumerated().map { node($1, path: path + [String($0)], names: names) })),
            ])
        case .none: return .object([("type", .string("None")), ("value", .null)])
        case let .bool(b): return .object([("type", .string("bool")), ("value", .bool(b))])
        case .int, .bigInt: return .object([("type", .string("int")), ("value", v.plainJSON())])
        case let .float(d): return .object([("type", .string("float")), ("value", floatJSON(d))])
        case let .string(s): return .object([("type", .string("str")), ("value", .string(s))])
        default: return .object([("type", .string(v.typeName)), ("value", v.plainJSON(tensorNames: names))])
        }
    }

    /// Where a storage's bytes are, for reports: the zip record name, or the legacy file offset.
    public func storageRecord(_ s: TorchStorage) -> (record: String?, dataOffset: Int?) {
        switch locations[s.key] {
        case let .zip(e)?: return (e.name, e.dataOffset)
        case let .file(offset, _)?: return (nil, offset)
        case nil: return (nil, nil)
        }
    }

    /// Everything `sentinel inspect` shows about a torch file, as one JSON document:
    ///
    /// `{"format": "pytorch-zip"|"pytorch-legacy", "path", "container": {...}, "tensors": [{"name", "path",
    /// "dtype", "shape", "strides", "storage_offset", "contiguous", "requires_grad", "is_parameter",
    /// "rebuild_function", "storage": {"key", "type", "location", "numel", "nbytes", "record"|"data_offset"},
    /// "same_object_as": [...], "shares_storage_with": [...]}], "non_tensor_entries": [{"path", "type",
    /// "value"}], "root": typed tree (``typedTree()``)}`. Strides and offsets are in elements.
    public func describe() -> JSONValue {
        var container: [(String, JSONValue)] = []
        if let zipReader {
            container.append(("prefix", recordPrefix.map { .string($0) } ?? .null))
            container.append(
                (
                    "records",
                    .array(
                        zipReader.entries.map { e in
                            .object([
                                ("name", .string(e.name)), ("size", .int(Int64(e.size))), ("compress_type", .int(Int64(e.method))),
                                ("data_offset", e.dataOffset.map { .int(Int64($0)) } ?? .null),
                            ])
                        })
                ))
            for (name, text) in records { container.append((name, .string(text))) }
        } else {
            container.append(("byteorder", .string(isBigEndian ? "big" : "little")))
        }
        container.append(
            (
                "pickle",
                .object([
                    ("protocol", pickleProtocol.map { .int(Int64($0)) } ?? .null),
                    ("globals", .array(pickleGlobals.sorted().map { .string($0) })),
                ])
            ))
        let names = tensorNames
        var tensors: [JSONValue] = []
        for item in items {
            let t = item.tensor
            let (record, dataOffset) = storageRecord(t.storage)
            var storage: [(String, JSONValue)] = [
                ("key", .string(t.storage.key)), ("type", .string(t.storage.storageClass)),
                ("location", .string(t.storage.location)), ("numel", .int(Int64(t.storage.numelInPersistentID))),
                ("nbytes", .int(Int64(t.storage.byteCount))),
            ]
            if let record { storage.append(("record", .string(record))) }
            if let dataOffset { storage.append(("data_offset", .int(Int64(dataOffset)))) }
            let same = items.filter { $0.tensor === t && $0.name != item.name }.map { JSONValue.string($0.name) }
            let shares = items.filter { $0.tensor.storage.key == t.storage.key && $0.name != item.name }.map { JSONValue.string($0.name) }
            tensors.append(
                .object([
                    ("name", .string(item.name)), ("path", .array(item.path.map { .string($0) })),
                    ("dtype", .string(t.dtype.rawValue)), ("shape", .array(t.shape.map { .int(Int64($0)) })),
                    ("strides", .array(t.strides.map { .int(Int64($0)) })), ("storage_offset", .int(Int64(t.storageOffset))),
                    ("contiguous", .bool(t.isContiguous)), ("requires_grad", .bool(t.requiresGrad)),
                    ("is_parameter", .bool(t.isParameter)), ("rebuild_function", .string(t.rebuildFunction)),
                    ("storage", .object(storage)), ("same_object_as", .array(same)), ("shares_storage_with", .array(shares)),
                ]))
        }
        let values = values.map { v in
            JSONValue.object([
                ("path", .array(v.path.map { .string($0) })), ("type", .string(v.value.typeName)),
                ("value", v.value.plainJSON(tensorNames: names)),
            ])
        }
        return .object([
            ("format", .string(formatName)), ("path", .string(path)), ("container", .object(container)),
            ("tensors", .array(tensors)), ("non_tensor_entries", .array(values)), ("root", typedTree()),
        ])
    }
}

extension TorchCheckpoint {
    /// The same facts as ``describe()`` as text for `sentinel inspect` without `--json`: a header line,
    /// one line per tensor (name, dtype, shape, storage key and record, storage offset, strides in
    /// elements, sharing), then the non-tensor entries as `path = JSON`.
    public func describeText() -> String {
        var lines: [String] = []
        var head = "\(formatName) \(path): \(items.count) tensors, \(storages.count) storages"
        if let recordPrefix { head += ", top folder '\(recordPrefix)'" }
        if let v = records.first(where: { $0.name == "version" })?.text { head += ", version \(v.filter { $0 != "\n" })" }
        head += ", \(isBigEndian ? "big" : "little")-endian storages, pickle protocol \(pickleProtocol.map(String.init) ?? "0/1")"
        lines.append(head)
        let nameWidth = min(60, items.map(\.name.count).max() ?? 0)
        for item in items {
            let t = item.tensor
            let (record, dataOffset) = storageRecord(t.storage)
            var line = item.name + String(repeating: " ", count: max(0, nameWidth - item.name.count))
            line += "  \(t.dtype.rawValue)  \(t.shape)  storage '\(t.storage.key)'"
            if let record { line += " (\(record))" } else if let dataOffset { line += " (file byte \(dataOffset))" }
            line += " offset \(t.storageOffset) strides \(t.strides)"
            if !t.isContiguous { line += " non-contiguous" }
            let same = items.filter { $0.tensor === t && $0.name != item.name }.map(\.name)
            let shares = items.filter { $0.tensor.storage.key == t.storage.key && $0.tensor !== t }.map(\.name)
            if !same.isEmpty { line += "; same tensor as " + same.joined(separator: ", ") }
            if !shares.isEmpty { line += "; shares storage with " + shares.joined(separator: ", ") }
            if t.isParameter { line += "; Parameter" }
            if t.requiresGrad { line += "; requires_grad" }
            if t.dtype.dtype == nil { line += "; no safetensors dtype" }
            lines.append(line)
        }
        if !values.isEmpty {
            lines.append("non-tensor entries:")
            let names = tensorNames
            for v in values {
                lines.append("  " + v.path.joined(separator: "/") + " = " + v.value.plainJSON(tensorNames: names).serialized(.compact))
            }
        }
        return lines.joined(separator: "\n")
    }
}
