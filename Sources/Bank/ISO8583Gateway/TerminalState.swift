import Dispatch
public import Foundation
import Glibc
import Synchronization

/// This terminal's STANs and the identifiers of the requests it sent, in a small file that is fsynced
/// before any request using them leaves: STANs are unique per terminal per business day (UTC+8) across
/// restarts, and an inquiry or reversal after a crash finds the original's identifiers.
///
/// The file holds no PAN (masked only) and no PIN block. An original is kept as long as its activation is
/// unsettled in the journal (an inquiry or reversal needs its identifiers, however late), and for
/// `retentionDays` after it was settled (``markSettled(_:)``; late answers still find it). Originals written
/// before settlement was tracked go by their own day, as before.
/// A file that cannot be read stops the gateway (an error naming it) instead of restarting the STANs.
///
/// Changes are written and fsynced on a serial queue of the state's own, never on the caller's thread (the
/// cooperative pool waits, it does not block), and readers of the current state never wait for an fsync.
public final class TerminalState: Sendable {
    struct Snapshot: Codable, Equatable {
        var terminalID: String
        var day: String
        var lastSTAN: Int
        var batch: String
        var originals: [String: OriginalRecord]
    }

    /// The local date and time the gateway stamps messages with.
    public struct Stamp: Hashable, Sendable {
        /// `YYYYMMDD`
        public var day: String
        /// `MMDD` (field 13)
        public var date: String
        /// `hhmmss` (field 12)
        public var time: String
    }

    public let path: String
    public let retentionDays: Int
    private let clock: @Sendable () -> Date
    private let state: Mutex<Snapshot>
    /// Runs every change, one at a time: read, change, write and fsync, then publish.
    private let writer = DispatchQueue(label: "terminal-state")

    /// Opens (or creates) the state file at `path` for `terminalID`.
    /// - Parameter clock: the current time (tests move it across midnight).
    public init(path: String, terminalID: String, retentionDays: Int = 7, clock: @escaping @Sendable () -> Date = { Date() }) throws(ISO8583GatewayError) {
        self.path = path
        self.retentionDays = retentionDays
        self.clock = clock
        var snapshot = Snapshot(terminalID: terminalID, day: Self.stamp(clock()).day, lastSTAN: 0, batch: "000001", originals: [:])
        if FileManager.default.fileExists(atPath: path) {
            guard let data = FileManager.default.contents(atPath: path), let stored = try? JSONDecoder().decode(Snapshot.self, from: data) else {
                throw .encoding("terminal state file \(path) is unreadable; STANs cannot be allocated safely (restore it or move it away after reconciling)")
            }
            guard stored.terminalID == terminalID else {
                throw .encoding("terminal state file \(path) belongs to terminal \(stored.terminalID), not \(terminalID)")
            }
            snapshot = stored
        }
        self.state = Mutex(snapshot)
    }

    /// The time now, as the gateway stamps it (UTC+8).
    public func now() -> Stamp { Self.stamp(self.clock()) }

    /// `date` as the gateway stamps it (UTC+8).
    public static func stamp(_ date: Date) -> Stamp {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(secondsFromGMT: 8 * 3600)!
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        func two(_ value: Int?) -> String { String(format: "%02d", value ?? 0) }
        let mmdd = two(parts.month) + two(parts.day)
        return Stamp(day: String(format: "%04d", parts.year ?? 0) + mmdd, date: mmdd, time: two(parts.hour) + two(parts.minute) + two(parts.second))
    }

    /// The next STAN of today, persisted before it is returned. STANs start at 000001 each day and never
    /// repeat within a day (999999 is the last; the next request is refused).
    public func nextSTAN() async throws(ISO8583GatewayError) -> (stan: String, stamp: Stamp) {
        try await self.update { snapshot, stamp throws(ISO8583GatewayError) in
            let stan = try Self.advance(&snapshot, stamp: stamp)
            return (stan, stamp)
        }
    }

    /// Allocates a STAN for a request with `key` and records its identifiers (built by `make`), durably.
    /// The same key asked again returns the first record: a retry reuses the original's identifiers.
    public func original(
        for key: String, make: @escaping @Sendable (_ stan: String, _ stamp: Stamp, _ batch: String) -> OriginalRecord
    ) async throws(ISO8583GatewayError) -> OriginalRecord {
        try await self.update { snapshot, stamp throws(ISO8583GatewayError) in
            if let known = snapshot.originals[key] { return known }
            let stan = try Self.advance(&snapshot, stamp: stamp)
            let record = make(stan, stamp, snapshot.batch)
            snapshot.originals[key] = record
            return record
        }
    }

    /// The recorded original of `key`, if this terminal sent one.
    public func original(for key: String) -> OriginalRecord? { self.state.withLock { $0.originals[key] } }

    /// The journal holds a final state for `key`: its original may go `retentionDays` from today.
    public func markSettled(_ key: String) async throws(ISO8583GatewayError) {
        try await self.update { snapshot, stamp throws(ISO8583GatewayError) in
            if snapshot.originals[key] != nil, snapshot.originals[key]?.settledDay == nil { snapshot.originals[key]?.settledDay = stamp.day }
        }
    }

    /// The key of the original sent with `stan` on `date` (MMDD), if any.
    public func key(stan: String, date: String) -> String? {
        self.state.withLock { $0.originals.values.first { $0.stan == stan && $0.date == date }?.key }
    }

    public var batch: String { self.state.withLock { $0.batch } }

    /// Records the batch number the host gave at sign-on.
    public func setBatch(_ batch: String) async throws(ISO8583GatewayError) {
        try await self.update { snapshot, _ throws(ISO8583GatewayError) in snapshot.batch = batch }
    }

    // MARK: Internals

    private static func advance(_ snapshot: inout Snapshot, stamp: Stamp) throws(ISO8583GatewayError) -> String {
        if snapshot.day != stamp.day {
            snapshot.day = stamp.day
            snapshot.lastSTAN = 0
        }
        guard snapshot.lastSTAN < 999_999 else { throw .encoding("all 999999 STANs of \(stamp.day) are used") }
        snapshot.lastSTAN += 1
        return String(format: "%06d", snapshot.lastSTAN)
    }

    private func update<T: Sendable>(
        _ body: @escaping @Sendable (inout Snapshot, Stamp) throws(ISO8583GatewayError) -> T
    ) async throws(ISO8583GatewayError) -> T {
        let result: Result<T, ISO8583GatewayError> = await withCheckedContinuation { continuation in
            self.writer.async { continuation.resume(returning: self.updateOnWriter(body)) }
        }
        return try result.get()
    }

    /// On `writer` only: changes are serialized there, so the snapshot read here is still current when the
    /// change is published, and the lock is never held across the write.
    private func updateOnWriter<T>(_ body: (inout Snapshot, Stamp) throws(ISO8583GatewayError) -> T) -> Result<T, ISO8583GatewayError> {
        dispatchPrecondition(condition: .onQueue(self.writer))
        let stamp = self.now()
        let current = self.state.withLock { $0 }
        var next = current
        do throws(ISO8583GatewayError) {
            let result = try body(&next, stamp)
            self.purge(&next, today: stamp.day)
            if next != current {
                try self.write(next)
                self.state.withLock { $0 = next }
            }
            return .success(result)
        } catch {
            return .failure(error)
        }
    }

    private func purge(_ snapshot: inout Snapshot, today: String) {
        guard let now = Int(today) else { return }
        func days(_ day: String) -> Int? {
            guard let value = Int(day) else { return nil }
            var parts = DateComponents()
            parts.year = value / 10000
            parts.month = value / 100 % 100
            parts.day = value % 100
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = TimeZone(secondsFromGMT: 0)!
            return calendar.date(from: parts).map { Int($0.timeIntervalSince1970 / 86_400) }
        }
        guard let today = days(String(now)) else { return }
        // Unsettled originals stay. (A record from before settlement was tracked has no settledDay and its
        // journal's state is not known here: it keeps the old rule, by its own day.)
        snapshot.originals = snapshot.originals.filter { _, original in
            guard let settled = original.settledDay else { return original.tracked == true || (days(original.day) ?? today) > today - self.retentionDays }
            return (days(settled) ?? today) > today - self.retentionDays
        }
    }

    /// Writes a temporary file, fsyncs it, renames it over the state file and fsyncs the directory.
    private func write(_ snapshot: Snapshot) throws(ISO8583GatewayError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(snapshot) else { throw .encoding("cannot encode the terminal state") }
        let temporary = self.path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .encoding("cannot write \(temporary): \(String(cString: strerror(errno)))") }
        let written = data.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd)
        close(fd)
        guard written == data.count, synced == 0 else { throw .encoding("cannot write \(temporary) durably: \(String(cString: strerror(errno)))") }
        guard rename(temporary, self.path) == 0 else { throw .encoding("cannot replace \(self.path): \(String(cString: strerror(errno)))") }
        let directory = open((self.path as NSString).deletingLastPathComponent.isEmpty ? "." : (self.path as NSString).deletingLastPathComponent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directory >= 0 {
            _ = fsync(directory)
            close(directory)
        }
    }
}
