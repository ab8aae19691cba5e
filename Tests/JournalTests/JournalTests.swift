import Foundation
import Journal
import Synchronization
import TestSupport
import Testing

@Suite("activation journal (SQLite)")
struct JournalTests {
    static func temporaryPath() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("journal-\(UUID().uuidString).sqlite").path
    }

    static func remove(_ path: String) {
        for suffix in ["", "-wal", "-shm", ".hashkey"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    }

    static let pan = "6228230029000005274"
    static let id = "440303198101011117"

    func begin(_ journal: Journal, key: String, pan: String = pan) async throws {
        try await journal.begin(key: key, pan: pan, maskedPAN: "622823*********5274", idNumber: Self.id, maskedID: "440***********1117", gateway: "simulator")
    }

    @Test("WAL, synchronous=FULL, migration v1 applied once; reopening keeps the data")
    func durability() async throws {
        let path = Self.temporaryPath()
        defer { Self.remove(path) }
        let journal = try Journal(path: path)
        let settings = try await journal.durability()
        #expect(settings.journalMode == "wal" && settings.synchronous == 2)
        #expect(try await journal.appliedMigrations() == ["v1"])
        try await self.begin(journal, key: "key-00000001")
        let reopened = try Journal(path: path)
        #expect(try await reopened.appliedMigrations() == ["v1"])
        #expect(try await reopened.activation("key-00000001")?.state == .pending)
        #expect(try await reopened.integrityCheck() == "ok")
    }

    @Test("intent, states, the per-card lock, duplicate keys")
    func lifecycle() async throws {
        let path = Self.temporaryPath()
        defer { Self.remove(path) }
        let journal = try Journal(path: path)
        try await self.begin(journal, key: "key-00000001")
        await #expect(throws: JournalError.cardHasUnresolvedActivation(key: "key-00000001")) { try await self.begin(journal, key: "key-00000002") }
        try await journal.record("key-00000001", state: .unknown, detail: "no answer")
        #expect(try await journal.unresolved().map(\.key) == ["key-00000001"])
        await #expect(throws: JournalError.cardHasUnresolvedActivation(key: "key-00000001")) { try await self.begin(journal, key: "key-00000002") }
        try await journal.record("key-00000001", state: .approved, bankReference: "SIM100001", bankCode: "00", resolveAttempt: true)
        #expect(try await journal.unresolved().isEmpty)
        try await self.begin(journal, key: "key-00000002")  // the card may start again once settled
        await #expect(throws: JournalError.duplicateKey("key-00000001")) { try await self.begin(journal, key: "key-00000001", pan: "6228230029000009999") }
        await #expect(throws: JournalError.notFound(key: "nope-0000")) { try await journal.record("nope-0000", state: .approved) }
        let record = try #require(try await journal.activation("key-00000001"))
        #expect(record.state == .approved && record.bankReference == "SIM100001" && record.resolveAttempts == 1)
        #expect(try await journal.audit(for: "key-00000001").map(\.event) == ["intent", "state", "state"])
    }

    @Test("the file holds no PAN, no ID number and no PIN block: masked forms and keyed hashes only")
    func noPersonalData() async throws {
        let path = Self.temporaryPath()
        defer { Self.remove(path) }
        let journal = try Journal(path: path)
        for index in 0..<20 {
            let key = String(format: "key-%08d", index)
            try await self.begin(journal, key: key, pan: String(Self.pan.dropLast(2)) + String(format: "%02d", index))
            try await journal.record(key, state: .approved, bankReference: "SIM\(index)", bankCode: "00")
        }
        #expect(journal.fingerprint(Self.pan) != Self.pan && journal.fingerprint(Self.pan).count == 32)
        for suffix in ["", "-wal"] {
            guard let bytes = FileManager.default.contents(atPath: path + suffix) else { continue }
            let text = String(decoding: bytes, as: UTF8.self)
            #expect(!text.contains(Self.id))
            #expect(!text.contains(String(Self.pan.dropLast(2))))
        }
    }

    @Test("the audit chain detects an edit, a deletion and a reordering")
    func tamperEvidence() async throws {
        for tamper in ["UPDATE audit SET detail = 'approved' WHERE seq = 3", "DELETE FROM audit WHERE seq = 4", "UPDATE audit SET seq = 102 WHERE seq = 2; UPDATE audit SET seq = 2 WHERE seq = 5; UPDATE audit SET seq = 5 WHERE seq = 102", "UPDATE activation SET state = 'approved'"] {
            let path = Self.temporaryPath()
            defer { Self.remove(path) }
            let journal = try Journal(path: path)
            for index in 0..<3 {
                let key = String(format: "key-%08d", index)
                try await self.begin(journal, key: key, pan: Self.pan + String(index))
                try await journal.record(key, state: .declined, bankCode: "N1")
            }
            #expect(try await journal.verifyChain() == .intact(entries: 6))
            let sqlite = try await runProcess("/usr/bin/sqlite3", ["-cmd", ".timeout 5000", path, tamper])
            #expect(sqlite.status == 0, "\(sqlite.error)")
            let report = try await journal.verifyChain()
            if tamper.hasPrefix("UPDATE activation") {
                // Rows are not chained, their history is: the audit still shows what really happened.
                #expect(report == .intact(entries: 6))
                #expect(try await journal.audit(for: "key-00000000").last?.detail.contains("declined") == true)
            } else if case .broken = report {
            } else {
                Issue.record("\(tamper) not detected: \(report)")
            }
        }
    }

    @Test("retention: old final activations go, unsettled ones stay, the chain still verifies from its anchor")
    func retention() async throws {
        let path = Self.temporaryPath()
        defer { Self.remove(path) }
        let now = Mutex(Date(timeIntervalSince1970: 1_795_000_000))
        let journal = try Journal(path: path, clock: { now.withLock { $0 } })
        try await self.begin(journal, key: "old-final-1")
        try await journal.record("old-final-1", state: .approved, bankReference: "R1", bankCode: "00")
        try await self.begin(journal, key: "old-unsettled", pan: "6228230029000001111")
        try await journal.record("old-unsettled", state: .unknown)
        now.withLock { $0 = $0.addingTimeInterval(100 * 86_400) }
        try await self.begin(journal, key: "new-final-1", pan: "6228230029000002222")
        #expect(try await journal.purge(olderThanDays: 90) == 1)
        #expect(try await journal.activation("old-final-1") == nil)
        #expect(try await journal.activation("old-unsettled")?.state == .unknown)
        #expect(try await journal.activation("new-final-1") != nil)
        guard case .intact = try await journal.verifyChain() else { Issue.record("chain broken by the purge"); return }
        #expect(try await journal.audit().first?.activation == "new-final-1")
    }

    @Test("manual reconciliation: the card stays locked with its own error, the row is never purged, an operator settles it, audited")
    func manualReconciliation() async throws {
        let path = Self.temporaryPath()
        defer { Self.remove(path) }
        let now = Mutex(Date(timeIntervalSince1970: 1_795_000_000))
        let journal = try Journal(path: path, clock: { now.withLock { $0 } })
        try await self.begin(journal, key: "manual-0001")
        try await journal.record("manual-0001", state: .manual, detail: "the bank offers no inquiry and no reversal")
        await #expect(throws: JournalError.cardNeedsReconciliation(key: "manual-0001")) { try await self.begin(journal, key: "manual-0002") }
        now.withLock { $0 = $0.addingTimeInterval(1000 * 86_400) }
        #expect(try await journal.purge(olderThanDays: 90) == 0, "an unsettled manual row is never purged")
        #expect(try await journal.activation("manual-0001")?.state == .manual)

        await #expect(throws: JournalError.notFound(key: "nope-0001")) { try await journal.settle("nope-0001", applied: false, operator: "Li Wei", uid: 1001) }
        try await journal.settle("manual-0001", applied: false, operator: "Li Wei", uid: 1001, note: "bank hotline: no such activation")
        let settled = try #require(try await journal.activation("manual-0001"))
        #expect(settled.state == .notApplied && settled.detail?.contains("Li Wei (uid 1001)") == true)
        let entry = try #require(try await journal.audit(for: "manual-0001").last)
        #expect(entry.event == "settle" && entry.detail.contains("manual → notApplied") && entry.detail.contains("bank hotline"))
        await #expect(throws: JournalError.notManual(key: "manual-0001", state: "notApplied")) { try await journal.settle("manual-0001", applied: true, operator: "Li Wei", uid: 1001) }
        try await self.begin(journal, key: "manual-0002")  // the card may start again
        // An activation the resolver could not settle (unknown) may be settled by an operator too.
        try await journal.record("manual-0002", state: .unknown, detail: "no original on this terminal")
        try await journal.settle("manual-0002", applied: true, operator: "Li Wei", uid: 1001)
        #expect(try await journal.activation("manual-0002")?.state == .approved)
        #expect(try await journal.audit(for: "manual-0002").last?.detail.hasPrefix("unknown → approved") == true)
        guard case .intact = try await journal.verifyChain() else { Issue.record("chain broken"); return }
    }

    @Test("a failed write stops the journal: nothing more is accepted, not even after space is freed")
    func stopsOnWriteFailure() async throws {
        let path = Self.temporaryPath()
        defer { Self.remove(path) }
        let journal = try Journal(path: path, maximumPages: 40)
        var failure: JournalError?
        for index in 0..<5000 {
            do {
                try await journal.note("filler", detail: String(repeating: "x", count: 400) + "\(index)")
            } catch {
                failure = error
                break
            }
        }
        guard case .stopped = failure else { Issue.record("no stop: \(String(describing: failure))"); return }
        #expect(journal.stoppedReason != nil)
        await #expect(throws: JournalError.self) { try await self.begin(journal, key: "key-after-stop") }
        #expect(try await journal.integrityCheck() == "ok")
    }
}
