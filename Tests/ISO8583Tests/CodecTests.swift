import APDU
import Bytes
import Foundation
import ISO8583
import Testing

func hexBytes(_ text: String) -> [UInt8] { try! Hex.decode(text) }

func hexString(_ bytes: [UInt8]) -> String { Hex.encode(bytes) }

/// gateway.md V4: a captured China UnionPay 0200 frame with its MAC (129 bytes).
let v4Frame = hexBytes("""
    007F 6000030000 603210320072 0200 3020048000C08015
    000000 000000001234 000002 0300 99 3030303030303031
    393532373138313832323137383735 313536
    0019 26000001000600000000
    0043 5F0112323834343132333435363738393031323334 5F0306313630303336 5F0406323030383236 5C023031
    4233413039324145
    """)

/// The spec shipped in Config/iso8583 for China UnionPay POS messages.
let cupsSpec: MessageSpec = {
    let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Config/iso8583/cups-pos.json")
    return try! JSONDecoder().decode(MessageSpec.self, from: Data(contentsOf: path))
}()

@Suite struct ISO8583VectorTests {
    /// gateway.md V1 (moov-io): ASCII MTI, ASCII hex bitmap, LL ASCII, fixed ASCII.
    @Test func v1AsciiMessage() throws {
        let spec = MessageSpec(
            name: "moov ascii", mti: .ascii, bitmap: .asciiHex,
            fields: [
                2: FieldSpec("PAN", data: .ascii, lengthKind: .ll, lengthEncoding: .ascii, length: 19),
                3: FieldSpec("processing code", data: .ascii, length: 6),
                4: FieldSpec("amount", data: .ascii, length: 12, padding: .left),
            ])
        let wire = Array("01007000000000000000164242424242424242123456000000000100".utf8)
        let message = try ISO8583Codec.decode(wire, spec: spec)
        #expect(message.mti == "0100")
        #expect(message.fields == [2: "4242424242424242", 3: "123456", 4: "000000000100"])
        #expect(try ISO8583Codec.encode(message, spec: spec) == wire)
        // A short numeric value is left-padded with zeros, as moov-io does.
        #expect(try ISO8583Codec.encode(ISO8583Message(mti: "0100", fields: [2: "4242424242424242", 3: "123456", 4: "100"]), spec: spec) == wire)
    }

    /// gateway.md V2 (moov-io): BCD MTI, binary bitmap, fixed BCD, LLLL BCD with odd length left-padded.
    @Test func v2BCDFields() throws {
        let spec = MessageSpec(
            name: "moov bcd", mti: .bcd, bitmap: .binary,
            fields: [
                2: FieldSpec("F2", data: .bcd, length: 4),
                3: FieldSpec("F3", data: .bcd, lengthKind: .llll, lengthEncoding: .bcd, length: 9999, padding: .left),
            ])
        let wire = hexBytes("1234 6000000000000000 4567 0003 0890")
        let message = try ISO8583Codec.decode(wire, spec: spec)
        #expect(message == ISO8583Message(mti: "1234", fields: [2: "4567", 3: "890"]))
        #expect(try ISO8583Codec.encode(message, spec: spec) == wire)
    }

    /// gateway.md V3 (pyiso8583): ASCII LL, and binary data with a BCD length in nibbles or bytes.
    @Test func v3PyISO8583() throws {
        let ascii = MessageSpec(
            name: "py", mti: .ascii, bitmap: .asciiHex,
            fields: [2: FieldSpec("F2", data: .ascii, lengthKind: .ll, lengthEncoding: .ascii, length: 19)])
        let wire = Array("02004000000000000000101234567890".utf8)
        #expect(try ISO8583Codec.decode(wire, spec: ascii) == ISO8583Message(mti: "0200", fields: [2: "1234567890"]))
        #expect(try ISO8583Codec.encode(ISO8583Message(mti: "0200", fields: [2: "1234567890"]), spec: ascii) == wire)
        for (unit, prefix) in [(FieldSpec.LengthUnit.nibbles, "0004"), (.bytes, "0002")] {
            let spec = MessageSpec(
                name: "py nibbles", mti: .ascii, bitmap: .asciiHex,
                fields: [2: FieldSpec("F2", data: .binary, lengthKind: .lll, lengthEncoding: .bcd, length: 999, lengthUnit: unit)])
            let encoded = try ISO8583Codec.encode(ISO8583Message(mti: "0200", fields: [2: "1234"]), spec: spec)
            #expect(hexString(Array(encoded.suffix(4))) == prefix + "1234")
            #expect(try ISO8583Codec.decode(encoded, spec: spec)[2] == "1234")
        }
    }

    /// gateway.md V4: the CUPS 0200 message inside the 129-byte frame decodes to exactly its listed fields
    /// and re-encodes byte for byte.
    @Test func v4UnionPayMessage() throws {
        let frame = v4Frame
        #expect(frame.count == 129)
        let message = Array(frame.dropFirst(2 + 5 + 6))
        let decoded = try ISO8583Codec.decode(message, spec: cupsSpec)
        #expect(decoded.mti == "0200")
        #expect(decoded.fields.keys.sorted() == [3, 4, 11, 22, 25, 41, 42, 49, 60, 62, 64])
        #expect(decoded[3] == "000000")
        #expect(decoded[4] == "000000001234")
        #expect(decoded[11] == "000002")
        #expect(decoded[22] == "030")
        #expect(decoded[25] == "99")
        #expect(decoded[41] == "00000001")
        #expect(decoded[42] == "952718182217875")
        #expect(decoded[49] == "156")
        #expect(decoded[60] == "2600000100060000000")
        #expect(decoded[62]?.count == 86)
        #expect(String(decoding: hexBytes(decoded[64]!), as: UTF8.self) == "B3A092AE")
        #expect(try ISO8583Codec.encode(decoded, spec: cupsSpec) == message)
    }
}

@Suite struct ISO8583ErrorTests {
    @Test func truncatedAndOverlongNameTheField() throws {
        let message = ISO8583Message(mti: "0200", fields: [3: "000000", 41: "00000001", 60: "26000001"])
        let wire = try ISO8583Codec.encode(message, spec: cupsSpec)
        #expect(try ISO8583Codec.decode(wire, spec: cupsSpec) == message)
        #expect(throws: ISO8583Error(.truncated, field: 60, detail: "")) { try ISO8583Codec.decode(Array(wire.dropLast()), spec: cupsSpec) }
        #expect(throws: ISO8583Error(.truncated, field: 1, detail: "")) { try ISO8583Codec.decode(Array(wire.prefix(5)), spec: cupsSpec) }
        #expect(throws: ISO8583Error(.trailingBytes, field: 60, detail: "")) { try ISO8583Codec.decode(wire + [0x00], spec: cupsSpec) }
        #expect(throws: ISO8583Error(.overlong, field: 41, detail: "")) {
            try ISO8583Codec.encode(ISO8583Message(mti: "0200", fields: [41: "123456789"]), spec: cupsSpec)
        }
        #expect(throws: ISO8583Error(.overlong, field: 2, detail: "")) {
            try ISO8583Codec.encode(ISO8583Message(mti: "0200", fields: [2: String(repeating: "1", count: 20)]), spec: cupsSpec)
        }
        #expect(throws: ISO8583Error(.invalidValue, field: 3, detail: "")) {
            try ISO8583Codec.encode(ISO8583Message(mti: "0200", fields: [3: "12345Z"]), spec: cupsSpec)
        }
        #expect(throws: ISO8583Error(.unknownField, field: 99, detail: "")) {
            try ISO8583Codec.encode(ISO8583Message(mti: "0200", fields: [99: "1"]), spec: cupsSpec)
        }
        #expect(throws: ISO8583Error(.invalidValue, field: 0, detail: "")) { try ISO8583Codec.encode(ISO8583Message(mti: "02A0"), spec: cupsSpec) }
    }

    @Test func overlongLengthPrefixIsRefused() throws {
        // F2 announces 25 digits; the spec allows 19.
        var wire = hexBytes("0200 4000000000000000")
        wire += [0x25] + [UInt8](repeating: 0x11, count: 13)
        #expect(throws: ISO8583Error(.overlong, field: 2, detail: "")) { try ISO8583Codec.decode(wire, spec: cupsSpec) }
    }

    @Test func secondaryBitmap() throws {
        var spec = cupsSpec
        spec.fields[90] = FieldSpec("original data elements", data: .bcd, length: 42)
        let message = ISO8583Message(mti: "0400", fields: [11: "000123", 90: "020000012300000000000000000000000000000000"])
        let wire = try ISO8583Codec.encode(message, spec: spec)
        #expect(wire[2] & 0x80 != 0, "bit 1 announces the secondary bitmap")
        #expect(try ISO8583Codec.decode(wire, spec: spec) == message)
    }

    @Test func descriptionsRedactCardData() {
        let message = ISO8583Message(mti: "0200", fields: [2: "6228230029000005274", 52: "0123456789ABCDEF", 4: "000000000100"])
        #expect(!message.description.contains("6228230029000005274") && !message.description.contains("0123456789ABCDEF"))
        #expect(message.description.contains("4=000000000100"))
    }
}
