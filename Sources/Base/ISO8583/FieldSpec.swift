/// How one ISO 8583 field is laid out: data encoding, length kind and the length prefix's encoding.
/// A bank's message spec is a table of these (data, loaded from a file), not code per field.
public struct FieldSpec: Codable, Hashable, Sendable {
    /// How the field's data is stored.
    public enum DataEncoding: String, Codable, Hashable, Sendable {
        /// One ASCII byte per character.
        case ascii
        /// Packed BCD, two digits per byte; the value is the digits (odd counts padded, see ``padding``).
        case bcd
        /// Raw bytes; the value is their uppercase hex.
        case binary
    }

    /// Fixed length or a variable length with its prefix size in digits (LL = 2, LLL = 3, LLLL = 4).
    public enum LengthKind: String, Codable, Hashable, Sendable {
        case fixed, ll, lll, llll

        /// Digits in the length prefix.
        public var digits: Int {
            switch self {
            case .fixed: 0
            case .ll: 2
            case .lll: 3
            case .llll: 4
            }
        }
    }

    /// How a variable length prefix is stored.
    public enum LengthEncoding: String, Codable, Hashable, Sendable {
        /// ASCII digits (LL = 2 bytes, LLL = 3).
        case ascii
        /// Packed BCD (LL = 1 byte, LLL and LLLL = 2 bytes).
        case bcd
        /// A big-endian binary count (LL = 1 byte, LLL and LLLL = 2 bytes).
        case binary
    }

    /// Where BCD data of odd length gets its pad nibble, and what numeric ASCII is padded with.
    public enum Padding: String, Codable, Hashable, Sendable {
        case left, right
    }

    /// What a length counts: `units` = characters (ASCII), digits (BCD) or bytes (binary);
    /// `bytes` = encoded bytes; `nibbles` = encoded bytes × 2 (pyiso8583's `len_count="nibbles"`).
    public enum LengthUnit: String, Codable, Hashable, Sendable {
        case units, bytes, nibbles
    }

    public var name: String
    public var data: DataEncoding
    public var lengthKind: LengthKind
    public var lengthEncoding: LengthEncoding
    /// Fixed length, or the maximum for variable fields, in ``lengthUnit`` units.
    public var length: Int
    public var lengthUnit: LengthUnit
    public var padding: Padding
    /// The pad nibble for BCD (`0` or `F`), as a hex digit.
    public var padNibble: String {
        didSet { self.padValue = Self.nibble(self.padNibble) }
    }
    /// ``padNibble``'s value; `nil` when it is not a hex digit (an error for BCD fields).
    private(set) var padValue: UInt8?

    static func nibble(_ text: String) -> UInt8? {
        guard let first = text.utf8.first else { return 0 }
        return ISO8583Codec.hexValue(first)
    }

    public init(
        _ name: String, data: DataEncoding, lengthKind: LengthKind = .fixed, lengthEncoding: LengthEncoding = .bcd, length: Int,
        lengthUnit: LengthUnit = .units, padding: Padding = .left, padNibble: String = "0"
    ) {
        self.name = name
        self.data = data
        self.lengthKind = lengthKind
        self.lengthEncoding = lengthEncoding
        self.length = length
        self.lengthUnit = lengthUnit
        self.padding = padding
        self.padNibble = padNibble
        self.padValue = Self.nibble(padNibble)
    }

    private enum CodingKeys: String, CodingKey {
        case name, data, lengthKind, lengthEncoding, length, lengthUnit, padding, padNibble
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            try c.decode(String.self, forKey: .name), data: try c.decode(DataEncoding.self, forKey: .data),
            lengthKind: try c.decodeIfPresent(LengthKind.self, forKey: .lengthKind) ?? .fixed,
            lengthEncoding: try c.decodeIfPresent(LengthEncoding.self, forKey: .lengthEncoding) ?? .bcd,
            length: try c.decode(Int.self, forKey: .length), lengthUnit: try c.decodeIfPresent(LengthUnit.self, forKey: .lengthUnit) ?? .units,
            padding: try c.decodeIfPresent(Padding.self, forKey: .padding) ?? .left,
            padNibble: try c.decodeIfPresent(String.self, forKey: .padNibble) ?? "0")
    }
}

/// A message layout: MTI and bitmap encodings and the field table.
public struct MessageSpec: Codable, Hashable, Sendable {
    public enum MTIEncoding: String, Codable, Hashable, Sendable { case ascii, bcd }
    public enum BitmapEncoding: String, Codable, Hashable, Sendable {
        /// 8 raw bytes per bitmap.
        case binary
        /// 16 ASCII hex characters per bitmap.
        case asciiHex
    }

    public var name: String
    public var mti: MTIEncoding
    public var bitmap: BitmapEncoding
    /// Field number → spec (2…128).
    public var fields: [Int: FieldSpec] {
        didSet { self.table = Self.table(self.fields) }
    }
    /// ``fields``' layouts indexed by number (0…128): the codec's lookup, with no hashing and no reference
    /// counting per field.
    private(set) var table: [FieldLayout?]

    public init(name: String, mti: MTIEncoding, bitmap: BitmapEncoding, fields: [Int: FieldSpec]) {
        self.name = name
        self.mti = mti
        self.bitmap = bitmap
        self.fields = fields
        self.table = Self.table(fields)
    }

    private enum CodingKeys: String, CodingKey {
        case name, mti, bitmap, fields
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            name: try c.decode(String.self, forKey: .name), mti: try c.decode(MTIEncoding.self, forKey: .mti),
            bitmap: try c.decode(BitmapEncoding.self, forKey: .bitmap), fields: try c.decode([Int: FieldSpec].self, forKey: .fields))
    }

    static func table(_ fields: [Int: FieldSpec]) -> [FieldLayout?] {
        var table = [FieldLayout?](repeating: nil, count: 129)
        for (number, field) in fields where (0...128).contains(number) { table[number] = FieldLayout(field) }
        return table
    }

    /// The field's layout, or `nil` when the spec has none.
    @inline(__always)
    func field(_ number: Int) -> FieldLayout? { number >= 0 && number <= 128 ? self.table[number] : nil }
}

/// A ``FieldSpec`` without its name: plain values the codec copies for free.
struct FieldLayout: Hashable, Sendable {
    var data: FieldSpec.DataEncoding
    var lengthKind: FieldSpec.LengthKind
    var lengthEncoding: FieldSpec.LengthEncoding
    var length: Int
    var lengthUnit: FieldSpec.LengthUnit
    var padding: FieldSpec.Padding
    var padValue: UInt8?

    init(_ spec: FieldSpec) {
        self.data = spec.data
        self.lengthKind = spec.lengthKind
        self.lengthEncoding = spec.lengthEncoding
        self.length = spec.length
        self.lengthUnit = spec.lengthUnit
        self.padding = spec.padding
        self.padValue = spec.padValue
    }
}
