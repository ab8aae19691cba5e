import Foundation
import Identity
import Testing

/// The hand-written timestamps say what Foundation's formatters say, without their ICU.
@Suite struct TimestampTests {
    static let instants: [Double] = [0, 1_764_689_053.741, 1_764_689_053.9996, 951_782_400.5, 4_102_444_799.999, 1_700_000_000]

    @Test("RFC 3339 in UTC: the same text as ISO8601DateFormatter, with and without milliseconds")
    func rfc3339() {
        let plain = ISO8601DateFormatter()
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        for instant in Self.instants {
            let date = Date(timeIntervalSince1970: instant)
            #expect(Timestamp.rfc3339(secondsSince1970: instant, milliseconds: false) == plain.string(from: date))
            #expect(Timestamp.rfc3339(secondsSince1970: instant) == fractional.string(from: date))
        }
        #expect(Timestamp.rfc3339(secondsSince1970: 1_764_689_053.741) == "2025-12-02T15:24:13.741Z")
        #expect(Timestamp.rfc3339(secondsSince1970: 1_764_689_053.9996) == "2025-12-02T15:24:14.000Z")
        #expect(Timestamp.sqlite(secondsSince1970: 951_782_400.5) == "2000-02-29 00:00:00.500")
    }

    @Test("SQLite's form: the text GRDB stores for a date (yyyy-MM-dd HH:mm:ss.SSS, UTC)")
    func sqlite() {
        let format = DateFormatter()
        format.locale = Locale(identifier: "en_US_POSIX")
        format.timeZone = TimeZone(secondsFromGMT: 0)
        format.dateFormat = "yyyy-MM-dd HH:mm:ss.SSS"
        for instant in Self.instants {
            #expect(Timestamp.sqlite(secondsSince1970: instant) == format.string(from: Date(timeIntervalSince1970: instant)))
        }
    }
}
