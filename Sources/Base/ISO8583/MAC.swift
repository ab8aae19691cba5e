import Bytes
public import KioskCrypto

/// The MAC algorithms banks ask for, chosen per profile (`gateway.md` §1.4). DES, 3DES and SM4 come
/// from the system OpenSSL (single DES as 3DES with equal keys).
public enum MACAlgorithm: String, Codable, Hashable, Sendable, CaseIterable {
    /// ANSI X9.9 / ISO 9797-1 algorithm 1: CBC-MAC, single DES, zero IV, zero padding; 8 bytes.
    case x99 = "x9.9"
    /// ANSI X9.19 retail MAC (ISO 9797-1 algorithm 3): CBC with the left key, then D(right) E(left); 8 bytes.
    case x919 = "x9.19"
    /// The China UnionPay POS "ECB" MAC: 8 ASCII hex characters.
    case unionPayECB = "unionpay-ecb"
    /// The SM4 POS MAC, the same scheme on 16-byte blocks: 8 ASCII hex characters.
    case sm4POS = "sm4-pos"

    /// The MAC of `data` under `key`.
    /// - Throws: ``BlockCipher/Failure`` for a key of the wrong size.
    public func mac(_ data: [UInt8], key: [UInt8]) throws(BlockCipher.Failure) -> [UInt8] {
        switch self {
        case .x99:
            return try Self.cbcMAC(data, cipher: BlockCipher(.tripleDES, key: Array(key.prefix(8))))
        case .x919:
            guard key.count == 16 else { throw BlockCipher.Failure(description: "X9.19 takes a 16-byte key") }
            let left = try BlockCipher(.tripleDES, key: Array(key.prefix(8)))
            let right = try BlockCipher(.tripleDES, key: Array(key.suffix(8)))
            return try left.encrypt(try right.decrypt(try Self.cbcMAC(data, cipher: left)))
        case .unionPayECB:
            return try Self.expandedXORMAC(data, cipher: BlockCipher(.tripleDES, key: key), block: 8)
        case .sm4POS:
            return try Self.expandedXORMAC(data, cipher: BlockCipher(.sm4, key: key), block: 16)
        }
    }

    /// CBC-MAC with zero IV and zero padding: the last cipher block.
    static func cbcMAC(_ data: [UInt8], cipher: BlockCipher) throws(BlockCipher.Failure) -> [UInt8] {
        var state = [UInt8](repeating: 0, count: 8)
        for block in Self.blocks(data, size: 8) {
            state = try cipher.encrypt(zip(state, block).map { $0 ^ $1 })
        }
        return state
    }

    /// The UnionPay scheme: XOR every block; hex-expand; encrypt the first half; XOR with the second
    /// half; encrypt; hex-expand; the first 8 characters.
    static func expandedXORMAC(_ data: [UInt8], cipher: BlockCipher, block: Int) throws(BlockCipher.Failure) -> [UInt8] {
        var xor = [UInt8](repeating: 0, count: block)
        for chunk in Self.blocks(data, size: block) { xor = zip(xor, chunk).map { $0 ^ $1 } }
        let expanded = Array(Hex.encode(xor).utf8)
        let first = try cipher.encrypt(Array(expanded.prefix(block)))
        let second = try cipher.encrypt(zip(first, expanded.suffix(block)).map { $0 ^ $1 })
        return Array(Array(Hex.encode(second).utf8).prefix(8))
    }

    static func blocks(_ data: [UInt8], size: Int) -> [[UInt8]] {
        let padded = data + [UInt8](repeating: 0, count: (size - data.count % size) % size)
        return stride(from: 0, to: max(padded.count, size), by: size).map { index in
            index < padded.count ? Array(padded[index..<index + size]) : [UInt8](repeating: 0, count: size)
        }
    }
}

/// Working keys delivered at sign-on (0810, field 62), checked against their check values.
public struct WorkingKeys: Hashable, Sendable {
    public let pinKey: [UInt8]
    public let macKey: [UInt8]

    public enum Failure: Error, Hashable, Sendable, CustomStringConvertible {
        case malformed(String)
        case checkValueMismatch(key: String)

        public var description: String {
            switch self {
            case .malformed(let detail): "sign-on key field malformed: \(detail)"
            case .checkValueMismatch(let key): "\(key) check value does not match: keys refused"
            }
        }
    }

    /// From field 62 of a UnionPay sign-on response: PIK ciphertext (16) + check value (4), then the MAK
    /// slot (16) + check value (4), all under the terminal master key (`gateway.md` §1.2, V5). With 3DES,
    /// a MAK slot whose last 8 bytes are zero holds a single-length MAK (V5), otherwise a double-length
    /// one; with SM4 both keys are 16 bytes. A check value is the first 4 bytes of E(key, zero block).
    public init(signOnField62 field: [UInt8], masterKey: [UInt8], algorithm: BlockCipher.Algorithm = .tripleDES) throws(Failure) {
        guard field.count == 40 else { throw .malformed("\(field.count) bytes, expected 40") }
        do {
            let master = try BlockCipher(algorithm, key: masterKey)
            let block = algorithm == .sm4 ? 16 : 8
            let zeros = [UInt8](repeating: 0, count: block)
            let pinKey = try master.decrypt(Array(field[0..<16]))
            let singleMAK = algorithm == .tripleDES && field[28..<36].allSatisfy { $0 == 0 }
            let macKey = try master.decrypt(Array(field[20..<(singleMAK ? 28 : 36)]))
            let pinCheck = try BlockCipher(algorithm, key: pinKey).encrypt(zeros).prefix(4)
            let macCheck = try BlockCipher(algorithm, key: macKey).encrypt(zeros).prefix(4)
            guard ConstantTime.equal(pinCheck, field[16..<20]) else { throw Failure.checkValueMismatch(key: "PIN key") }
            guard ConstantTime.equal(macCheck, field[36..<40]) else { throw Failure.checkValueMismatch(key: "MAC key") }
            self.pinKey = pinKey
            self.macKey = macKey
        } catch let error as Failure {
            throw error
        } catch {
            throw .malformed("\(error)")
        }
    }

    /// Field 62 of a sign-on response carrying `pinKey` and `macKey` under `masterKey`: what a bank (the
    /// simulator) sends. The inverse of ``init(signOnField62:masterKey:algorithm:)``.
    public static func signOnField62(pinKey: [UInt8], macKey: [UInt8], masterKey: [UInt8], algorithm: BlockCipher.Algorithm = .tripleDES) throws(BlockCipher.Failure) -> [UInt8] {
        let master = try BlockCipher(algorithm, key: masterKey)
        let zeros = [UInt8](repeating: 0, count: algorithm == .sm4 ? 16 : 8)
        let pinCheck = Array(try BlockCipher(algorithm, key: pinKey).encrypt(zeros).prefix(4))
        let macCheck = Array(try BlockCipher(algorithm, key: macKey).encrypt(zeros).prefix(4))
        var macSlot = try master.encrypt(macKey)
        macSlot += [UInt8](repeating: 0, count: 16 - macSlot.count)
        return try master.encrypt(pinKey) + pinCheck + macSlot + macCheck
    }
}
