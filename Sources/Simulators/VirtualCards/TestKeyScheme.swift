public import KioskCrypto

/// **TEST KEY SCHEME — not the social security card's.** The real key diversification of social
/// security cards is not public (`cards.md` §1.4, "§10.3 not found"). CardKiosk's virtual cards and
/// virtual PSAM share this made-up scheme so that the real PSAM APDU flow can be exercised end to end:
///
/// - master key per (key usage, algorithm): the ASCII text `CKTEST-<usage>-<alg>` padded with `5A`;
/// - card key = PBOC-style diversification of the master key with the 8-byte factor F:
///   SM4: `E(master, F ‖ ¬F)`; 3DES: `E(master, F) ‖ E(master, ¬F)`;
/// - algorithm `01` = 3DES, `03` = SM4; `02` (SSF33) is not implemented.
///
/// Nothing here may be used with real cards or a real PSAM.
public enum TestKeyScheme {
    /// Printed wherever the scheme is in use.
    public static let label = "CardKiosk TEST key scheme (not the real social security card scheme)"

    /// Internal-authentication key usage (P1 of DELIVER KEY in the test PSAM layout).
    public static let internalAuthenticationUsage: UInt8 = 0x27
    /// RKSSSE key usage.
    public static let externalAuthenticationUsage: UInt8 = 0x28

    /// The cipher for a card algorithm identifier, or `nil` for one the scheme lacks.
    public static func cipherAlgorithm(_ id: UInt8) -> BlockCipher.Algorithm? {
        switch id {
        case 0x01: .tripleDES
        case 0x03: .sm4
        default: nil
        }
    }

    static func masterKey(usage: UInt8, algorithm: UInt8) -> [UInt8] {
        let text = Array("CKTEST-\(usage)-\(algorithm)".utf8)
        return Array(text.prefix(16)) + [UInt8](repeating: 0x5A, count: max(0, 16 - text.count))
    }

    /// The card key for `usage` and the diversification `factor` (8 bytes).
    public static func cardKey(usage: UInt8, algorithm: UInt8, factor: [UInt8]) -> [UInt8]? {
        guard let cipherAlgorithm = Self.cipherAlgorithm(algorithm), factor.count == 8,
            let master = try? BlockCipher(cipherAlgorithm, key: Self.masterKey(usage: usage, algorithm: algorithm))
        else { return nil }
        let inverted = factor.map { ~$0 }
        switch cipherAlgorithm {
        case .sm4: return try? master.encrypt(factor + inverted)
        case .tripleDES:
            guard let left = try? master.encrypt(factor), let right = try? master.encrypt(inverted) else { return nil }
            return left + right
        }
    }

    /// Encrypts `data` (padded with zeros to whole blocks) under a card key.
    public static func encrypt(_ data: [UInt8], key: [UInt8], algorithm: UInt8) -> [UInt8]? {
        guard let cipherAlgorithm = Self.cipherAlgorithm(algorithm), let cipher = try? BlockCipher(cipherAlgorithm, key: key) else {
            return nil
        }
        let block = cipherAlgorithm.blockSize
        let padded = data + [UInt8](repeating: 0, count: (block - data.count % block) % block)
        return try? cipher.encrypt(padded)
    }
}
