#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// GB18030 (a superset of GBK and GB 2312) text, through the C library's `iconv`: Foundation on Linux
/// has no GBK encoding. Names on the social security card are GBK; characters outside GBK take four
/// bytes in GB18030 and round-trip.
public enum GB18030 {
    /// Bytes that are not valid GB18030.
    public struct DecodingError: Error, Hashable, Sendable, CustomStringConvertible {
        /// Offset of the first byte that could not be decoded.
        public let offset: Int
        public var description: String { "invalid GB18030 byte sequence at offset \(self.offset)" }
    }

    /// Decodes `bytes`, after stripping trailing padding (`00`, `FF`, ASCII and ideographic spaces).
    /// Bytes after the first `00` are padding too.
    public static func decode(_ bytes: some Collection<UInt8>) throws(DecodingError) -> String {
        var data = Array(bytes)
        if let nul = data.firstIndex(of: 0x00) { data.removeSubrange(nul...) }
        while let last = data.last, last == 0xFF || last == 0x20 { data.removeLast() }
        let text = try Self.convert(data, from: "GB18030", to: "UTF-8").map { String(decoding: $0, as: UTF8.self) }
        guard let text else { return "" }
        return String(text.reversed().drop { $0 == " " || $0 == "\u{3000}" }.reversed())
    }

    /// Encodes `text` as GB18030, or `nil` when iconv cannot (it can encode every Unicode scalar).
    public static func encode(_ text: String) -> [UInt8]? {
        try? Self.convert(Array(text.utf8), from: "UTF-8", to: "GB18030")
    }

    /// True when every character of `text` has a 1- or 2-byte (GBK) form, i.e. fits a GBK-only card.
    public static func fitsGBK(_ text: String) -> Bool {
        text.unicodeScalars.allSatisfy { scalar in
            guard let bytes = Self.encode(String(scalar)) else { return false }
            return bytes.count <= 2
        }
    }

    private static func convert(_ input: [UInt8], from: String, to: String) throws(DecodingError) -> [UInt8]? {
        guard !input.isEmpty else { return [] }
        let descriptor = iconv_open(to, from)
        guard descriptor != iconv_t(bitPattern: -1) else { return nil }
        defer { iconv_close(descriptor) }
        var source = input.map { CChar(bitPattern: $0) }
        var output = [CChar](repeating: 0, count: input.count * 4 + 16)
        var inLeft = source.count
        var outLeft = output.count
        let result = source.withUnsafeMutableBufferPointer { sourceBuffer in
            output.withUnsafeMutableBufferPointer { outBuffer in
                var inPointer = sourceBuffer.baseAddress
                var outPointer = outBuffer.baseAddress
                let converted = iconv(descriptor, &inPointer, &inLeft, &outPointer, &outLeft)
                if converted != -1 { _ = iconv(descriptor, nil, nil, &outPointer, &outLeft) }
                return converted
            }
        }
        guard result != -1, inLeft == 0 else { throw DecodingError(offset: input.count - inLeft) }
        return output.prefix(output.count - outLeft).map { UInt8(bitPattern: $0) }
    }
}
