import APDU
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

    /// From field 62 of a UnionPay sign-on response: PIK ciphertext (16) + check value (4), MAK ciphertext
    /// (8) + 8 zero bytes + check value (4), all under the terminal master key (3DES, `gateway.md` V5).
    public init(signOnField62 field: [UInt8], masterKey: [UInt8]) throws(Failure) {
        guard field.count == 40 else { throw .malformed("\(field.count) bytes, expected 40") }
        do {
            let master = try BlockCipher(.tripleDES, key: masterKey)
            let pinKey = try master.decrypt(Array(field[0..<16]))
            let macKey = try master.decrypt(Array(field[20..<28]))
            let pinCheck = try BlockCipher(.tripleDES, key: pinKey).encrypt([UInt8](repeating: 0, count: 8)).prefix(4)
            let macCheck = try BlockCipher(.tripleDES, key: macKey).encrypt([UInt8](repeating: 0, count: 8)).prefix(4)
            guard Array(pinCheck) == Array(field[16..<20]) else { throw Failure.checkValueMismatch(key: "PIN key") }
            guard Array(macCheck) == Array(field[36..<40]) else { throw Failure.checkValueMismatch(key: "MAC key") }
            self.pinKey = pinKey
            self.macKey = macKey
        } catch let error as Failure {
            throw error
        } catch {
            throw .malformed("\(error)")
        }
    }
}
