/// Encodes and decodes ISO 8583 messages by a ``MessageSpec``. Pure: no I/O; every error names the field.
///
/// Written for speed (`kiosk-bench iso8583` compares it with pyiso8583): bytes are read and written
/// through one buffer each, field layouts are looked up by index, the bitmap is two integers, and no field
/// goes through Foundation or a temporary `String` except the value itself.
public enum ISO8583Codec {
    // MARK: Encoding

    public static func encode(_ message: ISO8583Message, spec: MessageSpec) throws(ISO8583Error) -> [UInt8] {
        // The bitmap from the field numbers (no sorting: the bits are the order).
        var primary: UInt64 = 0
        var secondary: UInt64 = 0
        var lowestBad: Int?
        for number in message.fields.keys {
            switch number {
            case 2...64: primary |= 1 << UInt64(64 - number)
            case 65...128: secondary |= 1 << UInt64(128 - number)
            default: lowestBad = min(lowestBad ?? number, number)
            }
        }
        if let bad = lowestBad { throw ISO8583Error(.unknownField, field: bad, detail: "field numbers run from 2 to 128") }
        if secondary != 0 { primary |= 1 << 63 }
        var out: [UInt8] = []
        out.reserveCapacity(64 + message.fields.count * 24)
        try Self.encodeMTI(message.mti, spec.mti, into: &out)
        Self.appendBitmap(primary, spec.bitmap, into: &out)
        if secondary != 0 { Self.appendBitmap(secondary, spec.bitmap, into: &out) }
        for number in FieldNumbers(primary: primary, secondary: secondary) {
            guard let field = spec.field(number) else {
                throw ISO8583Error(.unknownField, field: number, detail: "not in the spec \(spec.name)")
            }
            try Self.encodeField(message.fields[number]!, field, number: number, into: &out)
        }
        return out
    }

    static func encodeMTI(_ mti: String, _ encoding: MessageSpec.MTIEncoding, into out: inout [UInt8]) throws(ISO8583Error) {
        let utf8 = mti.utf8
        guard utf8.count == 4, utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
            throw ISO8583Error(.invalidValue, field: 0, detail: "MTI must be 4 digits")
        }
        if encoding == .ascii {
            out.append(contentsOf: utf8)
        } else {
            var iterator = utf8.makeIterator()
            for _ in 0..<2 { out.append((iterator.next()! - 0x30) << 4 | (iterator.next()! - 0x30)) }
        }
    }

    private static let hexDigits: [UInt8] = Array("0123456789ABCDEF".utf8)

    static func appendBitmap(_ word: UInt64, _ encoding: MessageSpec.BitmapEncoding, into out: inout [UInt8]) {
        for shift in stride(from: 56, through: 0, by: -8) {
            let byte = UInt8(truncatingIfNeeded: word >> UInt64(shift))
            switch encoding {
            case .binary: out.append(byte)
            case .asciiHex:
                out.append(Self.hexDigits[Int(byte >> 4)])
                out.append(Self.hexDigits[Int(byte & 0x0F)])
            }
        }
    }

    static func encodeField(_ value: String, _ spec: FieldLayout, number: Int, into out: inout [UInt8]) throws(ISO8583Error) {
        var value = value
        let result: Result<Void, ISO8583Error>? = value.utf8.withContiguousStorageIfAvailable { bytes in
            Result { () throws(ISO8583Error) in try Self.encodeField(bytes, spec, number: number, into: &out) }
        }
        if let result { return try result.get() }
        // A bridged or foreign string: make it native once.
        value.makeContiguousUTF8()
        try Self.encodeField(value, spec, number: number, into: &out)
    }

    static func encodeField(_ value: UnsafeBufferPointer<UInt8>, _ spec: FieldLayout, number: Int, into out: inout [UInt8]) throws(ISO8583Error) {
        // Units the value gives (characters, digits or bytes) and the bytes it takes on the wire.
        let units: Int
        let byteCount: Int
        switch spec.data {
        case .ascii:
            guard value.allSatisfy({ $0 < 0x80 }) else {
                throw ISO8583Error(.invalidValue, field: number, detail: "ASCII field holds non-ASCII characters")
            }
            units = value.count
            byteCount = value.count
        case .bcd:
            guard value.allSatisfy({ Self.hexValue($0) != nil }) else {
                throw ISO8583Error(.invalidValue, field: number, detail: "BCD field holds non-hex characters")
            }
            guard spec.padValue != nil else { throw ISO8583Error(.invalidValue, field: number, detail: "pad nibble is not a hex digit") }
            units = value.count
            byteCount = (value.count + 1) / 2
        case .binary:
            guard value.count % 2 == 0, value.allSatisfy({ Self.hexValue($0) != nil }) else {
                throw ISO8583Error(.invalidValue, field: number, detail: "binary field is not an even number of hex digits")
            }
            units = value.count / 2
            byteCount = units
        }
        // Fixed fields are padded to their length (numbers with 0 on the left, text with spaces on the right).
        var pad = 0
        if spec.lengthKind == .fixed {
            if spec.data != .binary && units < spec.length { pad = spec.length - units }
            // Text pads with spaces on the right, which BCD cannot hold.
            if spec.data == .bcd && pad > 0 && spec.padding != .left {
                throw ISO8583Error(.invalidValue, field: number, detail: "BCD field holds non-hex characters")
            }
            guard units + pad == spec.length else {
                throw ISO8583Error(units > spec.length ? .overlong : .invalidLength, field: number, detail: "\(units) units, fixed length \(spec.length)")
            }
        } else {
            let count = Self.count(units: units, bytes: byteCount, unit: spec.lengthUnit)
            guard count <= spec.length else { throw ISO8583Error(.overlong, field: number, detail: "\(count) exceeds the maximum \(spec.length)") }
            try Self.encodeLength(count, spec, number: number, into: &out)
        }
        switch spec.data {
        case .ascii:
            let filler: UInt8 = spec.padding == .left ? 0x30 : 0x20
            if spec.padding == .left { for _ in 0..<pad { out.append(filler) } }
            out.append(contentsOf: value)
            if spec.padding != .left { for _ in 0..<pad { out.append(filler) } }
        case .bcd:
            // Padding a fixed BCD field adds "0" digits on the left (a right pad was refused above).
            let digits = spec.padding == .left ? pad : 0
            Self.packBCD(value, zeros: digits, padLeft: spec.padding == .left, pad: spec.padValue ?? 0, into: &out)
        case .binary:
            var index = 0
            while index < value.count {
                out.append(Self.hexValue(value[index])! << 4 | Self.hexValue(value[index + 1])!)
                index += 2
            }
        }
    }

    static func count(units: Int, bytes: Int, unit: FieldSpec.LengthUnit) -> Int {
        switch unit {
        case .units: units
        case .bytes: bytes
        case .nibbles: bytes * 2
        }
    }

    static func encodeLength(_ count: Int, _ spec: FieldLayout, number: Int, into out: inout [UInt8]) throws(ISO8583Error) {
        let digits = spec.lengthKind.digits
        guard count >= 0, count < Self.powersOfTen[digits] else {
            throw ISO8583Error(.overlong, field: number, detail: "length \(count) does not fit \(digits) digits")
        }
        switch spec.lengthEncoding {
        case .ascii:
            for place in stride(from: digits - 1, through: 0, by: -1) { out.append(UInt8(0x30 + count / Self.powersOfTen[place] % 10)) }
        case .bcd:
            let width = (digits + 1) / 2 * 2
            for place in stride(from: width - 1, through: 0, by: -2) {
                out.append(UInt8(count / Self.powersOfTen[place] % 10) << 4 | UInt8(count / Self.powersOfTen[place - 1] % 10))
            }
        case .binary:
            if digits <= 2 { out.append(UInt8(count)) } else { out.append(contentsOf: [UInt8(count >> 8), UInt8(count & 0xFF)]) }
        }
    }

    private static let powersOfTen = [1, 10, 100, 1000, 10000, 100_000]

    // MARK: Decoding

    public static func decode(_ bytes: [UInt8], spec: MessageSpec) throws(ISO8583Error) -> ISO8583Message {
        let result = bytes.withUnsafeBufferPointer { buffer in
            Result { () throws(ISO8583Error) in try Self.decode(buffer, spec: spec) }
        }
        return try result.get()
    }

    static func decode(_ input: UnsafeBufferPointer<UInt8>, spec: MessageSpec) throws(ISO8583Error) -> ISO8583Message {
        var reader = Reader(bytes: input)
        let mtiBytes = try reader.take(spec.mti == .ascii ? 4 : 2, field: 0)
        let mti: String
        if spec.mti == .ascii {
            guard mtiBytes.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
                throw ISO8583Error(.invalidValue, field: 0, detail: "MTI \(String(decoding: mtiBytes, as: UTF8.self)) is not 4 digits")
            }
            mti = String(decoding: mtiBytes, as: UTF8.self)
        } else {
            mti = Self.hex(mtiBytes)
            guard mtiBytes.allSatisfy({ $0 >> 4 <= 9 && $0 & 0x0F <= 9 }) else { throw ISO8583Error(.invalidValue, field: 0, detail: "MTI \(mti) is not 4 digits") }
        }
        let primary = try Self.readBitmap(&reader, spec.bitmap)
        let secondary = primary & (1 << 63) != 0 ? try Self.readBitmap(&reader, spec.bitmap) : 0
        var fields: [Int: String] = Dictionary(minimumCapacity: primary.nonzeroBitCount + secondary.nonzeroBitCount)
        var last = 1
        // Bit 65 (a tertiary bitmap's) is not used.
        for number in FieldNumbers(primary: primary, secondary: secondary & ~(1 << 63)) {
            guard let field = spec.field(number) else {
                throw ISO8583Error(.unknownField, field: number, detail: "present in the bitmap, not in the spec \(spec.name)")
            }
            fields[number] = try Self.decodeField(&reader, field, number: number)
            last = number
        }
        guard reader.isEmpty else {
            throw ISO8583Error(.trailingBytes, field: last, detail: "\(reader.remaining) bytes after the last field")
        }
        return ISO8583Message(mti: mti, fields: fields)
    }

    /// A cursor over the input.
    struct Reader {
        let bytes: UnsafeBufferPointer<UInt8>
        var offset = 0

        var remaining: Int { self.bytes.count - self.offset }
        var isEmpty: Bool { self.offset == self.bytes.count }

        mutating func take(_ count: Int, field: Int) throws(ISO8583Error) -> UnsafeBufferPointer<UInt8> {
            guard self.remaining >= count else {
                throw ISO8583Error(.truncated, field: field, detail: "needs \(count) bytes, \(self.remaining) left")
            }
            defer { self.offset += count }
            return UnsafeBufferPointer(rebasing: self.bytes[self.offset..<self.offset + count])
        }
    }

    static func readBitmap(_ reader: inout Reader, _ encoding: MessageSpec.BitmapEncoding) throws(ISO8583Error) -> UInt64 {
        var word: UInt64 = 0
        switch encoding {
        case .binary:
            for byte in try reader.take(8, field: 1) { word = word << 8 | UInt64(byte) }
        case .asciiHex:
            for character in try reader.take(16, field: 1) {
                guard let nibble = Self.hexValue(character) else { throw ISO8583Error(.invalidValue, field: 1, detail: "bitmap is not hex") }
                word = word << 4 | UInt64(nibble)
            }
        }
        return word
    }

    static func decodeField(_ reader: inout Reader, _ spec: FieldLayout, number: Int) throws(ISO8583Error) -> String {
        var count = spec.length
        if spec.lengthKind != .fixed {
            count = try Self.readLength(&reader, spec, number: number)
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
        let data = try reader.take(byteCount, field: number)
        switch spec.data {
        case .ascii:
            guard data.allSatisfy({ $0 < 0x80 }) else { throw ISO8583Error(.invalidValue, field: number, detail: "non-ASCII byte") }
            return String(decoding: data, as: UTF8.self)
        case .binary:
            return Self.hex(data)
        case .bcd:
            // The digits, without the pad nibble when the count is odd.
            let wanted = spec.lengthUnit == .units ? count : data.count * 2
            let skip = data.count * 2 > wanted ? 1 : 0
            return Self.hex(data, dropFirst: spec.padding == .left ? skip : 0, dropLast: spec.padding == .left ? 0 : skip)
        }
    }

    static func readLength(_ reader: inout Reader, _ spec: FieldLayout, number: Int) throws(ISO8583Error) -> Int {
        let digits = spec.lengthKind.digits
        switch spec.lengthEncoding {
        case .ascii:
            var value = 0
            for byte in try reader.take(digits, field: number) {
                guard byte >= 0x30 && byte <= 0x39 else { throw ISO8583Error(.invalidLength, field: number, detail: "length prefix is not ASCII digits") }
                value = value * 10 + Int(byte - 0x30)
            }
            return value
        case .bcd:
            var value = 0
            let bytes = try reader.take((digits + 1) / 2, field: number)
            for byte in bytes {
                guard byte >> 4 <= 9, byte & 0x0F <= 9 else {
                    throw ISO8583Error(.invalidLength, field: number, detail: "length prefix \(Self.hex(bytes)) is not BCD")
                }
                value = value * 100 + Int(byte >> 4) * 10 + Int(byte & 0x0F)
            }
            return value
        case .binary:
            return try reader.take(digits <= 2 ? 1 : 2, field: number).reduce(0) { $0 << 8 | Int($1) }
        }
    }

    // MARK: Nibbles

    /// Uppercase hex of `bytes`, less `dropFirst`/`dropLast` digits, written straight into the string.
    static func hex(_ bytes: UnsafeBufferPointer<UInt8>, dropFirst: Int = 0, dropLast: Int = 0) -> String {
        let length = bytes.count * 2 - dropFirst - dropLast
        guard length > 0 else { return "" }
        return Self.hexDigits.withUnsafeBufferPointer { digits in
            String(unsafeUninitializedCapacity: length) { out in
                var written = 0
                for index in dropFirst..<(dropFirst + length) {
                    let byte = bytes[index >> 1]
                    out[written] = digits[Int(index & 1 == 0 ? byte >> 4 : byte & 0x0F)]
                    written += 1
                }
                return written
            }
        }
    }

    /// Packs hex characters into BCD: `zeros` leading zero digits first, then an odd count padded with
    /// `pad` on the left or right.
    static func packBCD(_ characters: UnsafeBufferPointer<UInt8>, zeros: Int = 0, padLeft: Bool, pad: UInt8, into out: inout [UInt8]) {
        let total = zeros + characters.count
        let odd = total % 2 == 1
        var pending: UInt8? = odd && padLeft ? pad : nil
        func push(_ nibble: UInt8) {
            if let high = pending {
                out.append(high << 4 | nibble)
                pending = nil
            } else {
                pending = nibble
            }
        }
        for _ in 0..<zeros { push(0) }
        for character in characters { push(Self.hexValue(character) ?? 0) }
        if let high = pending { out.append(high << 4 | pad) }
    }

    @inline(__always)
    static func hexValue(_ character: UInt8) -> UInt8? {
        switch character {
        case 0x30...0x39: character - 0x30
        case 0x41...0x46: character - 0x37
        case 0x61...0x66: character - 0x57
        default: nil
        }
    }
}

/// The field numbers a primary and a secondary bitmap name, in order. Bit 1 of the primary (a secondary
/// bitmap follows) names no field.
struct FieldNumbers: Sequence, IteratorProtocol {
    private var primary: UInt64
    private var secondary: UInt64

    init(primary: UInt64, secondary: UInt64) {
        self.primary = primary & ~(1 << 63)
        self.secondary = secondary
    }

    mutating func next() -> Int? {
        if self.primary != 0 { return Self.take(&self.primary) + 1 }
        if self.secondary != 0 { return Self.take(&self.secondary) + 65 }
        return nil
    }

    /// The highest set bit's position from the left (0 = the most significant), cleared.
    private static func take(_ word: inout UInt64) -> Int {
        let position = word.leadingZeroBitCount
        word &= ~(1 << UInt64(63 - position))
        return position
    }
}
