import Bytes
/// A response APDU: the response data field followed by SW1 SW2.
public struct ResponseAPDU: Hashable, Sendable, CustomStringConvertible {
    /// The response data field (Nr bytes, possibly empty).
    public var data: [UInt8]
    /// The trailing status word.
    public var status: StatusWord

    public init(data: [UInt8] = [], status: StatusWord) {
        self.data = data
        self.status = status
    }

    /// Parses a response: everything but the last two bytes is data.
    /// - Throws: ``APDUError/truncated`` when fewer than two bytes arrived.
    public init<C: Collection>(bytes: C) throws(APDUError) where C.Element == UInt8 {
        let count = bytes.count
        guard count >= 2 else {
            throw APDUError(.truncated, offset: count, reason: "a response APDU ends with 2 status bytes, got \(count)")
        }
        let array = Array(bytes)
        self.data = Array(array[..<(count - 2)])
        self.status = StatusWord(sw1: array[count - 2], sw2: array[count - 1])
    }

    /// The encoded bytes (data, SW1, SW2).
    public var bytes: [UInt8] { self.data + [self.status.sw1, self.status.sw2] }

    public var description: String {
        self.data.isEmpty ? self.status.description : "\(Hex.encode(self.data)) \(self.status)"
    }
}
