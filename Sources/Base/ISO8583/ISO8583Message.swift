/// An ISO 8583 message: MTI and field values. Values are strings: the characters of ASCII fields, the
/// digits of BCD fields, the uppercase hex of binary fields.
public struct ISO8583Message: Hashable, Sendable, CustomStringConvertible {
    public var mti: String
    public var fields: [Int: String]

    public init(mti: String, fields: [Int: String] = [:]) {
        self.mti = mti
        self.fields = fields
    }

    public subscript(field: Int) -> String? {
        get { self.fields[field] }
        set { self.fields[field] = newValue }
    }

    /// Field numbers and values, masked where they hold card data (2 PAN, 35 track 2, 52 PIN block,
    /// 55 chip data, 62 keys).
    public var description: String {
        let parts = self.fields.keys.sorted().map { number -> String in
            let value = self.fields[number]!
            switch number {
            case 2: return "2=\(value.prefix(6))…\(value.suffix(4))"
            case 35, 52, 55, 62: return "\(number)=<\(value.count) redacted>"
            default: return "\(number)=\(value)"
            }
        }
        return "\(self.mti) " + parts.joined(separator: " ")
    }
}

/// Why bytes are not a message of the spec, or a message cannot be encoded; names the field.
public struct ISO8583Error: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: String, Hashable, Sendable {
        case truncated, overlong, invalidValue, unknownField, invalidLength, trailingBytes
    }

    public let code: Code
    /// The field (0 = MTI, 1 = bitmap).
    public let field: Int
    public let detail: String

    public init(_ code: Code, field: Int, detail: String) {
        self.code = code
        self.field = field
        self.detail = detail
    }

    public var description: String { "field \(self.field): \(self.code.rawValue): \(self.detail)" }
    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.code == rhs.code && lhs.field == rhs.field }
    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.code)
        hasher.combine(self.field)
    }
}
