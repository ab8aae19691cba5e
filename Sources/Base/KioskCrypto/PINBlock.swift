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
        guard digits.count == pin.count else { throw Failure(description: "a PIN has 4 to 12 digits") }
        return try Self.clearBlock(pinDigits: digits.map(UInt8.init), pan: pan)
    }

    /// The clear 8-byte block for the PIN's digits (4–12 values 0–9) and `pan`. Takes the digits as they were
    /// pressed, so a PIN pad never has to build a string it cannot wipe; its only working copy is zeroed here.
    public static func clearBlock(pinDigits: [UInt8], pan: String) throws(Failure) -> [UInt8] {
        guard (4...12).contains(pinDigits.count), pinDigits.allSatisfy({ $0 <= 9 }) else { throw Failure(description: "a PIN has 4 to 12 digits") }
        let panField = try Self.panField(pan)
        var pinField = [UInt8](repeating: 0x0F, count: 16)
        defer { pinField.withUnsafeMutableBufferPointer { $0.update(repeating: 0) } }
        pinField[0] = 0x00
        pinField[1] = UInt8(pinDigits.count)
        for (index, digit) in pinDigits.enumerated() { pinField[2 + index] = digit }
        return (0..<8).map { index in
            (pinField[2 * index] << 4 | pinField[2 * index + 1]) ^ (panField[2 * index] << 4 | panField[2 * index + 1])
        }
    }

    /// Whether `pan` can bind a format 0 block: all digits, at least 13 of them (12 besides the check digit).
    public static func accepts(pan: String) -> Bool { (try? Self.panField(pan)) != nil }

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
