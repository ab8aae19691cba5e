import Bytes
/// A BER-TLV tag (ISO/IEC 7816-4 §5.2.2.1, EMV Book 3 Annex B), 1 to 4 bytes, kept as its encoding.
public struct TLVTag: Hashable, Sendable, CustomStringConvertible, ExpressibleByIntegerLiteral {
    /// The tag's bytes as they appear on the card, e.g. `[0x9F, 0x38]`.
    public let bytes: [UInt8]

    /// Creates a tag from its encoding.
    /// - Throws: ``APDUError/invalidTag`` when the bytes are not one well-formed tag.
    public init(bytes: [UInt8]) throws(APDUError) {
        var slice = bytes[...]
        let tag = try TLVTag.parse(from: &slice)
        guard slice.isEmpty else { throw APDUError(.invalidTag, offset: bytes.count - slice.count, reason: "extra bytes") }
        self = tag
    }

    /// A tag written as a number, `0x9F38`. The literal must be a well-formed tag (a programmer's constant).
    public init(integerLiteral value: UInt32) {
        var bytes = [UInt8]()
        var v = value
        repeat {
            bytes.insert(UInt8(v & 0xFF), at: 0)
            v >>= 8
        } while v != 0
        self.bytes = bytes
    }

    private init(validated bytes: [UInt8]) { self.bytes = bytes }

    /// The tag as a number (`0x9F38`).
    public var value: UInt32 { self.bytes.reduce(0) { $0 << 8 | UInt32($1) } }
    /// Bit 6 of the first byte: the value holds nested TLV objects.
    public var isConstructed: Bool { (self.bytes.first ?? 0) & 0x20 != 0 }
    /// Bits 8-7 of the first byte: 0 universal, 1 application, 2 context-specific, 3 private.
    public var tagClass: Int { Int((self.bytes.first ?? 0) >> 6) }

    public var description: String { Hex.encode(self.bytes) }

    /// Longest tag we accept, in bytes.
    public static let maximumLength = 4

    static func parse(from input: inout ArraySlice<UInt8>) throws(APDUError) -> TLVTag {
        let start = input.startIndex
        guard let first = input.popFirst() else { throw APDUError(.truncated, offset: start, reason: "tag expected") }
        // ISO/IEC 7816-4 §5.2.2.1: '00' and 'FF' are invalid first tag bytes (they are padding).
        guard first != 0x00 && first != 0xFF else {
            throw APDUError(.invalidTag, offset: start, reason: "tag byte \(first == 0 ? "00" : "FF") is padding, not a tag")
        }
        var bytes = [first]
        if first & 0x1F == 0x1F {
            while true {
                guard let next = input.popFirst() else {
                    throw APDUError(.truncated, offset: start, reason: "multi-byte tag not finished")
                }
                if bytes.count == 1 && next == 0x80 {
                    throw APDUError(.invalidTag, offset: start, reason: "subsequent tag byte 80 (leading zero bits)")
                }
                bytes.append(next)
                guard bytes.count <= Self.maximumLength else {
                    throw APDUError(.invalidTag, offset: start, reason: "tag longer than \(Self.maximumLength) bytes")
                }
                if next & 0x80 == 0 { break }
            }
        }
        return TLVTag(validated: bytes)
    }
}

/// One BER-TLV data object: a tag and either a primitive value or nested objects.
public struct TLV: Hashable, Sendable, CustomStringConvertible {
    /// Deepest nesting of constructed objects the decoder follows.
    public static let maximumDepth = 16
    /// Most objects, at all levels together, the decoder builds from one input.
    public static let maximumObjectCount = 4096
    /// Longest value the decoder accepts (larger than any card response).
    public static let maximumValueLength = 1 << 20

    /// How lenient the decoder is.
    public struct DecodingOptions: Hashable, Sendable {
        /// Skip `00` and `FF` bytes before, between and after objects, as EMV Book 3 Annex B allows.
        public var skipsPadding: Bool
        /// Decode the values of constructed tags into ``TLV/children``.
        public var decodesConstructed: Bool

        public init(skipsPadding: Bool = false, decodesConstructed: Bool = true) {
            self.skipsPadding = skipsPadding
            self.decodesConstructed = decodesConstructed
        }

        /// Strict BER-TLV: no padding.
        public static let strict = DecodingOptions()
        /// EMV: padding bytes allowed between objects.
        public static let emv = DecodingOptions(skipsPadding: true)
    }

    public let tag: TLVTag
    /// The value field as it appeared (for constructed tags, the encoded children).
    public let value: [UInt8]
    /// For constructed tags decoded with ``DecodingOptions/decodesConstructed``, the nested objects.
    public let children: [TLV]

    /// A primitive object.
    public init(tag: TLVTag, value: [UInt8]) {
        self.tag = tag
        self.value = value
        self.children = []
    }

    /// A constructed object built from children.
    public init(tag: TLVTag, children: [TLV]) {
        self.tag = tag
        self.children = children
        var encoded = [UInt8]()
        for child in children { child.serialize(into: &encoded) }
        self.value = encoded
    }

    private init(tag: TLVTag, value: [UInt8], children: [TLV]) {
        self.tag = tag
        self.value = value
        self.children = children
    }

    /// Appends tag, minimal length and value to `out`.
    public func serialize(into out: inout [UInt8]) {
        out.append(contentsOf: self.tag.bytes)
        let length = self.value.count
        if length < 0x80 {
            out.append(UInt8(length))
        } else {
            var lengthBytes = [UInt8]()
            var v = length
            while v > 0 {
                lengthBytes.insert(UInt8(v & 0xFF), at: 0)
                v >>= 8
            }
            out.append(0x80 | UInt8(lengthBytes.count))
            out.append(contentsOf: lengthBytes)
        }
        out.append(contentsOf: self.value)
    }

    /// The encoding of this object.
    public var bytes: [UInt8] {
        var out = [UInt8]()
        self.serialize(into: &out)
        return out
    }

    /// The first object with `tag` among this object's descendants (depth first), or `nil`.
    public func first(_ tag: TLVTag) -> TLV? {
        for child in self.children {
            if child.tag == tag { return child }
            if let found = child.first(tag) { return found }
        }
        return nil
    }

    public var description: String {
        if self.children.isEmpty { return "\(self.tag)[\(self.value.count)]=\(Hex.encode(self.value))" }
        return "\(self.tag){" + self.children.map(\.description).joined(separator: " ") + "}"
    }

    // MARK: Decoding

    /// Decodes every object in `bytes`; the whole input must be consumed.
    /// - Throws: ``APDUError`` whose offset points into `bytes`.
    public static func parseAll<C: Collection>(_ bytes: C, options: DecodingOptions = .strict) throws(APDUError) -> [TLV]
    where C.Element == UInt8 {
        var input = Array(bytes)[...]
        var budget = Self.maximumObjectCount
        return try Self.parseSequence(&input, depth: 0, budget: &budget, options: options)
    }

    /// Decodes exactly one object from `bytes` (padding around it allowed only with `.emv`).
    public static func parse<C: Collection>(_ bytes: C, options: DecodingOptions = .strict) throws(APDUError) -> TLV
    where C.Element == UInt8 {
        let all = try Self.parseAll(bytes, options: options)
        guard all.count == 1, let only = all.first else {
            throw APDUError(all.isEmpty ? .truncated : .trailingBytes, offset: 0, reason: "expected one object, found \(all.count)")
        }
        return only
    }

    /// Decodes one object from the front of `input`, advancing it.
    public static func parse(from input: inout ArraySlice<UInt8>, options: DecodingOptions = .strict) throws(APDUError) -> TLV {
        var budget = Self.maximumObjectCount
        return try Self.parseOne(&input, depth: 0, budget: &budget, options: options)
    }

    private static func parseSequence(
        _ input: inout ArraySlice<UInt8>, depth: Int, budget: inout Int, options: DecodingOptions
    ) throws(APDUError) -> [TLV] {
        var result = [TLV]()
        while true {
            if options.skipsPadding {
                while let byte = input.first, byte == 0x00 || byte == 0xFF { input.removeFirst() }
            }
            if input.isEmpty { return result }
            result.append(try Self.parseOne(&input, depth: depth, budget: &budget, options: options))
        }
    }

    private static func parseOne(
        _ input: inout ArraySlice<UInt8>, depth: Int, budget: inout Int, options: DecodingOptions
    ) throws(APDUError) -> TLV {
        let start = input.startIndex
        budget -= 1
        guard budget >= 0 else {
            throw APDUError(.tooManyObjects, offset: start, reason: "more than \(Self.maximumObjectCount) objects")
        }
        let tag = try TLVTag.parse(from: &input)
        let length = try Self.parseLength(&input)
        guard input.count >= length else {
            throw APDUError(.truncated, offset: start, reason: "tag \(tag) announces \(length) bytes, \(input.count) remain")
        }
        let valueSlice = input.prefix(length)
        input = input.dropFirst(length)
        guard tag.isConstructed && options.decodesConstructed else {
            return TLV(tag: tag, value: Array(valueSlice), children: [])
        }
        guard depth < Self.maximumDepth else {
            throw APDUError(.nestingTooDeep, offset: start, reason: "more than \(Self.maximumDepth) levels")
        }
        var inner = valueSlice
        let children = try Self.parseSequence(&inner, depth: depth + 1, budget: &budget, options: options)
        return TLV(tag: tag, value: Array(valueSlice), children: children)
    }

    private static func parseLength(_ input: inout ArraySlice<UInt8>) throws(APDUError) -> Int {
        let start = input.startIndex
        guard let first = input.popFirst() else { throw APDUError(.truncated, offset: start, reason: "length expected") }
        if first < 0x80 { return Int(first) }
        if first == 0x80 { throw APDUError(.indefiniteLength, offset: start, reason: "indefinite length form") }
        let count = Int(first & 0x7F)
        guard count <= 4 else { throw APDUError(.lengthOverflow, offset: start, reason: "\(count)-byte length field") }
        guard input.count >= count else { throw APDUError(.truncated, offset: start, reason: "length field cut short") }
        var length = 0
        for _ in 0..<count { length = length << 8 | Int(input.removeFirst()) }
        guard length <= Self.maximumValueLength else {
            throw APDUError(.lengthOverflow, offset: start, reason: "length \(length) over \(Self.maximumValueLength)")
        }
        return length
    }
}
