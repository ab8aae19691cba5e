#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// UTC timestamps as text, written by hand from `gmtime_r`: RFC 3339 for logs and the socket
/// (`2026-12-02T15:24:13.741Z`), and SQLite's `yyyy-MM-dd HH:mm:ss.SSS` (GRDB's storage format for dates).
///
/// Foundation's `ISO8601DateFormatter`, and GRDB's encoding of a `Date` argument (a `DateFormatter`), open
/// an ICU calendar on Linux: the first log line and the first journal write made kioskd touch about 5 MiB of
/// ICU data (measured with `perf record -e page-faults`), for formats that never depend on the locale.
public enum Timestamp {
    /// `2026-12-02T15:24:13.741Z` (`milliseconds` false: `2026-12-02T15:24:13Z`).
    public static func rfc3339(secondsSince1970 interval: Double, milliseconds: Bool = true) -> String {
        Self.format(interval, dateTimeSeparator: "T", milliseconds: milliseconds, zulu: true)
    }

    /// `2026-12-02 15:24:13.741`, as SQLite's date functions and GRDB read it.
    public static func sqlite(secondsSince1970 interval: Double) -> String {
        Self.format(interval, dateTimeSeparator: " ", milliseconds: true, zulu: false)
    }

    private static func format(_ interval: Double, dateTimeSeparator: String, milliseconds: Bool, zulu: Bool) -> String {
        // To the nearest millisecond (then the milliseconds are dropped, if not shown), as Foundation's formatters do.
        let total = Int64((interval * 1000).rounded())
        var seconds = time_t(total.quotientAndRemainder(dividingBy: 1000).quotient)
        var millis = Int(total.quotientAndRemainder(dividingBy: 1000).remainder)
        if millis < 0 {
            seconds -= 1
            millis += 1000
        }
        var parts = tm()
        gmtime_r(&seconds, &parts)
        var out = ""
        out.reserveCapacity(24)
        func digits(_ value: Int, _ width: Int) {
            let text = String(value)
            for _ in text.utf8.count..<max(width, text.utf8.count) { out += "0" }
            out += text
        }
        digits(Int(parts.tm_year) + 1900, 4)
        out += "-"
        digits(Int(parts.tm_mon) + 1, 2)
        out += "-"
        digits(Int(parts.tm_mday), 2)
        out += dateTimeSeparator
        digits(Int(parts.tm_hour), 2)
        out += ":"
        digits(Int(parts.tm_min), 2)
        out += ":"
        digits(Int(parts.tm_sec), 2)
        if milliseconds {
            out += "."
            digits(millis, 3)
        }
        if zulu { out += "Z" }
        return out
    }
}
