internal import COpenSSL

/// SM3 (GB/T 32905) digests, from the system OpenSSL.
public enum SM3 {
    /// The 32-byte SM3 digest of `data`.
    public static func hash(_ data: some Collection<UInt8>) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        let bytes = Array(data)
        let ok = bytes.withUnsafeBytes { input in
            EVP_Digest(input.baseAddress, input.count, &digest, &length, EVP_sm3(), nil)
        }
        precondition(ok == 1 && length == 32, "OpenSSL has no SM3: \(BlockCipher.lastError())")
        return digest
    }
}
