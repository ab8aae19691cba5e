internal import COpenSSL

/// A block cipher in ECB mode with no padding, from the system OpenSSL: the primitive under card
/// authentication, PIN blocks and MACs. Data must be a whole number of blocks.
public struct BlockCipher: Sendable {
    /// The algorithms the kiosk needs.
    public enum Algorithm: String, Sendable, Hashable, CaseIterable {
        /// SM4 (GB/T 32907): 16-byte key, 16-byte block.
        case sm4
        /// Triple DES (EDE): 16-byte (K1 K2 K1) or 24-byte key, 8-byte block. Single DES is 3DES with
        /// K1 = K2 = K3, so no legacy provider is needed.
        case tripleDES

        /// The block size in bytes.
        public var blockSize: Int { self == .sm4 ? 16 : 8 }
    }

    /// Why a cipher operation could not run.
    public struct Failure: Error, Hashable, Sendable, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }

    public let algorithm: Algorithm
    private let key: [UInt8]

    /// - Throws: ``Failure`` when the key length does not fit the algorithm.
    public init(_ algorithm: Algorithm, key: [UInt8]) throws(Failure) {
        switch (algorithm, key.count) {
        case (.sm4, 16), (.tripleDES, 24): self.key = key
        case (.tripleDES, 16): self.key = key + key.prefix(8)
        case (.tripleDES, 8): self.key = key + key + key
        default: throw Failure(description: "\(algorithm.rawValue) takes a key of \(algorithm == .sm4 ? "16" : "8, 16 or 24") bytes, not \(key.count)")
        }
        self.algorithm = algorithm
    }

    /// Encrypts whole blocks (ECB, no padding).
    public func encrypt(_ data: [UInt8]) throws(Failure) -> [UInt8] { try self.run(data, encrypt: true, iv: nil) }

    /// Decrypts whole blocks (ECB, no padding).
    public func decrypt(_ data: [UInt8]) throws(Failure) -> [UInt8] { try self.run(data, encrypt: false, iv: nil) }

    /// Encrypts any length in CBC mode with PKCS#7 padding under `iv` (one block).
    public func encryptCBC(_ data: [UInt8], iv: [UInt8]) throws(Failure) -> [UInt8] { try self.run(data, encrypt: true, iv: iv) }

    /// Decrypts CBC with PKCS#7 padding; a wrong key or tampered data fails the padding check.
    public func decryptCBC(_ data: [UInt8], iv: [UInt8]) throws(Failure) -> [UInt8] { try self.run(data, encrypt: false, iv: iv) }

    private func run(_ data: [UInt8], encrypt: Bool, iv: [UInt8]?) throws(Failure) -> [UInt8] {
        let padded = iv != nil
        if let iv, iv.count != self.algorithm.blockSize {
            throw Failure(description: "the IV must be one \(self.algorithm.blockSize)-byte block")
        }
        guard padded || data.count % self.algorithm.blockSize == 0 else {
            throw Failure(description: "\(data.count) bytes is not a whole number of \(self.algorithm.blockSize)-byte blocks")
        }
        guard padded || !data.isEmpty else { return [] }
        guard let context = EVP_CIPHER_CTX_new() else { throw Failure(description: "EVP_CIPHER_CTX_new failed") }
        defer { EVP_CIPHER_CTX_free(context) }
        let cipher =
            switch (self.algorithm, padded) {
            case (.sm4, false): EVP_sm4_ecb()
            case (.sm4, true): EVP_sm4_cbc()
            case (.tripleDES, false): EVP_des_ede3_ecb()
            case (.tripleDES, true): EVP_des_ede3_cbc()
            }
        guard let cipher else { throw Failure(description: "this OpenSSL has no \(self.algorithm.rawValue)") }
        var output = [UInt8](repeating: 0, count: data.count + self.algorithm.blockSize)
        var written: Int32 = 0
        var final: Int32 = 0
        let ivBytes = iv ?? []
        let ok = self.key.withUnsafeBufferPointer { key in
            output.withUnsafeMutableBufferPointer { out in
                guard EVP_CipherInit_ex(context, cipher, nil, key.baseAddress, padded ? ivBytes : nil, encrypt ? 1 : 0) == 1,
                    EVP_CIPHER_CTX_set_padding(context, padded ? 1 : 0) == 1,
                    EVP_CipherUpdate(context, out.baseAddress, &written, data, Int32(data.count)) == 1,
                    EVP_CipherFinal_ex(context, out.baseAddress! + Int(written), &final) == 1
                else { return false }
                return true
            }
        }
        guard ok else { throw Failure(description: "OpenSSL \(self.algorithm.rawValue) failed: \(Self.lastError())") }
        return Array(output.prefix(Int(written + final)))
    }

    static func lastError() -> String {
        let code = ERR_get_error()
        guard code != 0 else { return "no error queued" }
        var buffer = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &buffer, buffer.count)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
