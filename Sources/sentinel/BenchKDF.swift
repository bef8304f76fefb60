import ArgumentParser
import SentinelScheme
import SentinelCore
#if canImport(Glibc)
    import Glibc
#endif

/// `sentinel bench-kdf`: the cost of the hardened scheme's Argon2id key derivation, which every command holding the
/// key pays once (convert, encrypt, vocab, verify) and an attacker pays per guessed passkey.
struct BenchKDF: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-kdf",
        abstract: "Benchmark the hardened scheme's Argon2id key derivation (libsodium crypto_pwhash).",
        discussion: """
            Times HardenedKeys(passkey:parameters:) (Argon2id plus the three subkeys) for libsodium's INTERACTIVE \
            (2 passes, 64 MiB) and MODERATE (3 passes, 256 MiB) settings, or for --kdf-ops/--kdf-mem. Prints the median \
            wall time and the median CPU time of this thread per derivation (Argon2id here uses one lane, one core).
            """)

    @Option(parsing: .unconditional, help: "Derivations per setting.")
    var repeats = 5

    @Option(name: .customLong("kdf-ops"), parsing: .unconditional, help: "Passes of a custom setting (with --kdf-mem).")
    var kdfOps: Int?

    @Option(name: .customLong("kdf-mem"), help: "Memory of a custom setting, e.g. 128MiB.")
    var kdfMem: String?

    @OptionGroup var report: ReportOptions

    func validate() throws {
        guard (1...1000).contains(repeats) else { throw ValidationError("--repeats must be between 1 and 1000") }
        if (kdfOps == nil) != (kdfMem == nil) { throw ValidationError("give --kdf-ops and --kdf-mem together") }
        if let kdfMem, parseByteSize(kdfMem) == nil { throw ValidationError("--kdf-mem '\(kdfMem)' is not a size") }
    }

    func run() throws {
        let salt = Argon2idParameters.randomSalt()
        var settings: [(String, Argon2idParameters)] = [("interactive", .interactive(salt: salt)), ("moderate", .moderate(salt: salt))]
        if let kdfOps, let kdfMem, let mem = parseByteSize(kdfMem) {
            settings = [("custom", Argon2idParameters(opsLimit: kdfOps, memLimit: mem, salt: salt))]
        }
        func threadCPU() -> Double {
            var t = timespec()
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
            return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
        }
        var results: [JSONValue] = []
        for (name, p) in settings {
            var walls: [Double] = [], cpus: [Double] = []
            for _ in 0..<repeats {
                let (w0, c0) = (monotonicSeconds(), threadCPU())
                do {
                    _ = try HardenedKeys(passkey: "bench passkey", parameters: p)
                } catch let e as KeyDerivationError {
                    throw ValidationError(e.description)
                }
                walls.append(monotonicSeconds() - w0)
                cpus.append(threadCPU() - c0)
            }
            let wall = walls.sorted()[repeats / 2], cpu = cpus.sorted()[repeats / 2]
            results.append(
                .object([
                    ("setting", .string(name)), ("opslimit", .int(Int64(p.opsLimit))), ("memlimit", .int(Int64(p.memLimit))),
                    ("median_wall_seconds", .double(wall, text: nil)), ("median_cpu_seconds", .double(cpu, text: nil)),
                    ("min_wall_seconds", .double(walls.min()!, text: nil)),
                ]))
            if !report.json {
                print(
                    "\(name): opslimit \(p.opsLimit), memlimit \(p.memLimit >> 20) MiB: median \(fixed(wall, 3)) s wall, "
                        + "\(fixed(cpu, 3)) s CPU (min \(fixed(walls.min()!, 3)) s wall) over \(repeats) derivations")
            }
        }
        if report.json { print(JSONValue.object([("results", .array(results))]).serialized(.pretty)) }
    }
}
