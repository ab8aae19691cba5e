import Foundation
import Identity
public import Logging
import Synchronization

/// swift-log to stderr with the kernel-style priority prefix journald reads (`<3>` error … `<7>` debug), so
/// `journalctl -p warning` works without libsystemd. Nothing personal is logged by kioskd's code: card
/// and ID numbers only appear masked (tests check the daemon's output).
public struct JournaldLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    private let label: String
    /// Timestamps are added when not run by systemd (journald stamps its own).
    private let timestamps: Bool

    /// - Parameter timestamps: `nil` = only when not run by systemd (no `$JOURNAL_STREAM`).
    public init(label: String, timestamps: Bool? = nil) {
        self.label = label
        self.timestamps = timestamps ?? (ProcessInfo.processInfo.environment["JOURNAL_STREAM"] == nil)
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    /// The syslog priority of a level (RFC 5424).
    public static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    public func log(event: LogEvent) {
        let line = self.render(event)
        Self.lock.withLock { _ in FileHandle.standardError.write(Data(line.utf8)) }
    }

    /// The event as one line, newline included. Text that came from outside (a reader's name, a card's or
    /// a bank's error text) is escaped: a control character cannot end the line and forge another one,
    /// and a metadata value with a space, `=`, `]` or `"` is quoted so the fields still parse.
    func render(_ event: LogEvent) -> String {
        var fields = self.metadata
        if let extra = event.metadata { fields.merge(extra) { $1 } }
        let rendered = fields.keys.sorted().map { "\(Self.escape($0))=\(Self.field("\(fields[$0]!)"))" }.joined(separator: " ")
        var line = "<\(Self.priority(event.level))>"
        if self.timestamps { line += Self.stamp() + " " }
        line += "\(Self.escape(self.label)): \(Self.escape("\(event.message)"))"
        if !rendered.isEmpty { line += " [\(rendered)]" }
        return line + "\n"
    }

    /// `text` with control characters (C0, DEL, C1, the Unicode line and paragraph separators) and the
    /// backslash written as escapes: `\n`, `\r`, `\t`, `\\`, `\u{1B}`.
    static func escape(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": escaped += "\\n"
            case "\r": escaped += "\\r"
            case "\t": escaped += "\\t"
            case "\\": escaped += "\\\\"
            case "\u{00}"..."\u{1F}", "\u{7F}"..."\u{9F}", "\u{2028}", "\u{2029}":
                escaped += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
            default: escaped.unicodeScalars.append(scalar)
            }
        }
        return escaped
    }

    /// A metadata value: escaped, and quoted when it holds a space, `=`, `]`, `"` or nothing.
    static func field(_ value: String) -> String {
        let escaped = Self.escape(value)
        guard escaped.isEmpty || escaped.contains(where: { $0 == " " || $0 == "=" || $0 == "]" || $0 == "\"" }) else { return escaped }
        return "\"" + escaped.replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    private static let lock = Mutex(())

    private static func stamp() -> String { Timestamp.rfc3339(secondsSince1970: Date().timeIntervalSince1970) }
}
