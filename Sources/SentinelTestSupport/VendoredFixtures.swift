import Foundation
#if canImport(Glibc)
    import Glibc
#endif

/// The ground truth vendored into the repository (`Tests/Fixtures/MANIFEST`, read by
/// `Samples/vendor-fixtures.sh`): which paths of `../shared` are copied, how they are stored, and the
/// sha256 of each file's content (`Tests/Fixtures/SHA256SUMS`). `Fixtures.shared` is their unpacked copy.
///
/// Layout: `fixtures/X` of `../shared` is stored as `Tests/Fixtures/X`, `data/X` as `Samples/data/X`, either
/// as is or xz-compressed as `X.xz`. Paths in the manifest and in SHA256SUMS are relative to `../shared`.
public enum VendoredFixtures {
    /// One manifest entry: a path, a shell pattern (`*` also matches `/`) or a directory (`DIR/`), and for a
    /// trimmed safetensors file the tensor-name patterns it keeps (empty: the file is copied whole).
    public struct Entry: Sendable, Equatable {
        public var pattern: String
        public var keep: [String]
        /// Line number in the manifest (1-based), for messages.
        public var line: Int

        /// Whether `path` (relative to `../shared`) is selected by this entry.
        public func matches(_ path: String) -> Bool {
            pattern.hasSuffix("/") ? path.hasPrefix(pattern) : VendoredFixtures.matches(pattern, path)
        }
    }

    /// The parsed `Tests/Fixtures/MANIFEST`.
    public struct Manifest: Sendable {
        public var entries: [Entry]
        /// `!PATTERN` lines: paths never vendored.
        public var excludes: [String]

        /// The entry that vendors `path`, or nil when no entry selects it or an exclusion removes it (the first
        /// matching entry wins, as in `Samples/vendor-fixtures.sh`).
        public func entry(for path: String) -> Entry? {
            if excludes.contains(where: { VendoredFixtures.matches($0, path) }) { return nil }
            return entries.first { $0.matches(path) }
        }
    }

    /// `Tests/Fixtures/MANIFEST`.
    public static var manifestPath: String { Fixtures.packageRoot + "/Tests/Fixtures/MANIFEST" }
    /// `Tests/Fixtures/SHA256SUMS`: `sha256  path` per vendored file, path relative to `../shared`.
    public static var sumsPath: String { Fixtures.packageRoot + "/Tests/Fixtures/SHA256SUMS" }
    /// The folders that hold the stored files.
    public static var storedRoots: [String] { [Fixtures.packageRoot + "/Tests/Fixtures", Fixtures.packageRoot + "/Samples/data"] }

    /// Reads the manifest. Throws `FixtureError` naming the line of a malformed entry.
    public static func manifest() throws -> Manifest {
        let text = try String(contentsOfFile: manifestPath, encoding: .utf8)
        var result = Manifest(entries: [], excludes: [])
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let fields = raw.prefix { $0 != "#" }.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard let first = fields.first else { continue }
            if first.hasPrefix("!") {
                guard fields.count == 1 else { throw FixtureError("\(manifestPath) line \(i + 1): an exclusion takes no option") }
                result.excludes.append(String(first.dropFirst()))
                continue
            }
            var keep: [String] = []
            if fields.count == 2, fields[1].hasPrefix("keep=") {
                keep = fields[1].dropFirst(5).split(separator: ",").map(String.init)
            } else if fields.count != 1 {
                throw FixtureError("\(manifestPath) line \(i + 1): expected 'PATH [keep=P1,P2,...]', got '\(raw)'")
            }
            result.entries.append(Entry(pattern: first, keep: keep, line: i + 1))
        }
        return result
    }

    /// The entries of SHA256SUMS in file order: (sha256 hex, path relative to `../shared`).
    public static func sums() throws -> [(sha256: String, path: String)] {
        try String(contentsOfFile: sumsPath, encoding: .utf8).split(separator: "\n").map { line in
            let parts = line.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
            guard parts.count == 2, parts[0].count == 64 else { throw FixtureError("\(sumsPath): malformed line '\(line)'") }
            return (String(parts[0]), parts[1].trimmingCharacters(in: .whitespaces))
        }
    }

    /// Where `path` (relative to `../shared`) is stored in the repository, without a `.xz` suffix.
    public static func storedPath(of path: String) throws -> String {
        if path.hasPrefix("fixtures/") { return Fixtures.packageRoot + "/Tests/Fixtures/" + path.dropFirst(9) }
        if path.hasPrefix("data/") { return Fixtures.packageRoot + "/Samples/data/" + path.dropFirst(5) }
        throw FixtureError("'\(path)' is neither under fixtures/ nor data/")
    }

    /// Every regular file under `directory`, as paths relative to it, sorted.
    public static func files(under directory: String) -> [String] {
        guard let walker = FileManager.default.enumerator(atPath: directory) else { return [] }
        var out: [String] = []
        while let item = walker.nextObject() as? String {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: directory + "/" + item, isDirectory: &isDirectory), !isDirectory.boolValue {
                out.append(item)
            }
        }
        return out.sorted()
    }

    /// Shell-pattern match of the whole string (`fnmatch(3)` without flags: `*` also matches `/`), as
    /// bash's `[[ path == pattern ]]` in the vendor script and Python's `fnmatch.fnmatchcase` for tensor names.
    public static func matches(_ pattern: String, _ string: String) -> Bool {
        fnmatch(pattern, string, 0) == 0
    }
}
