public import Bytes

/// An error from one of the pure smart-card codecs: APDUs, status words, BER-TLV, hex text.
///
/// Errors compare equal by ``code`` only, so tests can write `#expect(throws: APDUError.truncated)`;
/// ``offset`` and ``reason`` are diagnostics for a person reading a log.
public struct APDUError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, as a stable code.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Backing: Hashable, Sendable {
            case truncated, trailingBytes, invalidLength, lengthOverflow, invalidTag, indefiniteLength
            case nestingTooDeep, tooManyObjects, invalidHex, exchangeLimit, invalidParameter
        }
        private let backing: Backing
        private init(_ backing: Backing) { self.backing = backing }

        /// The input ended before the structure it announced.
        public static let truncated = Code(.truncated)
        /// Bytes were left over after a complete structure.
        public static let trailingBytes = Code(.trailingBytes)
        /// A length field is malformed or contradicts the data (for example Lc = 0 in a short APDU).
        public static let invalidLength = Code(.invalidLength)
        /// A length is larger than the format or our limits allow.
        public static let lengthOverflow = Code(.lengthOverflow)
        /// A BER-TLV tag is malformed (too long, or a reserved value).
        public static let invalidTag = Code(.invalidTag)
        /// A BER-TLV object uses the indefinite length form, which card data never may.
        public static let indefiniteLength = Code(.indefiniteLength)
        /// Constructed BER-TLV objects are nested deeper than ``TLV/maximumDepth``.
        public static let nestingTooDeep = Code(.nestingTooDeep)
        /// More BER-TLV objects than ``TLV/maximumObjectCount``.
        public static let tooManyObjects = Code(.tooManyObjects)
        /// Text that should be hexadecimal is not.
        public static let invalidHex = Code(.invalidHex)
        /// A card kept answering `61xx`/`6Cxx` past the exchange's limits.
        public static let exchangeLimit = Code(.exchangeLimit)
        /// A value given to an initializer is outside its range.
        public static let invalidParameter = Code(.invalidParameter)

        public var description: String { "\(self.backing)" }
    }

    /// The error's code; the only part that takes part in `==`.
    public let code: Code
    /// Byte offset in the input where the problem was found, when there is one.
    public let offset: Int?
    /// A sentence for the log.
    public let reason: String

    public init(_ code: Code, offset: Int? = nil, reason: String = "") {
        self.code = code
        self.offset = offset
        self.reason = reason
    }

    public static let truncated = APDUError(.truncated)
    public static let trailingBytes = APDUError(.trailingBytes)
    public static let invalidLength = APDUError(.invalidLength)
    public static let lengthOverflow = APDUError(.lengthOverflow)
    public static let invalidTag = APDUError(.invalidTag)
    public static let indefiniteLength = APDUError(.indefiniteLength)
    public static let nestingTooDeep = APDUError(.nestingTooDeep)
    public static let tooManyObjects = APDUError(.tooManyObjects)
    public static let invalidHex = APDUError(.invalidHex)
    public static let exchangeLimit = APDUError(.exchangeLimit)
    public static let invalidParameter = APDUError(.invalidParameter)

    /// Hex text that did not decode, as a codec error (``Code/invalidHex``).
    public init(_ error: HexError) { self.init(.invalidHex, offset: error.offset, reason: error.reason) }

    public static func == (lhs: APDUError, rhs: APDUError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(self.code) }

    public var description: String {
        var text = "\(self.code)"
        if let offset = self.offset { text += " at offset \(offset)" }
        if !self.reason.isEmpty { text += ": \(self.reason)" }
        return text
    }
}

extension Hex {
    /// ``Hex/decode(_:)`` for code whose errors are ``APDUError``: bad hex is ``APDUError/Code/invalidHex``.
    public static func decodeOrAPDUError(_ text: String) throws(APDUError) -> [UInt8] {
        do throws(HexError) {
            return try Hex.decode(text)
        } catch {
            throw APDUError(error)
        }
    }
}
