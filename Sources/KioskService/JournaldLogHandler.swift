import Foundation
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
        var fields = self.metadata
        if let extra = event.metadata { fields.merge(extra) { $1 } }
        let rendered = fields.keys.sorted().map { "\($0)=\(fields[$0]!)" }.joined(separator: " ")
        var line = "<\(Self.priority(event.level))>"
        if self.timestamps { line += Self.stamp() + " " }
        line += "\(self.label): \(event.message)"
        if !rendered.isEmpty { line += " [\(rendered)]" }
        line += "\n"
        Self.lock.withLock { _ in FileHandle.standardError.write(Data(line.utf8)) }
    }

    private static let lock = Mutex(())

    private static func stamp() -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: Date())
    }
}
