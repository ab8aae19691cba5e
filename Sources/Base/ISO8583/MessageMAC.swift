public import KioskCrypto

/// Field 64 as banks use it: the MAC of every byte of the message before it, its first 8 bytes. One
/// place for both sides (the gateway and the simulated bank) to make and check it.
public enum MessageMAC {
    /// `message` encoded with field 64 set to the MAC of all the bytes before it.
    public static func encode(_ message: ISO8583Message, spec: MessageSpec, algorithm: MACAlgorithm, key: [UInt8]) throws(Failure) -> [UInt8] {
        var message = message
        message[64] = String(repeating: "0", count: 16)
        let placeholder: [UInt8]
        do { placeholder = try ISO8583Codec.encode(message, spec: spec) } catch { throw .codec(error) }
        let block = Array(placeholder.dropLast(8))
        do { return block + (try algorithm.mac(block, key: key)).prefix(8) } catch { throw .key(error) }
    }

    /// True when `bytes` (a decoded message that carries field 64) end with the MAC of everything before it.
    public static func verifies(_ bytes: [UInt8], algorithm: MACAlgorithm, key: [UInt8]) -> Bool {
        guard bytes.count >= 8, let expected = try? algorithm.mac(Array(bytes.dropLast(8)), key: key) else { return false }
        return ConstantTime.equal(expected.prefix(8), bytes.suffix(8))
    }

    /// Why a MACed message could not be built.
    public enum Failure: Error, Sendable, CustomStringConvertible {
        /// The message does not fit the spec.
        case codec(ISO8583Error)
        /// The key does not fit the algorithm.
        case key(BlockCipher.Failure)

        public var description: String {
            switch self {
            case .codec(let error): "\(error)"
            case .key(let error): "MAC key: \(error)"
            }
        }
    }
}
