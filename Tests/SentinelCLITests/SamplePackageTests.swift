import Foundation
import SentinelCore
import SentinelTestSupport
import XCTest

/// `Samples/EncryptSentence` depends on Sentinel by URL and version, as other packages do: built against a
/// tagged clone of this checkout (SwiftPM refuses unsafe flags in such a dependency), it encrypts a sentence
/// exactly as `sentinel encrypt` does.
final class SamplePackageTests: XCTestCase {
    func testSampleBuildsAgainstATaggedCloneByURLAndVersion() throws {
        let tmp = try Fixtures.temporaryDirectory("sentinel-sample")
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let root = Fixtures.packageRoot
        // A clone of this checkout with the working tree committed, tagged with the package version.
        let clone = tmp + "/sentinel"
        func git(_ args: [String], in dir: String) throws {
            let r = try Fixtures.run("/usr/bin/git", ["-C", dir] + args)
            XCTAssertEqual(r.status, 0, "git \(args.joined(separator: " ")): \(r.stderr)")
        }
        try git(["clone", "--quiet", "--no-hardlinks", root, clone], in: tmp)
        // Bring uncommitted changes of the checkout along (the test runs on work in progress too).
        let diff = try Fixtures.run("/usr/bin/git", ["-C", root, "diff", "HEAD", "--binary"])
        if !diff.stdout.isEmpty {
            try diff.stdout.write(toFile: tmp + "/wip.patch", atomically: true, encoding: .utf8)
            try git(["apply", "--whitespace=nowarn", tmp + "/wip.patch"], in: clone)
        }
        let untracked = try Fixtures.run("/usr/bin/git", ["-C", root, "ls-files", "--others", "--exclude-standard", "Sources", "Package.swift"])
        for file in untracked.stdout.split(separator: "\n").map(String.init) {
            let target = clone + "/" + file
            try FileManager.default.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: root + "/" + file, toPath: target)
        }
        try git(["add", "-A"], in: clone)
        try git(["-c", "user.name=test", "-c", "user.email=test@example.invalid", "commit", "--quiet", "--allow-empty", "-m", "test"], in: clone)
        try git(["tag", sentinelVersion], in: clone)

        let sample = tmp + "/EncryptSentence"
        try FileManager.default.copyItem(atPath: root + "/Samples/EncryptSentence", toPath: sample)
        try? FileManager.default.removeItem(atPath: sample + "/.build")
        // Without the local build settings (Samples/build-env.sh): a dependency by URL must build without unsafe
        // flags, which SwiftPM refuses there (it did, with SENTINEL_OPTIMIZE_DEBUG set).
        let env: [String: String?] = ["SENTINEL_PACKAGE_URL": "file://" + clone, "SENTINEL_TARGET_CPU": nil, "SENTINEL_OPTIMIZE_DEBUG": nil]
        let build = try Fixtures.run(
            "/usr/bin/env", ["swift", "build", "--package-path", sample, "--scratch-path", tmp + "/build"], environment: env)
        XCTAssertEqual(build.status, 0, build.stderr + build.stdout)
        let bin = try Fixtures.run(
            "/usr/bin/env", ["swift", "build", "--package-path", sample, "--scratch-path", tmp + "/build", "--show-bin-path"], environment: env)
        let exe = bin.stdout.trimmingCharacters(in: .whitespacesAndNewlines) + "/encrypt-sentence"

        let model = try Fixtures.miniLM()
        let sentence = "Sentinel encrypts this sentence, word by word."
        let keyEnv: [String: String?] = ["SENTINEL_KEY": "llm123"]
        let fromSample = try Fixtures.run(exe, [model, sentence], environment: keyEnv)
        XCTAssertEqual(fromSample.status, 0, fromSample.stderr)
        let fromCLI = try Fixtures.sentinel(["encrypt", model], environment: keyEnv, stdin: Data((sentence + "\n").utf8))
        XCTAssertEqual(fromCLI.status, 0, fromCLI.stderr)
        XCTAssertEqual(fromSample.stdout, fromCLI.stdout)
        XCTAssertGreaterThan(fromSample.stdout.split(separator: " ").count, 8)
        XCTAssertFalse(fromSample.stdout.contains("sentence"))
    }
}
