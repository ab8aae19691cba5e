/// The outer layer of a UnionPay-style TCP message: a 2-byte length (binary or BCD, per profile), the
/// 5-byte TPDU, the 6-byte header, then the ISO 8583 message (`gateway.md` §1.2). Pure.
public struct FrameFormat: Codable, Hashable, Sendable {
    public enum LengthEncoding: String, Codable, Hashable, Sendable { case binary, bcd }

    public var lengthEncoding: LengthEncoding
    /// 5 for the UnionPay TPDU; 0 for none.
    public var tpduLength: Int
    /// 6 for the UnionPay header; 0 for none.
    public var headerLength: Int

    public static let unionPay = FrameFormat(lengthEncoding: .binary, tpduLength: 5, headerLength: 6)

    public init(lengthEncoding: LengthEncoding, tpduLength: Int, headerLength: Int) {
        self.lengthEncoding = lengthEncoding
        self.tpduLength = tpduLength
        self.headerLength = headerLength
    }
}

/// One frame's parts.
public struct Frame: Hashable, Sendable {
    /// ID (1 byte), destination address (2), source address (2).
    public var tpdu: [UInt8]
    public var header: [UInt8]
    public var message: [UInt8]

    public init(tpdu: [UInt8], header: [UInt8], message: [UInt8]) {
        self.tpdu = tpdu
        self.header = header
        self.message = message
    }

    /// The TPDU of a reply: source and destination swapped.
    public var replyTPDU: [UInt8] {
        guard self.tpdu.count == 5 else { return self.tpdu }
        return [self.tpdu[0], self.tpdu[3], self.tpdu[4], self.tpdu[1], self.tpdu[2]]
    }

    /// The bytes on the wire.
    public func encoded(_ format: FrameFormat) throws(ISO8583Error) -> [UInt8] {
        guard self.tpdu.count == format.tpduLength, self.header.count == format.headerLength else {
            throw ISO8583Error(.invalidLength, field: 0, detail: "TPDU or header length differs from the frame format")
        }
        let body = self.tpdu + self.header + self.message
        guard body.count <= (format.lengthEncoding == .binary ? 0xFFFF : 9999) else {
            throw ISO8583Error(.overlong, field: 0, detail: "frame of \(body.count) bytes does not fit the length prefix")
        }
        let length: [UInt8] =
            switch format.lengthEncoding {
            case .binary: [UInt8(body.count >> 8), UInt8(body.count & 0xFF)]
            case .bcd: [UInt8((body.count / 1000) << 4 | (body.count / 100 % 10)), UInt8((body.count / 10 % 10) << 4 | (body.count % 10))]
            }
        return length + body
    }
}

/// Splits a TCP byte stream into frames; pieces may arrive split or glued. A length prefix that is not
/// BCD (for BCD framing) or that announces less than TPDU + header is an error: the connection's framing
/// is lost and the caller must drop it.
public struct FrameReader: Sendable {
    public let format: FrameFormat
    /// The largest frame accepted (a corrupt length must not make us buffer megabytes).
    public var maximumLength = 8192
    private var buffer: [UInt8] = []

    public init(format: FrameFormat) { self.format = format }

    public mutating func append(_ bytes: some Sequence<UInt8>) { self.buffer.append(contentsOf: bytes) }

    /// The next whole frame, `nil` when more bytes are needed.
    public mutating func next() throws(ISO8583Error) -> Frame? {
        guard self.buffer.count >= 2 else { return nil }
        let length: Int
        switch self.format.lengthEncoding {
        case .binary:
            length = Int(self.buffer[0]) << 8 | Int(self.buffer[1])
        case .bcd:
            let nibbles = [self.buffer[0] >> 4, self.buffer[0] & 0x0F, self.buffer[1] >> 4, self.buffer[1] & 0x0F]
            guard nibbles.allSatisfy({ $0 <= 9 }) else { throw ISO8583Error(.invalidLength, field: 0, detail: "length prefix is not BCD") }
            length = nibbles.reduce(0) { $0 * 10 + Int($1) }
        }
        let minimum = self.format.tpduLength + self.format.headerLength
        guard length >= minimum, length <= self.maximumLength else {
            throw ISO8583Error(.invalidLength, field: 0, detail: "frame length \(length) outside \(minimum)…\(self.maximumLength)")
        }
        guard self.buffer.count >= 2 + length else { return nil }
        let body = Array(self.buffer[2..<(2 + length)])
        self.buffer.removeFirst(2 + length)
        let tpdu = Array(body.prefix(self.format.tpduLength))
        let header = Array(body.dropFirst(self.format.tpduLength).prefix(self.format.headerLength))
        return Frame(tpdu: tpdu, header: header, message: Array(body.dropFirst(minimum)))
    }

    /// Bytes waiting for the rest of their frame.
    public var bufferedCount: Int { self.buffer.count }
}
