import SentinelCore

/// One row of model input before padding: `input_ids` and `token_type_ids`, `[seq]` each.
public struct EncoderRow: Sendable, Equatable {
    public var ids: [Int32]
    public var types: [Int32]

    public init(ids: [Int32], types: [Int32]) {
        precondition(ids.count == types.count)
        self.ids = ids
        self.types = types
    }

    /// A row of `--ids` input: space-separated integers; a TAB starts the second segment (token type 1).
    /// - Throws: ``InputError`` (`invalid_structure`) naming `file` and the byte `offset` of the line.
    public init(idsLine text: Substring, file: String, offset: Int) throws {
        ids = []
        types = []
        for (segment, part) in text.split(separator: "\t", omittingEmptySubsequences: false).enumerated() {
            guard segment < 2 else {
                throw InputError(.invalidStructure, file: file, offset: offset, "more than one TAB in a line")
            }
            for word in part.split(separator: " ") {
                guard let id = Int32(word), id >= 0 else {
                    throw InputError(.invalidStructure, file: file, offset: offset, "'\(word)' is not a token id")
                }
                ids.append(id)
                types.append(Int32(segment))
            }
        }
        guard !ids.isEmpty else { throw InputError(.invalidStructure, file: file, offset: offset, "empty line") }
    }

    /// Keeps the first `limit` positions.
    public mutating func truncate(to limit: Int) {
        ids = Array(ids.prefix(limit))
        types = Array(types.prefix(limit))
    }
}

/// Length-bucketed batching: rows sorted by length (stable), cut into batches of up to `batchSize` rows, each
/// padded only to its own longest row — the dynamic padding HF's `DataCollatorWithPadding` does, with the
/// rows grouped by length as `group_by_length` does, so little compute goes to padding.
public enum LengthBuckets {
    /// Row indices grouped into batches (each batch's indices in ascending length order).
    public static func batches(lengths: [Int], batchSize: Int) -> [[Int]] {
        precondition(batchSize >= 1)
        let order = lengths.indices.sorted { lengths[$0] < lengths[$1] || (lengths[$0] == lengths[$1] && $0 < $1) }
        return stride(from: 0, to: order.count, by: batchSize).map { Array(order[$0..<min($0 + batchSize, order.count)]) }
    }
}

extension EncoderBatch {
    /// The rows `members` of `rows`, right-padded with id 0 (attention mask 0) to the longest of them.
    /// - Throws: ``InputError`` for an empty batch.
    public init(rows: [EncoderRow], members: [Int]) throws {
        let l = max(1, members.map { rows[$0].ids.count }.max() ?? 1)
        var ids = [Int32](repeating: 0, count: members.count * l), mask = ids, types = ids
        for (k, r) in members.enumerated() {
            for j in 0..<rows[r].ids.count {
                ids[k * l + j] = rows[r].ids[j]
                types[k * l + j] = rows[r].types[j]
                mask[k * l + j] = 1
            }
        }
        try self.init(batchSize: members.count, sequenceLength: l, inputIDs: ids, attentionMask: mask, tokenTypeIDs: types)
    }
}

/// The outputs of the encoder for many rows, in input order, padded to the longest row (padded positions
/// hold 0): `input_ids`, `attention_mask`, `token_type_ids` `[rows, length]`, `last_hidden_state`
/// `[rows, length, hidden]` F32, `pooler_output` `[rows, hidden]` F32 when the model has a pooler.
public struct EncoderOutputs: Sendable {
    public let rows: Int, length: Int, hidden: Int, hasPooler: Bool
    public var inputIDs: [Int32], attentionMask: [Int32], tokenTypeIDs: [Int32]
    public var lastHiddenState: [Float], poolerOutput: [Float]

    /// Largest padded `last_hidden_state` held, in bytes.
    public static let maxBytes = 4 << 30

    init(rows: Int, length: Int, hidden: Int, hasPooler: Bool) {
        self.rows = rows
        self.length = length
        self.hidden = hidden
        self.hasPooler = hasPooler
        inputIDs = Array(repeating: 0, count: rows * length)
        attentionMask = inputIDs
        tokenTypeIDs = inputIDs
        lastHiddenState = Array(repeating: 0, count: rows * length * hidden)
        poolerOutput = Array(repeating: 0, count: hasPooler ? rows * hidden : 0)
    }

    /// The outputs as named tensors (`input_ids`, `attention_mask`, `token_type_ids` as I64), for a writer.
    public func archive() -> MemoryArchive {
        let a = MemoryArchive(path: "<embed>")
        func int64(_ name: String, _ values: [Int32]) {
            var bytes = [UInt8](repeating: 0, count: values.count * 8)
            bytes.withUnsafeMutableBytes { raw in
                for (i, v) in values.enumerated() { raw.storeBytes(of: Int64(v).littleEndian, toByteOffset: i * 8, as: Int64.self) }
            }
            a.add(TensorEntry(name: name, dtype: .I64, shape: [rows, length]), bytes: bytes)
        }
        int64("input_ids", inputIDs)
        int64("attention_mask", attentionMask)
        int64("token_type_ids", tokenTypeIDs)
        a.add("last_hidden_state", shape: [rows, length, hidden], values: lastHiddenState)
        if hasPooler { a.add("pooler_output", shape: [rows, hidden], values: poolerOutput) }
        return a
    }

    /// Per row: token count, L2 norm of the mean of the valid positions of `last_hidden_state` (the
    /// sentence-transformers embedding before normalisation) and of `pooler_output`.
    public func rowSummaries() -> [(tokens: Int, meanNorm: Float, poolerNorm: Float?)] {
        (0..<rows).map { r in
            var mean = [Float](repeating: 0, count: hidden)
            var count = 0
            for p in 0..<length where attentionMask[r * length + p] != 0 {
                count += 1
                let base = (r * length + p) * hidden
                for j in 0..<hidden { mean[j] += lastHiddenState[base + j] }
            }
            let meanNorm = (mean.reduce(0) { $0 + $1 * $1 }).squareRoot() / Float(max(count, 1))
            let poolerNorm: Float? =
                hasPooler
                ? (poolerOutput[(r * hidden)..<((r + 1) * hidden)].reduce(0) { $0 + $1 * $1 }).squareRoot() : nil
            return (count, meanNorm, poolerNorm)
        }
    }
}

extension BertModel {
    /// Runs `rows` in length-bucketed batches of `batchSize` (``LengthBuckets``) and returns the outputs in
    /// input order, padded to the longest row.
    /// - Parameter progress: called before each batch with (rows done, rows in all).
    /// - Throws: ``InputError`` (`out_of_range`, file `source`) when the padded result would exceed
    ///   ``EncoderOutputs/maxBytes``; errors of ``forward(_:outputHiddenStates:keepActivations:)``.
    public func run(
        _ rows: [EncoderRow], batchSize: Int, source: String = "input",
        progress: (Int, Int) -> Void = { _, _ in }
    ) throws -> EncoderOutputs {
        let l = rows.map(\.ids.count).max() ?? 0
        let n = rows.count, h = config.hiddenSize
        let (bytes, overflow) = n.multipliedReportingOverflow(by: l * h * 4)
        guard !overflow, bytes <= EncoderOutputs.maxBytes else {
            throw InputError(
                .outOfRange, file: source,
                "\(n) rows padded to \(l) tokens × \(h) floats would need \(overflow ? "too many" : String(bytes >> 30)) GiB "
                    + "(limit \(EncoderOutputs.maxBytes >> 30) GiB): split the input or lower --max-length")
        }
        var result = EncoderOutputs(rows: n, length: l, hidden: h, hasPooler: pooler != nil)
        for (i, row) in rows.enumerated() {
            for j in 0..<row.ids.count {
                result.inputIDs[i * l + j] = row.ids[j]
                result.tokenTypeIDs[i * l + j] = row.types[j]
                result.attentionMask[i * l + j] = 1
            }
        }
        reserveWorkspace(batchSize: min(batchSize, n), sequenceLength: l)
        var done = 0
        for members in LengthBuckets.batches(lengths: rows.map(\.ids.count), batchSize: batchSize) {
            progress(done, n)
            let batch = try EncoderBatch(rows: rows, members: members)
            let bl = batch.sequenceLength
            let out = try forward(batch)
            for (k, r) in members.enumerated() {
                let valid = rows[r].ids.count * h
                result.lastHiddenState.replaceSubrange(
                    (r * l * h)..<(r * l * h + valid),
                    with: out.lastHiddenState.values[(k * bl * h)..<(k * bl * h + valid)])
                if let pooled = out.poolerOutput {
                    result.poolerOutput.replaceSubrange((r * h)..<((r + 1) * h), with: pooled.values[(k * h)..<((k + 1) * h)])
                }
            }
            done += members.count
        }
        return result
    }
}
