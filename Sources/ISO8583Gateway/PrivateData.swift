/// The bank-private data an activation needs and ISO 8583 has no field for (idempotency key, the holder's
/// ID document, name, tries left), carried in field 62 as `TAG(2 ASCII) LEN(3 ASCII digits) VALUE`.
/// No public CUPS layout exists for activation (`gateway.md` §1.3): this is our default, and a bank
/// with its own layout gets its own codec. Pure.
public struct PrivateData: Hashable, Sendable {
    public enum Tag: String, Sendable, CaseIterable {
        /// The activation's idempotency key.
        case key = "IK"
        /// ID document type, 2 digits (`00` resident ID card).
        case idType = "IT"
        /// ID document number.
        case idNumber = "ID"
        /// Holder's name, GB18030.
        case name = "NM"
        /// PIN tries left (responses).
        case triesLeft = "TL"
    }

    public private(set) var values: [String: [UInt8]] = [:]

    public init() {}

    public subscript(tag: Tag) -> [UInt8]? {
        get { self.values[tag.rawValue] }
        set { self.values[tag.rawValue] = newValue }
    }

    /// The ASCII text of `tag`.
    public func text(_ tag: Tag) -> String? {
        self[tag].map { String(decoding: $0, as: UTF8.self) }
    }

    public mutating func set(_ tag: Tag, text: String) { self[tag] = Array(text.utf8) }

    /// Elements in tag order (deterministic bytes, so MACs are reproducible).
    public func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        for (tag, value) in self.values.sorted(by: { $0.key < $1.key }) {
            let length = String(value.count)
            bytes += Array(tag.utf8) + Array((String(repeating: "0", count: 3 - length.count) + length).utf8) + value
        }
        return bytes
    }

    /// Reads elements; unknown tags are kept. Throws on a truncated element or a value over 999 bytes.
    public init(decoding bytes: [UInt8]) throws(ISO8583GatewayError) {
        var index = 0
        while index < bytes.count {
            guard index + 5 <= bytes.count else { throw .malformedReply("field 62: truncated element header at \(index)") }
            let tag = String(decoding: bytes[index..<(index + 2)], as: UTF8.self)
            guard let length = Int(String(decoding: bytes[(index + 2)..<(index + 5)], as: UTF8.self)), length >= 0,
                index + 5 + length <= bytes.count
            else { throw .malformedReply("field 62: bad length for \(tag) at \(index)") }
            self.values[tag] = Array(bytes[(index + 5)..<(index + 5 + length)])
            index += 5 + length
        }
    }
}
