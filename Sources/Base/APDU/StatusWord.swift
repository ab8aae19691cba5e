import Bytes
/// The two status bytes SW1 SW2 that end every response APDU (ISO/IEC 7816-4 §5.1.3).
///
/// An open value: any 16-bit word is representable, and ``meaning`` explains every group ISO 7816-4 defines.
public struct StatusWord: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public init(sw1: UInt8, sw2: UInt8) { self.rawValue = UInt16(sw1) << 8 | UInt16(sw2) }

    public var sw1: UInt8 { UInt8(self.rawValue >> 8) }
    public var sw2: UInt8 { UInt8(self.rawValue & 0xFF) }

    /// `9000`: normal processing.
    public static let success = StatusWord(rawValue: 0x9000)
    /// `6282`: end of file or record reached before reading Ne bytes.
    public static let endOfFile = StatusWord(rawValue: 0x6282)
    /// `6283`: selected file deactivated (invalidated).
    public static let selectedFileInvalidated = StatusWord(rawValue: 0x6283)
    /// `6581`: memory failure.
    public static let memoryFailure = StatusWord(rawValue: 0x6581)
    /// `6700`: wrong length.
    public static let wrongLength = StatusWord(rawValue: 0x6700)
    /// `6982`: security status not satisfied.
    public static let securityStatusNotSatisfied = StatusWord(rawValue: 0x6982)
    /// `6983`: authentication method blocked (PIN blocked).
    public static let authenticationMethodBlocked = StatusWord(rawValue: 0x6983)
    /// `6984`: reference data not usable.
    public static let referenceDataNotUsable = StatusWord(rawValue: 0x6984)
    /// `6985`: conditions of use not satisfied.
    public static let conditionsOfUseNotSatisfied = StatusWord(rawValue: 0x6985)
    /// `6986`: command not allowed (no current EF).
    public static let commandNotAllowed = StatusWord(rawValue: 0x6986)
    /// `6A80`: incorrect parameters in the command data field.
    public static let incorrectData = StatusWord(rawValue: 0x6A80)
    /// `6A81`: function not supported (on social security cards: application locked).
    public static let functionNotSupported = StatusWord(rawValue: 0x6A81)
    /// `6A82`: file or application not found.
    public static let fileNotFound = StatusWord(rawValue: 0x6A82)
    /// `6A83`: record not found.
    public static let recordNotFound = StatusWord(rawValue: 0x6A83)
    /// `6A84`: not enough memory space in the file.
    public static let notEnoughMemory = StatusWord(rawValue: 0x6A84)
    /// `6A86`: incorrect parameters P1-P2.
    public static let incorrectP1P2 = StatusWord(rawValue: 0x6A86)
    /// `6A88`: referenced data or reference data not found.
    public static let referencedDataNotFound = StatusWord(rawValue: 0x6A88)
    /// `6B00`: wrong parameters P1-P2 (offset outside the EF).
    public static let wrongP1P2 = StatusWord(rawValue: 0x6B00)
    /// `6D00`: instruction code not supported or invalid.
    public static let instructionNotSupported = StatusWord(rawValue: 0x6D00)
    /// `6E00`: class not supported.
    public static let classNotSupported = StatusWord(rawValue: 0x6E00)
    /// `6F00`: no precise diagnosis.
    public static let noPreciseDiagnosis = StatusWord(rawValue: 0x6F00)
    /// `9303`: application permanently locked (social security cards).
    public static let applicationPermanentlyLocked = StatusWord(rawValue: 0x9303)

    /// `9000`, or `61xx` (which the exchange rules resolve before a caller sees it).
    public var isSuccess: Bool { self.rawValue == 0x9000 || self.sw1 == 0x61 }
    /// `62xx` / `63xx`: processed with a warning.
    public var isWarning: Bool { self.sw1 == 0x62 || self.sw1 == 0x63 }

    /// `61xx`: this many more response bytes wait for GET RESPONSE (`00` means 256 or more).
    public var bytesAvailable: Int? { self.sw1 == 0x61 ? (self.sw2 == 0 ? 256 : Int(self.sw2)) : nil }
    /// `6Cxx`: the card wants the command again with exactly this Le (`00` means 256).
    public var exactLength: Int? { self.sw1 == 0x6C ? (self.sw2 == 0 ? 256 : Int(self.sw2)) : nil }
    /// `63Cx`: a verification failed and `x` tries remain.
    public var triesRemaining: Int? { self.sw1 == 0x63 && self.sw2 & 0xF0 == 0xC0 ? Int(self.sw2 & 0x0F) : nil }

    /// What ISO/IEC 7816-4 says this status word means, in English, for logs and field engineers.
    public var meaning: String {
        switch self.rawValue {
        case 0x9000: return "normal processing"
        case 0x6200: return "warning: state of non-volatile memory unchanged"
        case 0x6281: return "warning: part of returned data may be corrupted"
        case 0x6282: return "warning: end of file or record reached before reading Ne bytes"
        case 0x6283: return "warning: selected file deactivated"
        case 0x6284: return "warning: file control information not formatted correctly"
        case 0x6285: return "warning: selected file in termination state"
        case 0x6300: return "warning: verification failed"
        case 0x6381: return "warning: file filled up by the last write"
        case 0x6400: return "error: execution error, state of non-volatile memory unchanged"
        case 0x6501: return "error: memory failure"
        case 0x6581: return "error: memory failure"
        case 0x6700: return "error: wrong length"
        case 0x6800: return "error: functions in CLA not supported"
        case 0x6881: return "error: logical channel not supported"
        case 0x6882: return "error: secure messaging not supported"
        case 0x6883: return "error: last command of the chain expected"
        case 0x6884: return "error: command chaining not supported"
        case 0x6900: return "error: command not allowed"
        case 0x6981: return "error: command incompatible with file structure"
        case 0x6982: return "error: security status not satisfied"
        case 0x6983: return "error: authentication method blocked"
        case 0x6984: return "error: reference data not usable"
        case 0x6985: return "error: conditions of use not satisfied"
        case 0x6986: return "error: command not allowed (no current EF)"
        case 0x6987: return "error: expected secure messaging data objects missing"
        case 0x6988: return "error: incorrect secure messaging data objects"
        case 0x6A00: return "error: wrong parameters P1-P2"
        case 0x6A80: return "error: incorrect parameters in the command data field"
        case 0x6A81: return "error: function not supported"
        case 0x6A82: return "error: file or application not found"
        case 0x6A83: return "error: record not found"
        case 0x6A84: return "error: not enough memory space in the file"
        case 0x6A85: return "error: Nc inconsistent with TLV structure"
        case 0x6A86: return "error: incorrect parameters P1-P2"
        case 0x6A87: return "error: Nc inconsistent with parameters P1-P2"
        case 0x6A88: return "error: referenced data or reference data not found"
        case 0x6A89: return "error: file already exists"
        case 0x6A8A: return "error: DF name already exists"
        case 0x6B00: return "error: wrong parameters P1-P2"
        case 0x6D00: return "error: instruction code not supported or invalid"
        case 0x6E00: return "error: class not supported"
        case 0x6F00: return "error: no precise diagnosis"
        case 0x9303: return "error: application permanently locked"
        default: break
        }
        switch self.sw1 {
        case 0x61: return "more data: \(self.bytesAvailable ?? 0) bytes available with GET RESPONSE"
        case 0x6C: return "wrong Le: resend with Le = \(self.exactLength ?? 0)"
        case 0x63 where self.sw2 & 0xF0 == 0xC0: return "warning: verification failed, \(self.sw2 & 0x0F) tries remaining"
        case 0x62: return "warning: state of non-volatile memory unchanged"
        case 0x63: return "warning: state of non-volatile memory changed"
        case 0x64: return "error: execution error, state of non-volatile memory unchanged"
        case 0x65: return "error: execution error, state of non-volatile memory changed"
        case 0x66: return "error: security-related issue"
        case 0x67: return "error: wrong length"
        case 0x68: return "error: functions in CLA not supported"
        case 0x69: return "error: command not allowed"
        case 0x6A: return "error: wrong parameters P1-P2"
        case 0x6B: return "error: wrong parameters P1-P2"
        case 0x6D: return "error: instruction code not supported or invalid"
        case 0x6E: return "error: class not supported"
        case 0x6F: return "error: no precise diagnosis"
        case 0x90, 0x91, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F:
            return "proprietary status"
        default: return "not an ISO 7816-4 status word"
        }
    }

    /// `SW 6A82 (error: file or application not found)`.
    public var description: String { "SW \(Hex.encode([self.sw1, self.sw2])) (\(self.meaning))" }
}
