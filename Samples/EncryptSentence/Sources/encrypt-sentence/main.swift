// Encrypts one sentence for an adapted model: wordpieces of the ORIGINAL model's tokenizer → keyed
// BLAKE2b digests, as `sentinel encrypt` does.
//
//   SENTINEL_KEY='my passkey' swift run encrypt-sentence MODEL_DIR "The sentence to encrypt."
import Foundation
import SentinelScheme
import SentinelTokenizer

let arguments = CommandLine.arguments
guard arguments.count == 3, let key = ProcessInfo.processInfo.environment["SENTINEL_KEY"] else {
    FileHandle.standardError.write(Data("usage: SENTINEL_KEY=… encrypt-sentence MODEL_DIR SENTENCE\n".utf8))
    exit(64)
}
do {
    let tokenizer = try Tokenizers.load(directory: arguments[1])
    let encryptor = try Encryptor(tokenizer: tokenizer, key: key)
    print(encryptor.encrypt(text: arguments[2]).joined(separator: " "))
} catch {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    exit(65)
}
