import Bytes
/// PC/SC part 10 reader features, as a reader reports them for `CM_IOCTL_GET_FEATURE_REQUEST`:
/// a list of `{tag, length 4, control code big-endian}` entries.
public struct ReaderFeatures: Hashable, Sendable {
    /// A part 10 feature tag.
    public struct Feature: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let verifyPINStart = Feature(rawValue: 0x01)
        public static let verifyPINFinish = Feature(rawValue: 0x02)
        public static let modifyPINStart = Feature(rawValue: 0x03)
        public static let modifyPINFinish = Feature(rawValue: 0x04)
        public static let getKeyPressed = Feature(rawValue: 0x05)
        /// `FEATURE_VERIFY_PIN_DIRECT`: the reader's keypad enters the PIN into a VERIFY APDU.
        public static let verifyPINDirect = Feature(rawValue: 0x06)
        /// `FEATURE_MODIFY_PIN_DIRECT`.
        public static let modifyPINDirect = Feature(rawValue: 0x07)
        public static let mctReaderDirect = Feature(rawValue: 0x08)
        public static let mctUniversal = Feature(rawValue: 0x09)
        /// `FEATURE_IFD_PIN_PROPERTIES`.
        public static let ifdPINProperties = Feature(rawValue: 0x0A)
        public static let abort = Feature(rawValue: 0x0B)
        public static let setSPEMessage = Feature(rawValue: 0x0C)
        public static let verifyPINDirectAppID = Feature(rawValue: 0x0D)
        public static let modifyPINDirectAppID = Feature(rawValue: 0x0E)
        public static let writeDisplay = Feature(rawValue: 0x0F)
        public static let getKey = Feature(rawValue: 0x10)
        public static let ifdDisplayProperties = Feature(rawValue: 0x11)
        /// `FEATURE_GET_TLV_PROPERTIES`: reader properties as TLVs (see ``ReaderProperties``).
        public static let getTLVProperties = Feature(rawValue: 0x12)
        public static let ccidEscCommand = Feature(rawValue: 0x13)
        public static let executePACE = Feature(rawValue: 0x20)

        public var description: String {
            let names: [UInt8: String] = [
                0x01: "VERIFY_PIN_START", 0x02: "VERIFY_PIN_FINISH", 0x03: "MODIFY_PIN_START", 0x04: "MODIFY_PIN_FINISH",
                0x05: "GET_KEY_PRESSED", 0x06: "VERIFY_PIN_DIRECT", 0x07: "MODIFY_PIN_DIRECT", 0x08: "MCT_READER_DIRECT",
                0x09: "MCT_UNIVERSAL", 0x0A: "IFD_PIN_PROPERTIES", 0x0B: "ABORT", 0x0C: "SET_SPE_MESSAGE",
                0x0D: "VERIFY_PIN_DIRECT_APP_ID", 0x0E: "MODIFY_PIN_DIRECT_APP_ID", 0x0F: "WRITE_DISPLAY", 0x10: "GET_KEY",
                0x11: "IFD_DISPLAY_PROPERTIES", 0x12: "GET_TLV_PROPERTIES", 0x13: "CCID_ESC_COMMAND", 0x20: "EXECUTE_PACE",
            ]
            return names[self.rawValue] ?? "FEATURE_0x\(String(self.rawValue, radix: 16, uppercase: true))"
        }
    }

    /// The control code for each feature the reader offers.
    public let controlCodes: [Feature: UInt32]

    public init(controlCodes: [Feature: UInt32]) { self.controlCodes = controlCodes }

    /// Parses the answer to `CM_IOCTL_GET_FEATURE_REQUEST`.
    /// - Throws: ``ReaderError/Code/malformedResponse`` when an entry is cut short or not 4 bytes long.
    public init(featureResponse bytes: [UInt8]) throws(ReaderError) {
        var codes: [Feature: UInt32] = [:]
        var index = 0
        while index < bytes.count {
            guard index + 2 <= bytes.count, bytes[index + 1] == 4, index + 6 <= bytes.count else {
                throw ReaderError(.malformedResponse, message: "feature list entry at offset \(index) is malformed")
            }
            let value = bytes[(index + 2)..<(index + 6)].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            codes[Feature(rawValue: bytes[index])] = value
            index += 6
        }
        self.controlCodes = codes
    }

    /// The control code for `feature`, or `nil` if the reader does not offer it.
    public subscript(feature: Feature) -> UInt32? { self.controlCodes[feature] }
}

/// Reader properties from `FEATURE_GET_TLV_PROPERTIES`: `{tag, length, value little-endian}` entries.
public struct ReaderProperties: Hashable, Sendable {
    /// Raw values by property tag; integers are decoded little-endian.
    public let values: [UInt8: [UInt8]]

    /// Parses the reader's answer.
    /// - Throws: ``ReaderError/Code/malformedResponse`` when an entry runs past the end.
    public init(tlv bytes: [UInt8]) throws(ReaderError) {
        var values: [UInt8: [UInt8]] = [:]
        var index = 0
        while index < bytes.count {
            guard index + 2 <= bytes.count else {
                throw ReaderError(.malformedResponse, message: "property entry at offset \(index) is cut short")
            }
            let length = Int(bytes[index + 1])
            guard index + 2 + length <= bytes.count else {
                throw ReaderError(.malformedResponse, message: "property \(bytes[index]) runs past the end")
            }
            values[bytes[index]] = Array(bytes[(index + 2)..<(index + 2 + length)])
            index += 2 + length
        }
        self.values = values
    }

    private func integer(_ tag: UInt8) -> Int? {
        guard let raw = self.values[tag], !raw.isEmpty, raw.count <= 4 else { return nil }
        return raw.reversed().reduce(0) { $0 << 8 | Int($1) }
    }

    /// `wLcdLayout`: 0 when the reader has no display.
    public var lcdLayout: Int? { self.integer(1) }
    /// `bMinPINSize`.
    public var minimumPINSize: Int? { self.integer(6) }
    /// `bMaxPINSize`.
    public var maximumPINSize: Int? { self.integer(7) }
    /// `sFirmwareID`.
    public var firmwareID: String? { self.values[8].map { String(decoding: $0, as: UTF8.self) } }
    /// `dwMaxAPDUDataSize`: the largest APDU data the reader passes (0 = short APDUs only).
    public var maximumAPDUDataSize: Int? { self.integer(10) }
    /// `wIdVendor`.
    public var vendorID: Int? { self.integer(11) }
    /// `wIdProduct`.
    public var productID: Int? { self.integer(12) }
}

/// The `PIN_VERIFY_STRUCTURE` for `FEATURE_VERIFY_PIN_DIRECT` (PC/SC part 10 §2.5.2; pcsc-lite `reader.h`):
/// the reader's own keypad collects the PIN and inserts it into `apduTemplate`, so the host never sees it.
/// The defaults fit a 6-digit PIN packed as 3 BCD bytes at the start of the VERIFY data field, as social
/// security cards use (`00 20 00 00 03 xx xx xx`).
public struct PINVerifyStructure: Hashable, Sendable {
    public var timeout: UInt8 = 30
    public var timeoutAfterFirstKey: UInt8 = 15
    /// `bmFormatString`: bit 7 units (1 = bytes), bits 6-3 PIN position, bit 2 justification (0 = left),
    /// bits 1-0 format (00 binary, 01 BCD, 10 ASCII). 0x81 = bytes, position 0, left, BCD.
    public var formatString: UInt8 = 0x81
    /// `bmPINBlockString`: bits 7-4 PIN length size in bits (0 = none), bits 3-0 PIN block size in bytes.
    public var pinBlockString: UInt8 = 0x03
    /// `bmPINLengthFormat`.
    public var pinLengthFormat: UInt8 = 0x00
    public var minimumDigits: UInt8 = 6
    public var maximumDigits: UInt8 = 6
    /// `bEntryValidationCondition`: 0x02 = validation key pressed.
    public var entryValidationCondition: UInt8 = 0x02
    public var numberOfMessages: UInt8 = 0x01
    /// `wLangId`: 0x0804 = Chinese (Simplified, PRC).
    public var languageID: UInt16 = 0x0804
    /// The VERIFY APDU the reader completes with the PIN.
    public var apduTemplate: [UInt8]

    public init(apduTemplate: [UInt8]) { self.apduTemplate = apduTemplate }

    /// The packed little-endian structure to pass to `SCardControl`.
    public var bytes: [UInt8] {
        var out: [UInt8] = [
            self.timeout, self.timeoutAfterFirstKey, self.formatString, self.pinBlockString, self.pinLengthFormat,
            self.maximumDigits, self.minimumDigits,  // wPINMaxExtraDigit = 0xXXYY, XX min, YY max; little-endian
            self.entryValidationCondition, self.numberOfMessages,
            UInt8(self.languageID & 0xFF), UInt8(self.languageID >> 8),
            0x00,  // bMsgIndex
            0x00, 0x00, 0x00,  // bTeoPrologue
        ]
        let length = UInt32(self.apduTemplate.count)
        out += [UInt8(length & 0xFF), UInt8((length >> 8) & 0xFF), UInt8((length >> 16) & 0xFF), UInt8(length >> 24)]
        out += self.apduTemplate
        return out
    }
}

extension ReaderFeatures {
    /// `CM_IOCTL_GET_FEATURE_REQUEST` = `SCARD_CTL_CODE(3400)` on pcsc-lite (`0x42000000 + 3400`).
    public static let getFeatureRequestControlCode: UInt32 = 0x4200_0000 + 3400
}
