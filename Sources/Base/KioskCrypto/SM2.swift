internal import COpenSSL

/// SM2 (GB/T 32918) signatures with SM3, from the system OpenSSL.
///
/// The distinguishing ID (`distid`) is part of what is signed and must match on both sides. GM/T 0009's
/// default is `1234567812345678`; OpenSSL before 4.0 silently uses an empty ID when none is set, and such a
/// signature fails verification with the default (`gateway.md` §3.1). So the ID is always passed
/// explicitly here, per bank profile.
public enum SM2 {
    /// GM/T 0009's default distinguishing ID.
    public static let defaultDistinguishingID = Array("1234567812345678".utf8)

    /// Why an SM2 operation failed.
    public struct Failure: Error, Hashable, Sendable, CustomStringConvertible {
        public let description: String
    }

    /// An SM2 key pair (or only its public half).
    public final class Key: @unchecked Sendable {
        // EVP_PKEY is reference counted and safe to use from several threads for signing and verifying.
        fileprivate let pkey: OpaquePointer
        public let hasPrivateKey: Bool

        fileprivate init(pkey: OpaquePointer, hasPrivateKey: Bool) {
            self.pkey = pkey
            self.hasPrivateKey = hasPrivateKey
        }

        deinit { EVP_PKEY_free(self.pkey) }

        /// A fresh key pair.
        public static func generate() throws(Failure) -> Key {
            guard let context = EVP_PKEY_CTX_new_from_name(nil, "SM2", nil) else { throw Failure(description: "no SM2 in this OpenSSL") }
            defer { EVP_PKEY_CTX_free(context) }
            var pkey: OpaquePointer?
            guard EVP_PKEY_keygen_init(context) == 1, EVP_PKEY_generate(context, &pkey) == 1, let pkey else {
                throw Failure(description: "SM2 key generation failed: \(BlockCipher.lastError())")
            }
            return Key(pkey: pkey, hasPrivateKey: true)
        }

        /// A private key from PEM (PKCS#8 `PRIVATE KEY`).
        public convenience init(privateKeyPEM pem: String) throws(Failure) {
            let pkey: OpaquePointer? = SM2.withBIO(pem) { PEM_read_bio_PrivateKey($0, nil, nil, nil) }
            guard let pkey else { throw Failure(description: "not an SM2 private key in PEM: \(BlockCipher.lastError())") }
            self.init(pkey: pkey, hasPrivateKey: true)
        }

        /// A public key from PEM (`PUBLIC KEY`).
        public convenience init(publicKeyPEM pem: String) throws(Failure) {
            let pkey: OpaquePointer? = SM2.withBIO(pem) { PEM_read_bio_PUBKEY($0, nil, nil, nil) }
            guard let pkey else { throw Failure(description: "not an SM2 public key in PEM: \(BlockCipher.lastError())") }
            self.init(pkey: pkey, hasPrivateKey: false)
        }

        /// The public key as PEM.
        public var publicKeyPEM: String {
            SM2.writeBIO { PEM_write_bio_PUBKEY($0, self.pkey) }
        }

        /// The private key as PEM (PKCS#8, unencrypted): for tests and the simulator only.
        public var privateKeyPEM: String {
            SM2.writeBIO { PEM_write_bio_PrivateKey($0, self.pkey, nil, nil, 0, nil, nil) }
        }
    }

    /// Signs `message` with SM2-with-SM3 under `distinguishingID`; DER-encoded signature.
    public static func sign(_ message: [UInt8], key: Key, distinguishingID: [UInt8] = defaultDistinguishingID) throws(Failure) -> [UInt8] {
        guard key.hasPrivateKey else { throw Failure(description: "signing needs the private key") }
        return try Self.withDigestContext(key: key, distinguishingID: distinguishingID, signing: true) { context throws(Failure) in
            var length = 0
            guard EVP_DigestSign(context, nil, &length, message, message.count) == 1 else {
                throw Failure(description: "SM2 sign failed: \(BlockCipher.lastError())")
            }
            var signature = [UInt8](repeating: 0, count: length)
            guard EVP_DigestSign(context, &signature, &length, message, message.count) == 1 else {
                throw Failure(description: "SM2 sign failed: \(BlockCipher.lastError())")
            }
            return Array(signature.prefix(length))
        }
    }

    /// Whether `signature` is a valid SM2-with-SM3 signature of `message` under `distinguishingID`.
    public static func verify(_ signature: [UInt8], of message: [UInt8], key: Key, distinguishingID: [UInt8] = defaultDistinguishingID)
        -> Bool
    {
        let result = try? Self.withDigestContext(key: key, distinguishingID: distinguishingID, signing: false) { context throws(Failure) in
            EVP_DigestVerify(context, signature, signature.count, message, message.count) == 1
        }
        ERR_clear_error()
        return result ?? false
    }

    private static func withDigestContext<R>(
        key: Key, distinguishingID: [UInt8], signing: Bool, _ body: (OpaquePointer) throws(Failure) -> R
    ) throws(Failure) -> R {
        guard let digestContext = EVP_MD_CTX_new() else { throw Failure(description: "EVP_MD_CTX_new failed") }
        defer { EVP_MD_CTX_free(digestContext) }
        guard let keyContext = EVP_PKEY_CTX_new_from_pkey(nil, key.pkey, nil) else { throw Failure(description: "EVP_PKEY_CTX_new failed") }
        defer { EVP_PKEY_CTX_free(keyContext) }
        let idSet = distinguishingID.withUnsafeBytes { EVP_PKEY_CTX_set1_id(keyContext, $0.baseAddress, Int32($0.count)) }
        guard idSet == 1 else { throw Failure(description: "setting the SM2 distinguishing ID failed: \(BlockCipher.lastError())") }
        EVP_MD_CTX_set_pkey_ctx(digestContext, keyContext)
        let initialised =
            signing
            ? EVP_DigestSignInit(digestContext, nil, EVP_sm3(), nil, key.pkey)
            : EVP_DigestVerifyInit(digestContext, nil, EVP_sm3(), nil, key.pkey)
        guard initialised == 1 else { throw Failure(description: "SM2 init failed: \(BlockCipher.lastError())") }
        return try body(digestContext)
    }

    fileprivate static func withBIO<R>(_ text: String, _ body: (OpaquePointer) -> R?) -> R? {
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBytes { raw -> R? in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return nil }
            defer { BIO_free(bio) }
            return body(bio)
        }
    }

    fileprivate static func writeBIO(_ body: (OpaquePointer) -> Int32) -> String {
        guard let bio = BIO_new(BIO_s_mem()) else { return "" }
        defer { BIO_free(bio) }
        guard body(bio) == 1 else { return "" }
        var pointer: UnsafeMutablePointer<CChar>?
        let length = BIO_ctrl(bio, BIO_CTRL_INFO, 0, &pointer)
        guard length > 0, let pointer else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: pointer, count: length), as: UTF8.self)
    }
}
