/// ISO 9564 format 0 (ANSI X9.8) PIN blocks: the clear block is `0 L PIN F…` XOR `0000 + 12 PAN digits`
/// (the rightmost 12 excluding the check digit). Only the simulated PIN pad and the simulated bank build
/// and open clear blocks; the daemon handles encrypted ones only.
public enum ISO0PINBlock {
    /// Why a PIN block cannot be built or opened.
    public struct Failure: Error, Hashable, Sendable, CustomStringConvertible {
        public let description: String
    }

    /// The clear 8-byte block for `pin` (4–12 digits) and `pan`.
    public static func clearBlock(pin: String, pan: String) throws(Failure) -> [UInt8] {
        let digits = pin.compactMap(\.wholeNumberValue)
        guard digits.count == pin.count, (4...12).contains(digits.count) else { throw Failure(description: "a PIN has 4 to 12 digits") }
        var pinField: [UInt8] = [0x00, UInt8(digits.count)] + digits.map(UInt8.init)
        pinField += [UInt8](repeating: 0x0F, count: 16 - pinField.count)
        let panField = try Self.panField(pan)
        return (0..<8).map { index in
            (pinField[2 * index] << 4 | pinField[2 * index + 1]) ^ (panField[2 * index] << 4 | panField[2 * index + 1])
        }
    }

    /// The PIN in a clear block, checked against `pan`.
    public static func pin(fromClearBlock block: [UInt8], pan: String) throws(Failure) -> String {
        guard block.count == 8 else { throw Failure(description: "a format 0 block has 8 bytes") }
        let panField = try Self.panField(pan)
        let nibbles = (0..<8).flatMap { index -> [UInt8] in
            let byte = block[index] ^ (panField[2 * index] << 4 | panField[2 * index + 1])
            return [byte >> 4, byte & 0x0F]
        }
        let length = Int(nibbles[1])
        guard nibbles[0] == 0, (4...12).contains(length), nibbles[2..<(2 + length)].allSatisfy({ $0 <= 9 }),
            nibbles[(2 + length)...].allSatisfy({ $0 == 0x0F })
        else { throw Failure(description: "not a format 0 PIN block for this PAN") }
        return nibbles[2..<(2 + length)].map { String($0) }.joined()
    }

    static func panField(_ pan: String) throws(Failure) -> [UInt8] {
        let digits = pan.compactMap(\.wholeNumberValue).map(UInt8.init)
        guard digits.count == pan.count, digits.count >= 13 else { throw Failure(description: "a PAN has at least 13 digits") }
        let twelve = digits.dropLast().suffix(12)
        return [0, 0, 0, 0] + twelve
    }
}
