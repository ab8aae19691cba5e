public import APDU
import Identity
#if canImport(Glibc)
import Glibc
#endif

/// The terminal's side of the data a card may ask for in its PDOL. Fixed values fit an unattended,
/// online-only bank kiosk in China; date, time and the unpredictable number come from the caller, so
/// the PDOL data is a pure function of this value.
public struct TerminalData: Hashable, Sendable {
    /// `YYMMDD` (`9A`).
    public var date: [UInt8]
    /// `HHMMSS` (`9F21`).
    public var time: [UInt8]
    /// `9F37`, 4 random bytes.
    public var unpredictableNumber: [UInt8]
    /// Values by tag, for every tag the kiosk knows.
    public var extra: [TLVTag: [UInt8]] = [:]

    public init(date: [UInt8], time: [UInt8], unpredictableNumber: [UInt8]) {
        self.date = date
        self.time = time
        self.unpredictableNumber = unpredictableNumber
    }

    /// Today's date and time (UTC+8, as a Chinese terminal keeps it) and a fresh random number.
    public static func now() -> TerminalData {
        let seconds = Int(Glibc.time(nil)) + CalendarDate.chinaUTCOffset
        let today = CalendarDate(daysSince1970: seconds / 86_400)
        let (y, m, d) = (today.year, today.month, today.day)
        let secondOfDay = seconds % 86_400
        func bcd(_ n: Int) -> UInt8 { UInt8((n / 10) << 4 | (n % 10)) }
        var generator = SystemRandomNumberGenerator()
        return TerminalData(
            date: [bcd(y % 100), bcd(m), bcd(d)],
            time: [bcd(secondOfDay / 3600), bcd(secondOfDay / 60 % 60), bcd(secondOfDay % 60)],
            unpredictableNumber: (0..<4).map { _ in generator.next() })
    }

    /// Tags whose values are numeric (`n`) and fitted from the right.
    static let numericTags: Set<TLVTag> = [0x9F02, 0x9F03, 0x9F1A, 0x5F2A, 0x9A, 0x9F21, 0x9C]

    /// The value for `tag`; empty when the kiosk has none (filled with zeros).
    public func value(for tag: TLVTag) -> [UInt8] {
        if let value = self.extra[tag] { return value }
        switch tag.value {
        case 0x9F66: return [0x46, 0x00, 0x00, 0x80]  // TTQ: contact EMV/PBOC, online capable
        case 0x9F02, 0x9F03: return [0, 0, 0, 0, 0, 0]  // amounts: no money moves
        case 0x9F1A: return [0x01, 0x56]  // terminal country: China
        case 0x5F2A: return [0x01, 0x56]  // currency: CNY
        case 0x95: return [0, 0, 0, 0, 0]  // TVR
        case 0x9A: return self.date
        case 0x9F21: return self.time
        case 0x9C: return [0x31]  // transaction type: inquiry
        case 0x9F37: return self.unpredictableNumber
        case 0x9F35: return [0x14]  // financial institution, unattended, online only
        case 0x9F33: return [0x20, 0x40, 0x00]  // IC only, enciphered PIN online, no CVM else
        case 0x9F40: return [0x40, 0x00, 0x00, 0x00, 0x00]  // additional capabilities: inquiry
        case 0x9F7A: return [0x00]  // no electronic cash
        default: return []
        }
    }
}

