import SentinelCore

extension TrainingSession {
    /// The optimizer's state as named tensors, a ``TensorArchive`` view of the live buffers (no copy) for a
    /// checkpoint writer (`SafeTensorsWriter.write(session.optimizerState(), to: path)`):
    /// `exp_avg.<name>` and `exp_avg_sq.<name>` (F32, the parameter's shape; zeros before the first step) for every
    /// parameter in ``parameters`` (torch's `exp_avg` / `exp_avg_sq`), `step` (I64 scalar: optimizer steps taken,
    /// torch's `state["step"]`, which is also the schedule's position), `dropout.seed` and `dropout.draws` (U64 scalars:
    /// the dropout generator). See `Formats/optimizer-state.md`. The moments are read when the bytes are asked for:
    /// write the archive before the next step.
    public func optimizerState() -> TensorArchive { OptimizerStateArchive(self) }

    /// Restores a state written from ``optimizerState()`` (by a session with the same parameters): the moments,
    /// the step count (and so the schedule's position) and the dropout generator. The parameters themselves are the
    /// model's (load the checkpoint's weights into the model).
    /// - Throws: ``InputError`` naming the archive file and tensor: `.missing` for an absent tensor, `.sizeMismatch`
    ///   for a wrong shape or dtype, `.outOfRange` for a negative step. Nothing is changed when it throws.
    public func restoreOptimizerState(from archive: TensorArchive) throws {
        func entry(_ name: String, _ dtype: DType, _ shape: [Int]) throws -> TensorEntry {
            guard let e = archive.entry(named: name) else {
                throw InputError(.missing, file: archive.path, key: name, "optimizer state tensor missing")
            }
            guard e.dtype == dtype, e.shape == shape else {
                throw InputError(
                    .sizeMismatch, file: archive.path, key: name,
                    "\(e.dtype) \(e.shape), expected \(dtype) \(shape)")
            }
            return e
        }
        func scalar<T: FixedWidthInteger>(_ name: String, _ dtype: DType, as: T.Type) throws -> T {
            _ = try entry(name, dtype, [])
            return try archive.withBytes(of: name) { raw in
                guard raw.count == MemoryLayout<T>.size else {
                    throw InputError(.sizeMismatch, file: archive.path, key: name, "\(raw.count) bytes for one \(dtype)")
                }
                return T(littleEndian: raw.loadUnaligned(as: T.self))
            }
        }
        // Check everything first, then copy.
        for p in parameters {
            _ = try entry("exp_avg." + p.name, .F32, p.shape)
            _ = try entry("exp_avg_sq." + p.name, .F32, p.shape)
        }
        let step = try scalar("step", .I64, as: Int64.self)
        guard step >= 0 && step <= Int64(Int32.max) else {
            throw InputError(.outOfRange, file: archive.path, key: "step", "step \(step) is out of range")
        }
        let seed = try scalar("dropout.seed", .U64, as: UInt64.self), draws = try scalar("dropout.draws", .U64, as: UInt64.self)
        for p in parameters {
            p.ensureMoments()
            for (prefix, target) in [("exp_avg.", p.expAvg!), ("exp_avg_sq.", p.expAvgSq!)] {
                try archive.withBytes(of: prefix + p.name) { raw in
                    guard raw.count == p.count * 4 else {
                        throw InputError(.sizeMismatch, file: archive.path, key: prefix + p.name, "\(raw.count) bytes for \(p.count) F32 values")
                    }
                    UnsafeMutableRawPointer(target).copyMemory(from: raw.baseAddress!, byteCount: raw.count)
                }
            }
        }
        optimizerStep = Int(step)
        generator = DropoutGenerator(seed: seed, draws: draws)
    }
}

/// The view behind ``TrainingSession/optimizerState()``: moments straight from the session's buffers, the scalars
/// captured when the view is made.
final class OptimizerStateArchive: TensorArchive {
    let path = "<optimizer state>"
    var formatName: String { "memory" }
    let entries: [TensorEntry]
    private let session: TrainingSession
    private let moments: [String: (TrainableParameter, Bool)]
    private let scalars: [String: [UInt8]]

    init(_ session: TrainingSession) {
        self.session = session
        var entries: [TensorEntry] = [], moments: [String: (TrainableParameter, Bool)] = [:], scalars: [String: [UInt8]] = [:]
        for p in session.parameters {
            for (prefix, second) in [("exp_avg.", false), ("exp_avg_sq.", true)] {
                entries.append(TensorEntry(name: prefix + p.name, dtype: .F32, shape: p.shape))
                moments[prefix + p.name] = (p, second)
            }
        }
        for (name, dtype, bits) in [
            ("step", DType.I64, UInt64(session.optimizerStep)), ("dropout.seed", .U64, session.generator.seed),
            ("dropout.draws", .U64, session.generator.draws),
        ] {
            entries.append(TensorEntry(name: name, dtype: dtype, shape: []))
            scalars[name] = withUnsafeBytes(of: bits.littleEndian) { Array($0) }
        }
        self.entries = entries
        self.moments = moments
        self.scalars = scalars
    }

    func withBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        if let bytes = scalars[name] { return try bytes.withUnsafeBytes(body) }
        guard let (p, second) = moments[name] else {
            throw InputError(.missing, file: path, key: name, "no optimizer state tensor of that name")
        }
        if let buffer = second ? p.expAvgSq : p.expAvg {
            return try body(UnsafeRawBufferPointer(start: buffer, count: p.count * 4))
        }
        return try [Float](repeating: 0, count: p.count).withUnsafeBytes(body)
    }
}
