import Bytes

/// Encodes and decodes ISO 8583 messages by a ``MessageSpec``. Pure: no I/O; every error names the field.
public enum ISO8583Codec {
    // MARK: Encoding

    public static func encode(_ message: ISO8583Message, spec: MessageSpec) throws(ISO8583Error) -> [UInt8] {
        var out = try Self.encodeMTI(message.mti, spec.mti)
        let numbers = message.fields.keys.sorted()
        if let bad = numbers.first(where: { $0 < 2 || $0 > 128 }) {
            throw ISO8583Error(.unknownField, field: bad, detail: "field numbers run from 2 to 128")
        }
        let secondary = numbers.contains { $0 > 64 }
        var bitmap = [UInt8](repeating: 0, count: secondary ? 16 : 8)
        if secondary { bitmap[0] |= 0x80 }
        for number in numbers { bitmap[(number - 1) / 8] |= 0x80 >> UInt8((number - 1) % 8) }
        switch spec.bitmap {
        case .binary: out += bitmap
        case .asciiHex: out += Array(Hex.encode(bitmap).utf8)
        }
        for number in numbers {
            guard let field = spec.fields[number] else {
                throw ISO8583Error(.unknownField, field: number, detail: "not in the spec \(spec.name)")
            }
            out += try Self.encodeField(message.fields[number]!, field, number: number)
        }
        return out
    }

    static func encodeMTI(_ mti: String, _ encoding: MessageSpec.MTIEncoding) throws(ISO8583Error) -> [UInt8] {
        guard mti.count == 4, mti.allSatisfy(\.isASCII), mti.allSatisfy(\.isNumber) else {
            throw ISO8583Error(.invalidValue, field: 0, detail: "MTI must be 4 digits")
        }
        return encoding == .ascii ? Array(mti.utf8) : Self.packBCD(Array(mti.utf8), padLeft: true, pad: 0)
    }

    static func encodeField(_ value: String, _ spec: FieldSpec, number: Int) throws(ISO8583Error) -> [UInt8] {
        var value = value
        // Fixed fields are padded to their length (numbers with 0 on the left, text with spaces on the right).
        if spec.lengthKind == .fixed && spec.data != .binary && value.count < spec.length {
            let pad = String(repeating: spec.padding == .left ? "0" : " ", count: spec.length - value.count)
            value = spec.padding == .left ? pad + value : value + pad
        }
        let data: [UInt8]
        let units: Int
        switch spec.data {
        case .ascii:
            guard value.unicodeScalars.allSatisfy({ $0.isASCII }) else {
                throw ISO8583Error(.invalidValue, field: number, detail: "ASCII field holds non-ASCII characters")
            }
            data = Array(value.utf8)
            units = data.count
        case .bcd:
            let digits = Array(value.utf8)
            guard digits.allSatisfy({ Self.hexValue($0) != nil }) else {
                throw ISO8583Error(.invalidValue, field: number, detail: "BCD field holds non-hex characters")
            }
            guard let pad = Self.hexValue(UInt8(ascii: spec.padNibble.unicodeScalars.first ?? "0")) else {
                throw ISO8583Error(.invalidValue, field: number, detail: "pad nibble is not a hex digit")
            }
            data = Self.packBCD(digits, padLeft: spec.padding == .left, pad: pad)
            units = digits.count
        case .binary:
            guard value.count % 2 == 0, let bytes = Self.unhex(value) else {
                throw ISO8583Error(.invalidValue, field: number, detail: "binary field is not an even number of hex digits")
            }
            data = bytes
            units = bytes.count
        }
        if spec.lengthKind == .fixed {
            guard units == spec.length else {
                throw ISO8583Error(units > spec.length ? .overlong : .invalidLength, field: number, detail: "\(units) units, fixed length \(spec.length)")
            }
            return data
        }
        let count = Self.count(units: units, bytes: data.count, unit: spec.lengthUnit)
        guard count <= spec.length else { throw ISO8583Error(.overlong, field: number, detail: "\(count) exceeds the maximum \(spec.length)") }
        return try Self.encodeLength(count, spec, number: number) + data
    }

    static func count(units: Int, bytes: Int, unit: FieldSpec.LengthUnit) -> Int {
        switch unit {
        case .units: units
        case .bytes: bytes
        case .nibbles: bytes * 2
        }
    }

    static func encodeLength(_ count: Int, _ spec: FieldSpec, number: Int) throws(ISO8583Error) -> [UInt8] {
        let digits = spec.lengthKind.digits
        let text = String(count)
        guard text.count <= digits else { throw ISO8583Error(.overlong, field: number, detail: "length \(count) does not fit \(digits) digits") }
        switch spec.lengthEncoding {
        case .ascii:
            return Array((String(repeating: "0", count: digits - text.count) + text).utf8)
        case .bcd:
            let width = (digits + 1) / 2 * 2
            return Self.packBCD(Array((String(repeating: "0", count: width - text.count) + text).utf8), padLeft: true, pad: 0)
        case .binary:
            return digits <= 2 ? [UInt8(count)] : [UInt8(count >> 8), UInt8(count & 0xFF)]
        }
    }

    // MARK: Decoding

    public static func decode(_ bytes: [UInt8], spec: MessageSpec) throws(ISO8583Error) -> ISO8583Message {
        var input = bytes[...]
        let mtiBytes = try Self.take(&input, spec.mti == .ascii ? 4 : 2, field: 0)
        let mti = spec.mti == .ascii ? String(decoding: mtiBytes, as: UTF8.self) : Hex.encode(mtiBytes)
        guard mti.count == 4, mti.allSatisfy(\.isNumber) else { throw ISO8583Error(.invalidValue, field: 0, detail: "MTI \(mti) is not 4 digits") }
        var bitmap = try Self.readBitmap(&input, spec.bitmap)
        if bitmap[0] & 0x80 != 0 { bitmap += try Self.readBitmap(&input, spec.bitmap) }
        var message = ISO8583Message(mti: mti)
        for number in 2...(bitmap.count * 8) where bitmap[(number - 1) / 8] & (0x80 >> UInt8((number - 1) % 8)) != 0 {
            if number == 65 { continue }  // the bit of a tertiary bitmap: not used
            guard let field = spec.fields[number] else {
                throw ISO8583Error(.unknownField, field: number, detail: "present in the bitmap, not in the spec \(spec.name)")
            }
            message.fields[number] = try Self.decodeField(&input, field, number: number)
        }
        guard input.isEmpty else {
            throw ISO8583Error(.trailingBytes, field: message.fields.keys.max() ?? 1, detail: "\(input.count) bytes after the last field")
        }
        return message
    }

    static func readBitmap(_ input: inout ArraySlice<UInt8>, _ encoding: MessageSpec.BitmapEncoding) throws(ISO8583Error) -> [UInt8] {
        switch encoding {
        case .binary:
            return try Self.take(&input, 8, field: 1)
        case .asciiHex:
            let text = try Self.take(&input, 16, field: 1)
            guard let bytes = Self.unhex(String(decoding: text, as: UTF8.self)) else {
                throw ISO8583Error(.invalidValue, field: 1, detail: "bitmap is not hex")
            }
            return bytes
        }
    }

    static func decodeField(_ input: inout ArraySlice<UInt8>, _ spec: FieldSpec, number: Int) throws(ISO8583Error) -> String {
        var count = spec.length
        if spec.lengthKind != .fixed {
            count = try Self.readLength(&input, spec, number: number)
            guard count <= spec.length else { throw ISO8583Error(.overlong, field: number, detail: "length \(count) exceeds the maximum \(spec.length)") }
        }
        // How many bytes the data takes.
        let byteCount: Int
        switch (spec.lengthUnit, spec.data) {
        case (.bytes, _): byteCount = count
        case (.nibbles, _):
            guard count % 2 == 0 else { throw ISO8583Error(.invalidLength, field: number, detail: "odd nibble count \(count)") }
            byteCount = count / 2
        case (.units, .bcd): byteCount = (count + 1) / 2
        case (.units, _): byteCount = count
        }
        let data = try Self.take(&input, byteCount, field: number)
        switch spec.data {
        case .ascii:
            guard data.allSatisfy({ $0 < 0x80 }) else { throw ISO8583Error(.invalidValue, field: number, detail: "non-ASCII byte") }
            return String(decoding: data, as: UTF8.self)
        case .binary:
            return Hex.encode(data)
        case .bcd:
            var digits = Hex.encode(data)
            let wanted = spec.lengthUnit == .units ? count : digits.count
            if digits.count > wanted {
                digits = spec.padding == .left ? String(digits.dropFirst()) : String(digits.dropLast())
            }
            return digits
        }
    }

    static func readLength(_ input: inout ArraySlice<UInt8>, _ spec: FieldSpec, number: Int) throws(ISO8583Error) -> Int {
        let digits = spec.lengthKind.digits
        switch spec.lengthEncoding {
        case .ascii:
            let bytes = try Self.take(&input, digits, field: number)
            guard let value = Int(String(decoding: bytes, as: UTF8.self)), bytes.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
                throw ISO8583Error(.invalidLength, field: number, detail: "length prefix is not ASCII digits")
            }
            return value
        case .bcd:
            let bytes = try Self.take(&input, (digits + 1) / 2, field: number)
            let text = Hex.encode(bytes)
            guard text.allSatisfy(\.isNumber), let value = Int(text) else {
                throw ISO8583Error(.invalidLength, field: number, detail: "length prefix \(text) is not BCD")
            }
            return value
        case .binary:
            let bytes = try Self.take(&input, digits <= 2 ? 1 : 2, field: number)
            return bytes.reduce(0) { $0 << 8 | Int($1) }
        }
    }

    static func take(_ input: inout ArraySlice<UInt8>, _ count: Int, field: Int) throws(ISO8583Error) -> [UInt8] {
        guard input.count >= count else {
            throw ISO8583Error(.truncated, field: field, detail: "needs \(count) bytes, \(input.count) left")
        }
        defer { input = input.dropFirst(count) }
        return Array(input.prefix(count))
    }

    // MARK: Nibbles

    static func packBCD(_ characters: [UInt8], padLeft: Bool, pad: UInt8) -> [UInt8] {
        var nibbles = characters.compactMap(Self.hexValue)
        if nibbles.count % 2 == 1 { if padLeft { nibbles.insert(pad, at: 0) } else { nibbles.append(pad) } }
        return stride(from: 0, to: nibbles.count, by: 2).map { nibbles[$0] << 4 | nibbles[$0 + 1] }
    }

    static func hexValue(_ character: UInt8) -> UInt8? {
        switch character {
        case 0x30...0x39: character - 0x30
        case 0x41...0x46: character - 0x37
        case 0x61...0x66: character - 0x57
        default: nil
        }
    }

    /// Strict hex: digits only (APDU's `Hex.decode` also skips separators, which a field value must not hold).
    static func unhex(_ text: String) -> [UInt8]? {
        let characters = Array(text.utf8)
        guard characters.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(characters.count / 2)
        for index in stride(from: 0, to: characters.count, by: 2) {
            guard let high = Self.hexValue(characters[index]), let low = Self.hexValue(characters[index + 1]) else { return nil }
            out.append(high << 4 | low)
        }
        return out
    }
}
