import XCTest
import SentinelCore
@testable import SentinelFormats

/// Every file of `../shared/fixtures/torch` (made by torch 2.15) against its `.expected.json`.
final class FixtureTests: XCTestCase {
    static let valid = [
        "t01_simple_state_dict.pt", "t02_all_dtypes.pt", "t02b_optional_dtypes.pt", "t03_tied_weights.pt",
        "t04_noncontiguous_views.pt", "t05_scalar_and_empty.pt", "t06_nested_checkpoint.pt", "t07_legacy_format.pt",
        "t09_parameters_requires_grad.pt",
    ]

    func testValidFilesMatchExpectedJSON() throws {
        for name in Self.valid {
            try check(name)
        }
    }

    private func ints(_ v: JSONValue?) -> [Int]? { v?.arrayValue?.map { $0.intValue ?? -1 } }
    private func strings(_ v: JSONValue?) -> [String]? { v?.arrayValue?.map { $0.stringValue ?? "?" } }

    private func check(_ name: String) throws {
        let path = Paths.torchFixtures + "/" + name
        let expected = try loadJSON(path + ".expected.json")
        let c = try TorchCheckpoint(path: path)
        let legacy = expected["format"]?.stringValue == "torch-legacy"
        XCTAssertEqual(c.isZip, !legacy, name)
        let tensors = try XCTUnwrap(expected["tensors"]?.arrayValue)
        XCTAssertEqual(c.items.map(\.name), tensors.map { $0["key"]?.stringValue ?? "" }, name)
        for (item, exp) in zip(c.items, tensors) {
            let t = item.tensor
            let what = "\(name): \(item.name)"
            XCTAssertEqual(item.path, strings(exp["path"]), what)
            XCTAssertEqual(t.dtype.rawValue, exp["dtype"]?.stringValue, what)
            XCTAssertEqual(t.shape, ints(exp["shape"]), what)
            XCTAssertEqual(t.strides, ints(exp["strides"]), what)
            XCTAssertEqual(t.storageOffset, exp["storage_offset"]?.intValue, what)
            XCTAssertEqual(t.elementCount, exp["numel"]?.intValue, what)
            XCTAssertEqual(t.requiresGrad, exp["requires_grad"]?.boolValue, what)
            XCTAssertEqual(t.isParameter, exp["is_parameter"]?.boolValue, what)
            XCTAssertEqual(t.rebuildFunction, exp["rebuild_function"]?.stringValue, what)
            let s = try XCTUnwrap(exp["storage"], what)
            XCTAssertEqual(t.storage.key, s["key"]?.stringValue, what)
            XCTAssertEqual(t.storage.storageClass, s["pickled_storage_type"]?.stringValue, what)
            XCTAssertEqual(t.storage.location, s["location"]?.stringValue, what)
            XCTAssertEqual(t.storage.numelInPersistentID, s["numel_in_persistent_id"]?.intValue, what)
            // An UntypedStorage holds bytes (U8 here); the fixtures give the tensor's dtype for it.
            let storageElement = t.storage.storageClass == "UntypedStorage" ? t.dtype : t.storage.elementType
            XCTAssertEqual(storageElement.rawValue, s["element_dtype"]?.stringValue, what)
            XCTAssertEqual(t.storage.byteCount, s["nbytes"]?.intValue, what)
            let (record, offset) = c.storageRecord(t.storage)
            if legacy {
                XCTAssertEqual(offset, s["data_offset_in_file"]?.intValue, what)
            } else {
                XCTAssertEqual(record, s["record"]?.stringValue, what)
            }
            let storageDigest = try c.withStorageBytes(t.storage) { SHA256.hex($0) }
            XCTAssertEqual(storageDigest, s["sha256"]?.stringValue, what)
            let same = c.items.filter { $0.tensor === t && $0.name != item.name }.map(\.name)
            XCTAssertEqual(same, strings(exp["same_object_as"]), what)
            let shares = c.items.filter { $0.tensor.storage.key == t.storage.key && $0.name != item.name }.map(\.name)
            XCTAssertEqual(shares, strings(exp["shares_storage_with"]), what)
            let (digest, count) = try c.withBytes(of: t) { (SHA256.hex($0), $0.count) }
            XCTAssertEqual(digest, exp["sha256"]?.stringValue, what)
            XCTAssertEqual(count, exp["nbytes_contiguous"]?.intValue, what)
            try checkFirstValues(c, t, exp["first_values"], what)
            // The TensorArchive view gives the same bytes under the tensor's name.
            if t.dtype.dtype != nil {
                let viaArchive = try c.withBytes(of: item.name) { SHA256.hex($0) }
                XCTAssertEqual(viaArchive, exp["sha256"]?.stringValue, what)
            }
        }
        // Non-tensor values, with their paths, and the whole typed tree.
        let values = try XCTUnwrap(expected["non_tensor_entries"]?.arrayValue)
        XCTAssertEqual(c.values.map(\.path), values.map { strings($0["path"]) ?? [] }, name)
        for (v, exp) in zip(c.values, values) {
            XCTAssertEqual(v.value.plainJSON(), exp["value"], "\(name): \(v.path)")
            XCTAssertEqual(v.value.typeName, exp["python_type"]?.stringValue, "\(name): \(v.path)")
        }
        XCTAssertEqual(c.typedTree(), expected["root"], name)
        // Container facts.
        let container = try XCTUnwrap(expected["container"])
        XCTAssertEqual(c.pickleProtocol, container["pickle"]?["protocol"]?.intValue, name)
        XCTAssertEqual(c.pickleGlobals.sorted(), strings(container["pickle"]?["globals"]), name)
        if !legacy {
            XCTAssertEqual(c.recordPrefix, container["prefix"]?.stringValue, name)
            let records = try XCTUnwrap(container["records"]?.arrayValue)
            let reader = try XCTUnwrap(c.zipReader)
            XCTAssertEqual(reader.entries.map(\.name), records.map { $0["name"]?.stringValue ?? "" }, name)
            for (e, r) in zip(reader.entries, records) {
                XCTAssertEqual(e.size, r["size"]?.intValue, "\(name) \(e.name)")
                XCTAssertEqual(e.dataOffset, r["data_offset"]?.intValue, "\(name) \(e.name): stored record viewed in place")
            }
            for key in ["version", "byteorder", ".format_version", ".storage_alignment"] {
                XCTAssertEqual(c.records.first { $0.name == key }?.text, container[key]?.stringValue, "\(name) \(key)")
            }
        } else {
            XCTAssertEqual(c.isBigEndian, container["sys_info"]?["little_endian"]?.boolValue == false)
        }
        // The inspect description agrees with the items.
        let d = c.describe()
        XCTAssertEqual(d["tensors"]?.arrayValue?.map { $0["name"]?.stringValue ?? "" }, c.items.map(\.name))
        XCTAssertEqual(d["root"], expected["root"])
        XCTAssertEqual(c.unrepresentable, c.items.filter { $0.tensor.dtype == .C128 }.map(\.name))
    }

    /// Decodes the first values of F32/F64/I64/BOOL tensors and compares them exactly.
    private func checkFirstValues(_ c: TorchCheckpoint, _ t: TorchTensor, _ exp: JSONValue?, _ what: String) throws {
        guard let exp = exp?.arrayValue else { return }
        try c.withBytes(of: t) { raw in
            for (i, e) in exp.enumerated() {
                switch t.dtype {
                case .F32:
                    let v = Double(raw.loadUnaligned(fromByteOffset: 4 * i, as: Float.self))
                    if case let .string(s) = e {
                        XCTAssertEqual(s, v.isNaN ? "nan" : (v > 0 ? "inf" : "-inf"), what)
                    } else {
                        XCTAssertEqual(v, e.doubleValue, what)
                    }
                case .F64:
                    let v = raw.loadUnaligned(fromByteOffset: 8 * i, as: Double.self)
                    if case let .string(s) = e {
                        XCTAssertEqual(s, v.isNaN ? "nan" : (v > 0 ? "inf" : "-inf"), what)
                    } else {
                        XCTAssertEqual(v, e.doubleValue, what)
                    }
                case .I64:
                    XCTAssertEqual(raw.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self), e.int64Value, what)
                case .BOOL:
                    XCTAssertEqual(raw[i] != 0, e.boolValue, what)
                default: return
                }
            }
        }
    }

    /// The text `inspect` prints names storage keys, sharing, strides and the non-tensor entries.
    func testDescribeText() throws {
        let t03 = try TorchCheckpoint(path: Paths.torchFixtures + "/t03_tied_weights.pt").describeText()
        XCTAssertTrue(t03.hasPrefix("pytorch-zip "), t03)
        XCTAssertTrue(
            t03.contains(
                "encoder.embed_tokens.weight  F32  [10, 4]  storage '0' (archive/data/0) offset 0 strides [4, 1]; "
                    + "same tensor as decoder.embed_tokens.weight"), t03)
        XCTAssertTrue(
            t03.contains(
                "view_b                       F32  [4, 4]  storage '1' (archive/data/1) offset 8 strides [4, 1]; "
                    + "shares storage with view_a"), t03)
        let t06 = try TorchCheckpoint(path: Paths.torchFixtures + "/t06_nested_checkpoint.pt").describeText()
        XCTAssertTrue(t06.contains("\n  epoch = 3\n  lr = 5e-05\n  name = \"x\"\n  flags = [true,null]\n  hist = [1.5,2.5]"), t06)
        let t07 = try TorchCheckpoint(path: Paths.torchFixtures + "/t07_legacy_format.pt").describeText()
        XCTAssertTrue(t07.contains("storage '94893966300640' (file byte 3286)"), t07)
        let t04 = try TorchCheckpoint(path: Paths.torchFixtures + "/t04_noncontiguous_views.pt").describeText()
        XCTAssertTrue(t04.contains("transposed  ") && t04.contains("strides [1, 4] non-contiguous"), t04)
    }

    // MARK: Hostile and broken files

    func testOSSystemGlobalIsRefusedNamingModuleAndName() throws {
        let e = inputError { _ = try TorchCheckpoint(path: Paths.torchFixtures + "/m01_os_system_reduce.pt") }
        XCTAssertEqual(e?.code, .unsafe)
        XCTAssertTrue(e?.message.contains("os.system (module 'os', name 'system')") ?? false, e?.description ?? "")
        XCTAssertEqual(e?.key, "archive/data.pkl")
        // The GLOBAL opcode is at pickle byte 177 (see the .dis.txt); the record's data starts at file byte 64.
        XCTAssertEqual(e?.offset, 64 + 177)
    }

    func testBuiltinsEvalIsRefused() throws {
        let e = inputError { _ = try TorchCheckpoint(path: Paths.torchFixtures + "/m02_builtins_eval.pt") }
        XCTAssertEqual(e?.code, .unsafe)
        XCTAssertTrue(e?.message.contains("builtins.eval (module 'builtins', name 'eval')") ?? false, e?.description ?? "")
    }

    func testTruncatedPickleIsRefused() throws {
        let e = inputError { _ = try TorchCheckpoint(path: Paths.torchFixtures + "/m03_truncated_data_pkl.pt") }
        XCTAssertEqual(e?.code, .truncated)
        XCTAssertEqual(e?.key, "archive/data.pkl")
    }

    func testShortStorageRecordIsRefused() throws {
        let e = inputError { _ = try TorchCheckpoint(path: Paths.torchFixtures + "/m04_short_storage_record.pt") }
        XCTAssertEqual(e?.code, .sizeMismatch)
        XCTAssertEqual(e?.key, "archive/data/0")
        XCTAssertTrue(e?.message.contains("holds 32 bytes but storage '0' needs 64") ?? false, e?.description ?? "")
        XCTAssertTrue(e?.message.contains("short storage record") ?? false)
    }

    func testMissingStorageRecordIsRefused() throws {
        let e = inputError { _ = try TorchCheckpoint(path: Paths.torchFixtures + "/m05_missing_storage_record.pt") }
        XCTAssertEqual(e?.code, .missing)
        XCTAssertEqual(e?.key, "archive/data/1")
    }

    func testRandomBytesAreAnUnknownFormat() throws {
        let path = Paths.torchFixtures + "/m06_random_bytes.pt"
        XCTAssertEqual(inputError { _ = try TorchCheckpoint(path: path) }?.code, .unknownFormat)
        let e = inputError { _ = try openTensorArchive(path: path) }
        XCTAssertEqual(e?.code, .unknownFormat)
        XCTAssertTrue(e?.message.contains("first bytes: 3a") ?? false, e?.description ?? "")
    }

    func testOpenTensorArchiveRefusesComplex128() throws {
        let e = inputError { _ = try openTensorArchive(path: Paths.torchFixtures + "/t02b_optional_dtypes.pt") }
        XCTAssertEqual(e?.code, .unknownDType)
        XCTAssertEqual(e?.key, "complex128")
    }
}
