import BankGateway
import Foundation
import ISO8583Gateway
import Synchronization
import TestSupport
import Testing

@Suite("terminal state: STANs and originals")
struct StateTests {
    static func temporaryFile() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("stan-\(UUID().uuidString).json").path
    }

    @Test("STANs are unique within a day, survive a restart, and start again at 000001 the next day")
    func stans() async throws {
        let path = Self.temporaryFile()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let now = Mutex(Date(timeIntervalSince1970: 1_795_000_000))  // 2026-11-18 15:06 UTC+8
        let clock: @Sendable () -> Date = { now.withLock { $0 } }
        var seen: Set<String> = []
        let first = try TerminalState(path: path, terminalID: "KIOSK001", clock: clock)
        for _ in 0..<300 { seen.insert(try await first.nextSTAN().stan) }
        let restarted = try TerminalState(path: path, terminalID: "KIOSK001", clock: clock)
        for _ in 0..<300 { seen.insert(try await restarted.nextSTAN().stan) }
        #expect(seen.count == 600)
        #expect(seen.contains("000001") && seen.contains("000600"))
        now.withLock { $0 = $0.addingTimeInterval(86_400) }
        let tomorrow = try await restarted.nextSTAN()
        #expect(tomorrow.stan == "000001")
        #expect(tomorrow.stamp.day == "20261119")
    }

    @Test("a retry of the same key reuses its original; originals past retention are purged; PAN only masked")
    func originals() async throws {
        let path = Self.temporaryFile()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let now = Mutex(Date(timeIntervalSince1970: 1_795_000_000))
        let state = try TerminalState(path: path, terminalID: "KIOSK001", retentionDays: 7, clock: { now.withLock { $0 } })
        func make(_ key: String) async throws -> OriginalRecord {
            try await state.original(for: key) { stan, stamp, batch in
                OriginalRecord(key: key, mti: "0100", processingCode: "990000", stan: stan, date: stamp.date, time: stamp.time, batch: batch, maskedPAN: "622823******5274", day: stamp.day)
            }
        }
        let a = try await make("key-aaaaaaaa")
        #expect(try await make("key-aaaaaaaa") == a)
        #expect(state.key(stan: a.stan, date: a.date) == "key-aaaaaaaa")
        now.withLock { $0 = $0.addingTimeInterval(8 * 86_400) }
        _ = try await make("key-bbbbbbbb")
        #expect(state.original(for: "key-aaaaaaaa") == nil)
        #expect(state.original(for: "key-bbbbbbbb") != nil)
    }

    @Test("an original is kept while its activation is unsettled, however old; once settled, for the retention days after; the file keeps it across a restart")
    func originalsLiveAsLongAsTheirActivation() async throws {
        let path = Self.temporaryFile()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let now = Mutex(Date(timeIntervalSince1970: 1_795_000_000))
        let state = try TerminalState(path: path, terminalID: "KIOSK001", retentionDays: 7, clock: { now.withLock { $0 } })
        func make(_ key: String) async throws {
            _ = try await state.original(for: key) { stan, stamp, batch in
                var record = OriginalRecord(key: key, mti: "0100", processingCode: "990000", stan: stan, date: stamp.date, time: stamp.time, batch: batch, maskedPAN: "622823******5274", day: stamp.day)
                record.tracked = true
                return record
            }
        }
        try await make("unsettled-1")
        try await make("settled-1")
        try await state.markSettled("settled-1")
        now.withLock { $0 = $0.addingTimeInterval(6 * 86_400) }
        try await make("later-1")
        #expect(state.original(for: "settled-1") != nil, "within the retention days after settlement")
        now.withLock { $0 = $0.addingTimeInterval(30 * 86_400) }
        try await make("later-2")
        #expect(state.original(for: "settled-1") == nil, "past the retention days after settlement")
        #expect(state.original(for: "unsettled-1") != nil, "an unsettled original is kept after 36 days")
        let reopened = try TerminalState(path: path, terminalID: "KIOSK001", retentionDays: 7, clock: { now.withLock { $0 } })
        #expect(reopened.original(for: "unsettled-1")?.tracked == true && reopened.original(for: "unsettled-1")?.settledDay == nil)
        try await reopened.markSettled("unsettled-1")
        #expect(reopened.original(for: "unsettled-1")?.settledDay != nil)
    }

    @Test("an unreadable state file or another terminal's file stops the gateway instead of restarting STANs")
    func unreadable() async throws {
        let path = Self.temporaryFile()
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "{ not json".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: ISO8583GatewayError.self) { try TerminalState(path: path, terminalID: "KIOSK001") }
        try FileManager.default.removeItem(atPath: path)
        _ = try await TerminalState(path: path, terminalID: "KIOSK001").nextSTAN()
        #expect(throws: ISO8583GatewayError.self) { try TerminalState(path: path, terminalID: "KIOSK002") }
    }
}
