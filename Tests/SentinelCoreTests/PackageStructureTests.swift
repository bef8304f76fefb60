import Foundation
import SentinelTestSupport
import XCTest

/// The module tree of `Package.swift` is what the sources import: no import of an undeclared module, no
/// declared dependency that nothing imports, and the library layers stay a tree
/// (Core ← Formats, Tokenizer, Encoder ← Scheme ← Audit ← sentinel).
final class PackageStructureTests: XCTestCase {
    /// Modules every target may import without declaring them.
    static let platformModules: Set<String> = [
        "Foundation", "FoundationEssentials", "Dispatch", "Glibc", "Darwin", "XCTest", "Testing", "Synchronization",
    ]

    struct Target {
        var name: String
        var kind: String
        var dependencies: [String]
    }

    /// The targets of Package.swift, read from its text: `.target`, `.executableTarget`, `.testTarget` with
    /// their `dependencies:` (plain names, and `.product(name:)` entries by product name).
    static func targets() throws -> [Target] {
        let text = try String(contentsOfFile: Fixtures.packageRoot + "/Package.swift", encoding: .utf8)
        var result: [Target] = []
        let starts = try NSRegularExpression(pattern: #"\.(target|executableTarget|testTarget)\(\s*name:\s*"([A-Za-z0-9_]+)""#)
        let ns = text as NSString
        let matches = starts.matches(in: text, range: NSRange(location: 0, length: ns.length))
        for (i, m) in matches.enumerated() {
            let end = i + 1 < matches.count ? matches[i + 1].range.location : ns.length
            let body = ns.substring(with: NSRange(location: m.range.location, length: end - m.range.location))
            var deps: [String] = []
            if let open = body.range(of: "dependencies:") {
                // The bracketed list after `dependencies:`.
                var depth = 0
                var list = ""
                for ch in body[open.upperBound...] {
                    if ch == "[" {
                        depth += 1
                        if depth == 1 { continue }
                    }
                    if ch == "]" {
                        depth -= 1
                        if depth == 0 { break }
                    }
                    if depth >= 1 { list.append(ch) }
                }
                let product = try NSRegularExpression(pattern: #"\.product\(\s*name:\s*"([A-Za-z0-9_]+)""#)
                let plain = try NSRegularExpression(pattern: #""([A-Za-z0-9_]+)""#)
                let l = list as NSString
                for p in product.matches(in: list, range: NSRange(location: 0, length: l.length)) {
                    deps.append(l.substring(with: p.range(at: 1)))
                }
                let withoutProducts = product.stringByReplacingMatches(in: list, range: NSRange(location: 0, length: l.length), withTemplate: "")
                let w = withoutProducts as NSString
                for p in plain.matches(in: withoutProducts, range: NSRange(location: 0, length: w.length)) {
                    deps.append(w.substring(with: p.range(at: 1)))
                }
            }
            result.append(Target(name: ns.substring(with: m.range(at: 2)), kind: ns.substring(with: m.range(at: 1)), dependencies: deps))
        }
        return result
    }

    /// The modules imported by the Swift files of `directory` (recursively).
    static func imports(in directory: String) throws -> Set<String> {
        let pattern = try NSRegularExpression(
            pattern:
                #"^\s*(?:@testable\s+|@_implementationOnly\s+|internal\s+|public\s+|package\s+)*import\s+(?:struct\s+|class\s+|enum\s+|func\s+)?([A-Za-z0-9_]+)(?:\.[A-Za-z0-9_.]+)?\s*(?://.*)?$"#,
            options: [.anchorsMatchLines])
        var out: Set<String> = []
        guard let walker = FileManager.default.enumerator(atPath: directory) else { return out }
        for case let file as String in walker where file.hasSuffix(".swift") {
            let text = try String(contentsOfFile: directory + "/" + file, encoding: .utf8)
            let ns = text as NSString
            for m in pattern.matches(in: text, range: NSRange(location: 0, length: ns.length)) {
                out.insert(ns.substring(with: m.range(at: 1)))
            }
        }
        return out
    }

    func testPackageParsesIntoTheKnownTargets() throws {
        let targets = try Self.targets()
        let names = Set(targets.map(\.name))
        for expected in ["SentinelCore", "SentinelFormats", "SentinelTokenizer", "SentinelEncoder", "SentinelScheme", "SentinelAudit", "sentinel"] {
            XCTAssertTrue(names.contains(expected), "Package.swift has no target \(expected)")
        }
        XCTAssertEqual(targets.first { $0.name == "sentinel" }?.dependencies.contains("ArgumentParser"), true)
    }

    func testImportsMatchDeclaredDependencies() throws {
        let targets = try Self.targets()
        for target in targets {
            let folder = Fixtures.packageRoot + (target.kind == "testTarget" ? "/Tests/" : "/Sources/") + target.name
            let imported = try Self.imports(in: folder).subtracting(Self.platformModules)
            let declared = Set(target.dependencies)
            for module in imported.subtracting(declared) where module != target.name {
                XCTFail("\(target.name) imports \(module), which Package.swift does not declare")
            }
            for module in declared.subtracting(imported) {
                // An executable cannot be imported; only the CLI tests depend on it, to have it built.
                if module == "sentinel" && target.name == "SentinelCLITests" { continue }
                XCTFail("\(target.name) declares \(module), which none of its files imports")
            }
        }
    }

    func testLibraryLayersFormATree() throws {
        let deps = Dictionary(uniqueKeysWithValues: try Self.targets().map { ($0.name, Set($0.dependencies.filter { $0.hasPrefix("Sentinel") })) })
        XCTAssertEqual(deps["SentinelCore"], [])
        for leaf in ["SentinelFormats", "SentinelTokenizer", "SentinelEncoder"] {
            XCTAssertEqual(deps[leaf], ["SentinelCore"], "\(leaf) may depend on SentinelCore only")
        }
        XCTAssertEqual(deps["SentinelScheme"]?.isSubset(of: ["SentinelCore", "SentinelFormats", "SentinelTokenizer", "SentinelEncoder"]), true)
        XCTAssertEqual(deps["SentinelAudit"]?.contains("SentinelAudit"), false)
        XCTAssertEqual(deps["SentinelTestSupport"], ["SentinelCore"])
        // Only the CLI tests depend on the executable.
        for target in try Self.targets() where target.dependencies.contains("sentinel") {
            XCTAssertEqual(target.name, "SentinelCLITests")
        }
    }
}
