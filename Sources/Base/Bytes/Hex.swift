/// Hexadecimal text for byte strings, as field engineers and traces write them.
public enum Hex {
    /// Encodes bytes as upper-case hex, optionally with a separator between bytes.
    public static func encode<C: Collection>(_ bytes: C, separator: String = "") -> String where C.Element == UInt8 {
        let digits = Array("0123456789ABCDEF".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * (2 + separator.utf8.count))
        var first = true
        for byte in bytes {
            if !first { out.append(contentsOf: separator.utf8) }
            first = false
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes hex text. Spaces, tabs, colons and line breaks between digit pairs are ignored.
    /// - Throws: ``HexError`` for any other character or an odd number of digits.
    public static func decode(_ text: String) throws(HexError) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(text.utf8.count / 2)
        var high: UInt8? = nil
        for (index, char) in text.utf8.enumerated() {
            let nibble: UInt8
            switch char {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = char - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = char - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): nibble = char - UInt8(ascii: "A") + 10
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: ":"), UInt8(ascii: "\n"), UInt8(ascii: "\r"):
                guard high == nil else {
                    throw HexError(offset: index, reason: "separator inside a byte")
                }
                continue
            default:
                throw HexError(offset: index, reason: "not a hex digit")
            }
            if let h = high {
                out.append(h << 4 | nibble)
                high = nil
            } else {
                high = nibble
            }
        }
        guard high == nil else { throw HexError(offset: text.utf8.count, reason: "odd number of digits") }
        return out
    }
}

/// Hex text that is not hex: where (the byte offset in the text) and why.
public struct HexError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Byte offset in the text where decoding stopped.
    public var offset: Int
    /// What was wrong there.
    public var reason: String

    public init(offset: Int, reason: String) {
        self.offset = offset
        self.reason = reason
    }

    public var description: String { "invalid hex at offset \(self.offset): \(self.reason)" }
}
