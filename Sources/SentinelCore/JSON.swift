internal import CJSONC

/// A JSON value that keeps object key order and exact 64-bit integers, parsed and printed with json-c.
///
/// HuggingFace files (`config.json`, `tokenizer.json`, `*.index.json`) and safetensors headers are
/// rewritten through this type, so a key the user never asked to change keeps its place and its
/// exact text: a number that was parsed keeps its original spelling when printed again.
public indirect enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    /// An integer that fits in `Int64`.
    case int(Int64)
    /// An integer above `Int64.max` (json-c keeps it exactly as `UInt64`).
    case uint(UInt64)
    /// A non-integer number; `text` is its spelling in the source (or `nil` for a computed value).
    case double(Double, text: String?)
    case string(String)
    case array([JSONValue])
    /// Members in source order. Duplicate keys are kept as they appear; see ``duplicateKeys``.
    case object([(String, JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.int(x), .int(y)): return x == y
        case let (.uint(x), .uint(y)): return x == y
        case let (.double(x, _), .double(y, _)): return x == y || (x.isNaN && y.isNaN)
        case let (.string(x), .string(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    // MARK: Accessors

    /// The member `key` of an object (the last one, if the key is duplicated), or `nil`.
    public subscript(key: String) -> JSONValue? {
        guard case let .object(members) = self else { return nil }
        return members.last(where: { $0.0 == key })?.1
    }

    public var stringValue: String? {
        if case let .string(s) = self { return s }
        return nil
    }
    public var boolValue: Bool? {
        if case let .bool(b) = self { return b }
        return nil
    }
    public var arrayValue: [JSONValue]? {
        if case let .array(a) = self { return a }
        return nil
    }
    public var objectValue: [(String, JSONValue)]? {
        if case let .object(o) = self { return o }
        return nil
    }

    /// The value as `Int64` if it is an integer that fits.
    public var int64Value: Int64? {
        switch self {
        case let .int(i): return i
        case let .uint(u): return u <= UInt64(Int64.max) ? Int64(u) : nil
        default: return nil
        }
    }

    /// The value as `Int` if it is an integer that fits.
    public var intValue: Int? { int64Value.flatMap { Int(exactly: $0) } }

    /// The value as `Double` for any number.
    public var doubleValue: Double? {
        switch self {
        case let .int(i): return Double(i)
        case let .uint(u): return Double(u)
        case let .double(d, _): return d
        default: return nil
        }
    }

    /// Returns a copy with member `key` set to `value`: replaced in place if present (every duplicate
    /// removed but the first), appended otherwise. Non-objects are returned unchanged.
    public func setting(_ key: String, to value: JSONValue) -> JSONValue {
        guard case var .object(members) = self else { return self }
        if let i = members.firstIndex(where: { $0.0 == key }) {
            members[i].1 = value
            members = members.enumerated().filter { $0.offset == i || $0.element.0 != key }.map(\.element)
        } else {
            members.append((key, value))
        }
        return .object(members)
    }

    /// Keys that occur more than once in this object (not recursive), in order of first repetition.
    public var duplicateKeys: [String] {
        guard case let .object(members) = self else { return [] }
        var seen = Set<String>(), dups: [String] = []
        for (k, _) in members where !seen.insert(k).inserted && !dups.contains(k) { dups.append(k) }
        return dups
    }

    // MARK: Parsing

    /// Failure to parse JSON text.
    public struct ParseError: Error, CustomStringConvertible, Sendable {
        /// Byte offset where json-c stopped.
        public var offset: Int
        public var reason: String
        public var description: String { "invalid JSON at byte \(offset): \(reason)" }
    }

    /// Parses one JSON document from UTF-8 bytes. Invalid UTF-8 and trailing non-space bytes are errors.
    ///
    /// - Parameter maxDepth: nesting limit (json-c's own default is 32).
    /// - Throws: ``ParseError``.
    public static func parse(_ bytes: UnsafeRawBufferPointer, maxDepth: Int32 = 64) throws -> JSONValue {
        guard let tok = json_tokener_new_ex(maxDepth) else { throw ParseError(offset: 0, reason: "out of memory") }
        defer { json_tokener_free(tok) }
        json_tokener_set_flags(tok, Int32(JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8))
        guard bytes.count <= Int(Int32.max) else { throw ParseError(offset: 0, reason: "document too large") }
        let base = bytes.baseAddress?.assumingMemoryBound(to: CChar.self) ?? UnsafePointer<CChar>(bitPattern: 1)!
        let obj = bytes.count == 0 ? nil : json_tokener_parse_ex(tok, base, Int32(bytes.count))
        let err = json_tokener_get_error(tok)
        let consumed = Int(json_tokener_get_parse_end(tok))
        if err == json_tokener_continue || bytes.count == 0 {
            throw ParseError(offset: bytes.count, reason: "unexpected end of input")
        }
        guard err == json_tokener_success else {
            throw ParseError(offset: consumed, reason: String(cString: json_tokener_error_desc(err)))
        }
        defer { json_object_put(obj) }
        // Anything after the document must be white space.
        for i in consumed..<bytes.count {
            let c = bytes[i]
            if c != 0x20 && c != 0x0A && c != 0x0D && c != 0x09 {
                throw ParseError(offset: i, reason: "trailing characters after the document")
            }
        }
        return convert(obj)
    }

    /// Parses one JSON document from a string.
    public static func parse(_ text: String) throws -> JSONValue {
        var copy = text
        return try copy.withUTF8 { try parse(UnsafeRawBufferPointer($0)) }
    }

    private static func convert(_ o: OpaquePointer?) -> JSONValue {
        guard let o else { return .null }
        switch json_object_get_type(o) {
        case json_type_null: return .null
        case json_type_boolean: return .bool(json_object_get_boolean(o) != 0)
        case json_type_int:
            let i = json_object_get_int64(o)
            if i == Int64.max {
                let u = json_object_get_uint64(o)
                if u > UInt64(Int64.max) { return .uint(u) }
            }
            return .int(i)
        case json_type_double:
            return .double(json_object_get_double(o), text: String(cString: json_object_to_json_string_ext(o, 0)))
        case json_type_string:
            let n = Int(json_object_get_string_len(o))
            let p = json_object_get_string(o)!
            return .string(String(decoding: UnsafeRawBufferPointer(start: p, count: n), as: UTF8.self))
        case json_type_array:
            let n = json_object_array_length(o)
            var out: [JSONValue] = []
            out.reserveCapacity(n)
            for i in 0..<n { out.append(convert(json_object_array_get_idx(o, i))) }
            return .array(out)
        case json_type_object:
            var out: [(String, JSONValue)] = []
            var e = CJSONC_object_first(o)
            while let entry = e {
                out.append((String(cString: CJSONC_entry_key(entry)), convert(CJSONC_entry_value(entry))))
                e = CJSONC_entry_next(entry)
            }
            return .object(out)
        default: return .null
        }
    }

    // MARK: Printing

    /// How ``serialized(_:)`` lays the text out.
    public enum Style: Sendable {
        /// No white space at all (safetensors headers).
        case compact
        /// Two-space indentation, `"key": value` (HuggingFace's `tokenizer.json`, `config.json`).
        case pretty
    }

    /// The JSON text of this value (UTF-8 kept as is, `/` not escaped, NaN and ±Infinity as `null`).
    public func serialized(_ style: Style = .compact) -> String {
        let o = makeObject()
        defer { json_object_put(o) }
        var flags = JSON_C_TO_STRING_NOSLASHESCAPE
        if style == .pretty { flags |= JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED }
        var len = 0
        let p = json_object_to_json_string_length(o, Int32(flags), &len)!
        return String(decoding: UnsafeRawBufferPointer(start: p, count: len), as: UTF8.self)
    }

    private func makeObject() -> OpaquePointer? {
        switch self {
        case .null: return nil
        case let .bool(b): return json_object_new_boolean(b ? 1 : 0)
        case let .int(i): return json_object_new_int64(i)
        case let .uint(u): return json_object_new_uint64(u)
        case let .double(d, text):
            guard d.isFinite else { return nil }  // JSON has no NaN or Infinity
            if let text { return json_object_new_double_s(d, text) }
            return json_object_new_double(d)
        case let .string(s):
            var copy = s
            return copy.withUTF8 { buf in
                buf.withMemoryRebound(to: CChar.self) { json_object_new_string_len($0.baseAddress, Int32($0.count)) }
            }
        case let .array(items):
            let a = json_object_new_array_ext(Int32(items.count))
            for item in items { json_object_array_add(a, item.makeObject()) }
            return a
        case let .object(members):
            let o = json_object_new_object()
            for (k, v) in members {
                // Keys are new in order; a duplicate would replace, so keep json-c's default add.
                json_object_object_add(o, k, v.makeObject())
            }
            return o
        }
    }
}

extension JSONValue {
    /// Parses a JSON file (memory-mapped; json-c keeps key order and exact 64-bit integers).
    /// - Throws: ``InputError`` `.notJSON` with the byte offset of the error; ``OutputError`` if the file
    ///   cannot be opened or read.
    public static func read(file path: String) throws -> JSONValue {
        let f = try MappedFile(path: path)
        do { return try withExtendedLifetime(f) { try JSONValue.parse(f.bytes) } } catch let e as JSONValue.ParseError {
            throw InputError(.notJSON, file: path, offset: e.offset, e.reason)
        }
    }
}
