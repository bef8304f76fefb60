import Foundation
import SentinelCore
@testable import SentinelTokenizer
import XCTest

/// Paths of the package, `../shared` and the real sample model, found from this file's location.
enum Paths {
    /// Package root: three levels up from Tests/SentinelTokenizerTests/Support.swift.
    static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// `../shared`, or `SENTINEL_SHARED`.
    static let shared: String = ProcessInfo.processInfo.environment["SENTINEL_SHARED"] ?? (root + "/../shared")

    static func shared(_ relative: String) -> String { shared + "/" + relative }

    /// The all-MiniLM-L6-v2 directory, fetched by Samples/fetch-minilm.sh when the cache is missing.
    static func miniLM() throws -> String {
        let local = root + "/Samples/.cache/all-MiniLM-L6-v2"
        if FileManager.default.fileExists(atPath: local + "/.complete") { return local }
        // Worktrees share the main checkout's cache when it is there.
        let main = root + "/../main/Samples/.cache/all-MiniLM-L6-v2"
        if FileManager.default.fileExists(atPath: main + "/.complete") { return main }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = [root + "/Samples/fetch-minilm.sh"]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw FetchFailed(status: p.terminationStatus)
        }
        return String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static let tokenizer: Result<BertTokenizer, Error> = Result { try BertTokenizer.load(directory: try miniLM()) }

    /// A fresh temporary directory for one test.
    static func temporaryDirectory() throws -> String {
        let dir = NSTemporaryDirectory() + "sentinel-tokenizer-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }
}

/// Reads a JSON-lines file into parsed values.
func jsonLines(_ path: String) throws -> [JSONValue] {
    let text = try String(contentsOfFile: path, encoding: .utf8)
    return try text.split(separator: "\n", omittingEmptySubsequences: true).map { try JSONValue.parse(String($0)) }
}

struct FetchFailed: Error { var status: Int32 }

/// A sentence's text rebuilt from its wordpieces (`##` pieces join the previous one), for fixtures that
/// store only the pieces (seed-converter reference.json).
func textOf(wordpieces: [String]) -> String {
    var text = ""
    for piece in wordpieces {
        if piece.hasPrefix("##") {
            text += piece.dropFirst(2)
        } else {
            text += (text.isEmpty ? "" : " ") + piece
        }
    }
    return text
}
