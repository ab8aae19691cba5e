public import APDU
import Bytes

/// Pure parsers for what the SSSE application answers. No I/O; every one can be fuzzed.
public enum SSSECodec {
    /// The DF name `sx1.sh.社会保障` in GBK (`cards.md` §1.1).
    public static let applicationName: [UInt8] = [
        0x73, 0x78, 0x31, 0x2E, 0x73, 0x68, 0x2E, 0xC9, 0xE7, 0xBB, 0xE1, 0xB1, 0xA3, 0xD5, 0xCF,
    ]

    /// The algorithm identifier a card uses when none is announced (`9F0C` absent).
    public static let defaultAlgorithm: UInt8 = 0x01

    /// Decodes one record: `tag | length | value`, optionally followed by `00`/`FF` padding.
    /// The length is one byte, or `81 xx`.
    /// - Throws: ``APDUError`` (`.truncated`, `.trailingBytes`, `.invalidLength`).
    public static func record(_ data: [UInt8]) throws(APDUError) -> (tag: UInt8, value: [UInt8]) {
        guard data.count >= 2 else { throw APDUError(.truncated, offset: data.count, reason: "record shorter than tag and length") }
        var offset = 1
        var length = Int(data[offset])
        offset += 1
        if length == 0x81 {
            guard data.count >= 3 else { throw APDUError(.truncated, offset: 2, reason: "record length 81 without its byte") }
            length = Int(data[2])
            offset = 3
        } else if length > 0x80 {
            throw APDUError(.invalidLength, offset: 1, reason: "record length form \(Hex.encode([data[1]])) not supported")
        }
        guard data.count - offset >= length else {
            throw APDUError(.truncated, offset: data.count, reason: "record announces \(length) bytes, has \(data.count - offset)")
        }
        let end = offset + length
        if let extra = data[end...].firstIndex(where: { $0 != 0x00 && $0 != 0xFF }) {
            throw APDUError(.trailingBytes, offset: extra, reason: "bytes after the record's value")
        }
        return (data[0], Array(data[offset..<end]))
    }

    /// The algorithm identifier in the SSSE FCI (`9F0C 03 86 01 xx`), or `nil` when the FCI announces none.
    ///
    /// Accepts a well-formed FCI (the identifier anywhere in it, as `86 01 xx` inside `9F0C` or as a bare
    /// one-byte value), and, for FCIs that are not valid BER-TLV, the byte pattern `9F0C038601xx` public
    /// reader code searches for.
    public static func algorithmIdentifier(inFCI fci: [UInt8]) -> UInt8? {
        if let parsed = try? TLV.parseAll(fci, options: .emv) {
            for object in parsed {
                guard let found = object.tag == 0x9F0C ? object : object.first(0x9F0C) else { continue }
                if found.value.count == 1 { return found.value[0] }
                if found.value.count >= 3, found.value[0] == 0x86, found.value[1] == 0x01 { return found.value[2] }
            }
        }
        let pattern: [UInt8] = [0x9F, 0x0C, 0x03, 0x86, 0x01]
        guard fci.count > pattern.count else { return nil }
        for start in 0...(fci.count - pattern.count - 1) where Array(fci[start..<start + pattern.count]) == pattern {
            return fci[start + pattern.count]
        }
        return nil
    }

    /// A byte that pads a text item (the name) to its field: `00`, `FF` or a space.
    public static func isPadding(_ byte: UInt8) -> Bool { byte == 0x00 || byte == 0xFF || byte == 0x20 }

    /// A BCD date value; `nil` for an absent one (all `00` or all `FF`).
    public static func isAbsent(_ value: [UInt8]) -> Bool {
        value.isEmpty || value.allSatisfy { $0 == 0x00 } || value.allSatisfy { $0 == 0xFF }
    }
}
