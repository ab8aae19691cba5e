import ActivationSimulators
import Foundation
import Journal
import Testing

/// The stores the contract runs against: the SQLite journal and the in-memory store for tests.
enum StoreKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite, memory

    var testDescription: String { self.rawValue }

    func make() throws -> any ActivationStore {
        switch self {
        case .sqlite: try Journal(path: JournalTests.temporaryPath())
        case .memory: InMemoryActivationStore()
        }
    }
}

@Suite("activation store contract: the SQLite journal and the in-memory store keep the same rules")
struct ActivationStoreContractTests {
    static let pan = "6228230029000005274"

    @discardableResult
    static func begin(_ store: any ActivationStore, key: String, pan: String = pan) async throws -> ActivationRecord {
        try await store.begin(key: key, pan: pan, maskedPAN: "622823******5274", idNumber: "440304199003070026", maskedID: "440304********0026", gateway: "sim")
    }

    @Test("one unsettled activation per card, a key used once, a final state frees the card", arguments: StoreKind.allCases)
    func cardLockAndKeys(kind: StoreKind) async throws {
        let store = try kind.make()
        let first = try await Self.begin(store, key: "k-0001")
        #expect(first.state == .pending && first.cardHash == store.fingerprint(Self.pan))
        await #expect(throws: JournalError.cardHasUnresolvedActivation(key: "k-0001")) { try await Self.begin(store, key: "k-0002") }
        try await store.record("k-0001", state: .unknown, bankReference: nil, bankCode: nil, detail: "timeout", resolveAttempt: false)
        await #expect(throws: JournalError.cardHasUnresolvedActivation(key: "k-0001")) { try await Self.begin(store, key: "k-0002") }
        try await store.record("k-0001", state: .approved, bankReference: "R1", bankCode: "00", detail: "inquiry", resolveAttempt: true)
        await #expect(throws: JournalError.duplicateKey("k-0001")) { try await Self.begin(store, key: "k-0001", pan: "6228230029000005282") }
        try await Self.begin(store, key: "k-0002")
        let record = try #require(try await store.activation("k-0001"))
        #expect(record.state == .approved && record.bankReference == "R1" && record.bankCode == "00" && record.resolveAttempts == 1)
        await #expect(throws: JournalError.notFound(key: "nope")) {
            try await store.record("nope", state: .approved, bankReference: nil, bankCode: nil, detail: nil, resolveAttempt: false)
        }
        #expect(try await store.activation("nope") == nil)
    }

    @Test("manual reconciliation: its own refusal, settled only by an operator, only when manual or unknown", arguments: StoreKind.allCases)
    func settlement(kind: StoreKind) async throws {
        let store = try kind.make()
        try await Self.begin(store, key: "m-0001")
        try await store.record("m-0001", state: .manual, bankReference: nil, bankCode: nil, detail: "no inquiry", resolveAttempt: true)
        await #expect(throws: JournalError.cardNeedsReconciliation(key: "m-0001")) { try await Self.begin(store, key: "m-0002") }
        try await store.settle("m-0001", applied: false, operator: "Wang", uid: 1000, note: "checked with the bank")
        #expect(try await store.activation("m-0001")?.state == .notApplied)
        await #expect(throws: JournalError.notManual(key: "m-0001", state: "notApplied")) {
            try await store.settle("m-0001", applied: true, operator: "Wang", uid: 1000, note: nil)
        }
        await #expect(throws: JournalError.notFound(key: "x")) { try await store.settle("x", applied: true, operator: "Wang", uid: 1000, note: nil) }
        try await Self.begin(store, key: "m-0002")
        try await store.record("m-0002", state: .unknown, bankReference: nil, bankCode: nil, detail: nil, resolveAttempt: false)
        try await store.settle("m-0002", applied: true, operator: "Li", uid: 0, note: nil)
        #expect(try await store.activation("m-0002")?.state == .approved)
    }

    @Test("unresolved oldest first; recent newest first, limited; fingerprints stable and not the number", arguments: StoreKind.allCases)
    func readsAndFingerprints(kind: StoreKind) async throws {
        let store = try kind.make()
        let pans = ["6228230029000005274", "6228230029000005282", "6228230029000005290"]
        for (index, pan) in pans.enumerated() {
            try await Self.begin(store, key: "r-000\(index)", pan: pan)
            try await Task.sleep(for: .milliseconds(5))
        }
        try await store.record("r-0001", state: .declined, bankReference: nil, bankCode: "55", detail: nil, resolveAttempt: false)
        #expect(try await store.unresolved().map(\.key) == ["r-0000", "r-0002"])
        #expect(try await store.recent(limit: 2).map(\.key) == ["r-0002", "r-0001"])
        #expect(try await store.recent(limit: 50).count == 3)
        #expect(store.fingerprint(pans[0]) == store.fingerprint(pans[0]))
        #expect(store.fingerprint(pans[0]) != store.fingerprint(pans[1]))
        #expect(!store.fingerprint(pans[0]).contains("5274"))
        try await store.note("daemon", detail: "started")
        store.post("flow", detail: "stage waitingForCards")
        if case .intact(let entries) = try await store.verifyChain() {
            #expect(entries >= 5, "3 intents, 1 state, 1 note (and the posted note once written)")
        } else {
            Issue.record("the chain is not intact")
        }
        #expect(store.stoppedReason == nil)
    }
}
