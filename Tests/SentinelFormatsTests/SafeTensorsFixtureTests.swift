import SentinelCore
import SentinelFormats
import SentinelTestSupport
import XCTest

/// `../shared/fixtures/safetensors`: files written and judged by the real safetensors 0.8.0.
final class SafeTensorsFixtureTests: XCTestCase {
    static let valid = [
        "s01_all_dtypes", "s01b_exotic_dtypes", "s02_metadata", "s03_scalar_and_empty",
        "s04_header_padding", "s04b_header_no_padding",
    ]
    static let invalid: [(String, InputError.Code)] = [
        ("i01_header_len_exceeds_file", .headerOutOfBounds),
        ("i02_header_not_json", .notJSON),
        ("i03_overlapping_offsets", .invalidOffsets),
        ("i04_offsets_hole", .invalidOffsets),
        ("i05_offsets_past_end", .dataOutOfBounds),
        ("i06_shape_size_mismatch", .sizeMismatch),
        ("i07_unknown_dtype", .unknownDType),
        ("i08_duplicate_key", .duplicateTensor),
        ("i09_header_len_huge", .headerTooLarge),
        ("i10_header_not_utf8", .headerNotUTF8),
        ("i11a_empty_file", .fileTooSmall),
        ("i11b_seven_bytes", .fileTooSmall),
    ]

    func testValidFilesReadExactly() throws {
        for name in Self.valid {
            let path = Fixtures.fixture("safetensors/\(name).safetensors")
            let expected = try Fixtures.json("safetensors/\(name).safetensors.expected.json")
            let file = try SafeTensorsFile(path: path)
            XCTAssertEqual(file.headerLength, expected["header"]?["length_field"]?.intValue, name)
            XCTAssertEqual(file.dataStart, expected["header"]?["data_start"]?.intValue, name)
            let tensors = try XCTUnwrap(expected["tensors"]?.arrayValue)
            XCTAssertEqual(file.tensors.map(\.name), tensors.compactMap { $0["key"]?.stringValue }, "\(name): header order")
            for (t, e) in zip(file.tensors, tensors) {
                XCTAssertEqual(t.dtype.rawValue, e["dtype"]?.stringValue, "\(name)/\(t.name)")
                XCTAssertEqual(t.shape, e["shape"]?.arrayValue?.compactMap(\.intValue), "\(name)/\(t.name)")
                XCTAssertEqual([t.dataOffsets.lowerBound, t.dataOffsets.upperBound], e["data_offsets"]?.arrayValue?.compactMap(\.intValue))
                XCTAssertEqual(SHA256Stream.hex(file.bytes(of: t)), e["sha256"]?.stringValue, "\(name)/\(t.name) bytes")
            }
            let meta = expected["metadata"]?.objectValue?.map { ($0.0, $0.1.stringValue ?? "") }
            XCTAssertEqual(file.metadata?.map(\.0).sorted(), meta?.map(\.0).sorted(), name)
            for (k, v) in meta ?? [] { XCTAssertEqual(file.metadata?.first { $0.0 == k }?.1, v, "\(name) metadata \(k)") }
        }
    }

    func testFirstValuesOfAllDTypes() throws {
        let file = try SafeTensorsFile(path: Fixtures.fixture("safetensors/s01_all_dtypes.safetensors"))
        let expected = try Fixtures.json("safetensors/s01_all_dtypes.safetensors.expected.json")
        for e in expected["tensors"]?.arrayValue ?? [] {
            let t = try XCTUnwrap(file.tensor(named: e["key"]?.stringValue ?? ""))
            let bytes = file.bytes(of: t)
            let values = e["first_values"]?.arrayValue ?? []
            for (i, v) in values.enumerated() {
                switch t.dtype {
                case .I64: XCTAssertEqual(bytes.loadUnaligned(fromByteOffset: i * 8, as: Int64.self), v.int64Value)
                case .U64:
                    let got = bytes.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)
                    if case let .uint(u) = v { XCTAssertEqual(got, u) } else { XCTAssertEqual(Int64(exactly: got), v.int64Value) }
                case .F32:
                    let got = Double(bytes.loadUnaligned(fromByteOffset: i * 4, as: Float.self))
                    if let d = v.doubleValue { XCTAssertEqual(got, d, "f32[\(i)]") } else { check(special: v.stringValue, got) }
                case .F64:
                    let got = bytes.loadUnaligned(fromByteOffset: i * 8, as: Double.self)
                    if let d = v.doubleValue { XCTAssertEqual(got, d, "f64[\(i)]") } else { check(special: v.stringValue, got) }
                default: break
                }
            }
        }
    }

    private func check(special: String?, _ got: Double) {
        switch special {
        case "nan": XCTAssertTrue(got.isNaN)
        case "inf": XCTAssertEqual(got, .infinity)
        case "-inf": XCTAssertEqual(got, -.infinity)
        default: XCTFail("unexpected value \(String(describing: special))")
        }
    }

    func testInvalidFilesAreRefusedWithTypedErrors() throws {
        for (name, code) in Self.invalid {
            let path = Fixtures.fixture("safetensors/\(name).safetensors")
            XCTAssertThrowsError(try SafeTensorsFile(path: path), name) { error in
                guard let e = error as? InputError else { return XCTFail("\(name): \(error)") }
                XCTAssertEqual(e.code, code, "\(name): \(e)")
                XCTAssertEqual(e.file, path)
                XCTAssertNotNil(e.offset, "\(name) names a byte offset")
            }
        }
        // The duplicate and the offset errors name the tensor.
        XCTAssertThrowsError(try SafeTensorsFile(path: Fixtures.fixture("safetensors/i08_duplicate_key.safetensors"))) {
            XCTAssertEqual(($0 as? InputError)?.key, "a")
        }
        XCTAssertThrowsError(try SafeTensorsFile(path: Fixtures.fixture("safetensors/i03_overlapping_offsets.safetensors"))) {
            XCTAssertEqual(($0 as? InputError)?.key, "b")
        }
    }

    /// read → write → read keeps every tensor, and the bytes are the library's own where the header is deterministic.
    func testRoundTripIsLossless() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for name in Self.valid {
            let path = Fixtures.fixture("safetensors/\(name).safetensors")
            let file = try SafeTensorsFile(path: path)
            let out = dir + "/\(name).safetensors"
            try SafeTensorsWriter.write(file.entries.map { .copy($0, from: file) }, metadata: file.metadata, to: out)
            let again = try SafeTensorsFile(path: out)
            XCTAssertEqual(again.entries.map(\.name).sorted(), file.entries.map(\.name).sorted())
            for t in file.tensors {
                XCTAssertEqual(SHA256Stream.hex(again.bytes(of: try XCTUnwrap(again.tensor(named: t.name)))), SHA256Stream.hex(file.bytes(of: t)))
                XCTAssertEqual(again.tensor(named: t.name)?.entry, t.entry)
            }
            if (file.metadata?.count ?? 0) <= 1 {
                let expected = try Fixtures.json("safetensors/\(name).safetensors.expected.json")
                XCTAssertEqual(try Fixtures.sha256(file: out), expected["file_sha256"]?.stringValue, "\(name): byte-identical to the library's file")
            }
        }
    }

    func testRealModelHeader() throws {
        let model = try Fixtures.miniLM()
        let expected = try Fixtures.json("safetensors/s05_minilm_model.safetensors.expected.json")
        let file = try SafeTensorsFile(path: model + "/model.safetensors")
        XCTAssertEqual(file.headerLength, 11408)
        XCTAssertEqual(file.tensors.count, 104)
        let byName = Dictionary(uniqueKeysWithValues: (expected["tensors"]?.arrayValue ?? []).map { ($0["key"]?.stringValue ?? "", $0) })
        for t in file.tensors {
            XCTAssertEqual(SHA256Stream.hex(file.bytes(of: t)), byName[t.name]?["sha256"]?.stringValue, t.name)
        }
    }
}

/// Sentinel's own vectors in `Formats/safetensors-vectors` (edge cases beyond the shared fixtures).
final class SafeTensorsVectorTests: XCTestCase {
    func testConformanceVectors() throws {
        let dir = Fixtures.packageRoot + "/Formats/safetensors-vectors/"
        let cases = try XCTUnwrap(try JSONValue.read(file: dir + "expected.json")["cases"]?.arrayValue)
        XCTAssertEqual(cases.count, 18)
        for c in cases {
            let file = try XCTUnwrap(c["file"]?.stringValue), expected = try XCTUnwrap(c["expected"]?.stringValue)
            do {
                let st = try SafeTensorsFile(path: dir + file)
                XCTAssertEqual(expected, "valid", "\(file) was accepted")
                XCTAssertEqual(st.tensors.count, 1, file)
            } catch let e as InputError {
                XCTAssertEqual(e.code.rawValue, expected, "\(file): \(e)")
            }
        }
    }
}
