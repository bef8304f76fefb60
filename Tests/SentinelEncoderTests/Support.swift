import Foundation
import SentinelCore
import SentinelTestSupport
import XCTest

/// Paths of the package, the vendored copy of `../shared` and the real MiniLM sample (see `SentinelTestSupport.Fixtures`).
enum TestPaths {
    static let root = Fixtures.packageRoot
    static let shared = Fixtures.shared
    static let bertFixtures = shared + "/fixtures/bert"

    /// The all-MiniLM-L6-v2 directory, fetched by `Samples/fetch-minilm.sh` when the cache is missing.
    static func miniLM() throws -> String { try Fixtures.miniLM() }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
