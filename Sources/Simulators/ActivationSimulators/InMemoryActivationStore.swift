import Bytes
public import Foundation
public import Journal
import KioskCrypto
import Synchronization

/// An ``ActivationStore`` in memory, for tests that need the journal's rules but not its disk: one unsettled
/// activation per card, a key used once, operator settlement of `manual` and `unknown` only. Nothing
/// survives the process, so it is never a daemon's store. The same contract tests run against it and the
/// SQLite ``Journal``.
public final class InMemoryActivationStore: ActivationStore {
    private struct State {
        var records: [String: ActivationRecord] = [:]
        var order: [String] = []
        var audit: [(activation: String?, event: String, detail: String)] = []
        var stopped: String?
    }

    private let state = Mutex(State())
    private let salt: [UInt8]
    private let clock: @Sendable () -> Date

    public init(clock: @escaping @Sendable () -> Date = { Date() }) {
        self.salt = (0..<16).map { _ in UInt8.random(in: 0...255) }
        self.clock = clock
    }

    /// Makes every later write fail, as a full or broken disk would (tests of the daemon's reaction).
    public func stop(_ reason: String) { self.state.withLock { $0.stopped = $0.stopped ?? reason } }

    /// The audit entries so far (activation key, event, detail), oldest first.
    public var auditEntries: [(activation: String?, event: String, detail: String)] { self.state.withLock { $0.audit } }

    public func fingerprint(_ value: String) -> String { Hex.encode(SM3.hash(self.salt + Array(value.utf8)).prefix(16)) }

    public func begin(key: String, pan: String, maskedPAN: String, idNumber: String, maskedID: String, gateway: String) async throws(JournalError)
        -> ActivationRecord
    {
        let now = self.clock()
        let record = ActivationRecord(
            key: key, cardHash: self.fingerprint(pan), maskedPAN: maskedPAN, maskedID: maskedID, idHash: self.fingerprint(idNumber),
            gateway: gateway, state: .pending, createdAt: now, updatedAt: now)
        try self.write { (state: inout State) throws(JournalError) in
            if let open = state.order.compactMap({ state.records[$0] }).first(where: {
                $0.cardHash == record.cardHash && [.pending, .unknown, .manual].contains($0.state)
            }) {
                throw open.state == .manual ? .cardNeedsReconciliation(key: open.key) : .cardHasUnresolvedActivation(key: open.key)
            }
            guard state.records[key] == nil else { throw .duplicateKey(key) }
            state.records[key] = record
            state.order.append(key)
            state.audit.append((key, "intent", "\(maskedPAN) \(maskedID) via \(gateway)"))
        }
        return record
    }

    public func record(
        _ key: String, state newState: ActivationState, bankReference: String?, bankCode: String?, detail: String?, resolveAttempt: Bool
    ) async throws(JournalError) {
        let now = self.clock()
        try self.write { (state: inout State) throws(JournalError) in
            guard var record = state.records[key] else { throw .notFound(key: key) }
            let previous = record.state
            record.state = newState
            record.bankReference = bankReference ?? record.bankReference
            record.bankCode = bankCode ?? record.bankCode
            record.detail = detail
            record.updatedAt = now
            record.resolveAttempts += resolveAttempt ? 1 : 0
            state.records[key] = record
            state.audit.append((key, "state", "\(previous.rawValue) → \(newState.rawValue)"))
        }
    }

    public func settle(_ key: String, applied: Bool, operator name: String, uid: UInt32, note: String?) async throws(JournalError) {
        let now = self.clock()
        try self.write { (state: inout State) throws(JournalError) in
            guard var record = state.records[key] else { throw .notFound(key: key) }
            guard record.state == .manual || record.state == .unknown else { throw .notManual(key: key, state: record.state.rawValue) }
            let previous = record.state
            record.state = applied ? .approved : .notApplied
            record.detail = "settled by operator \(name) (uid \(uid))" + (note.map { ": \($0)" } ?? "")
            record.updatedAt = now
            state.records[key] = record
            state.audit.append((key, "settle", "\(previous.rawValue) → \(record.state.rawValue): \(record.detail ?? "")"))
        }
    }

    public func note(_ event: String, detail: String) async throws(JournalError) {
        try self.write { (state: inout State) throws(JournalError) in state.audit.append((nil, event, detail)) }
    }

    public func post(_ event: String, detail: String) {
        try? self.write { (state: inout State) throws(JournalError) in state.audit.append((nil, event, detail)) }
    }

    public func activation(_ key: String) async throws(JournalError) -> ActivationRecord? { self.state.withLock { $0.records[key] } }

    public func unresolved() async throws(JournalError) -> [ActivationRecord] {
        self.state.withLock { state in
            state.order.compactMap { state.records[$0] }.filter { $0.state == .pending || $0.state == .unknown }.sorted { $0.createdAt < $1.createdAt }
        }
    }

    public func recent(limit: Int) async throws(JournalError) -> [ActivationRecord] {
        self.state.withLock { state in
            let newestFirst = state.order.compactMap { state.records[$0] }.sorted {
                $0.createdAt != $1.createdAt ? $0.createdAt > $1.createdAt : $0.key < $1.key
            }
            return Array(newestFirst.prefix(max(limit, 0)))
        }
    }

    /// Nothing here can be edited behind the store's back: the chain is intact by construction.
    public func verifyChain() async throws(JournalError) -> ChainReport { .intact(entries: self.state.withLock { $0.audit.count }) }

    public var stoppedReason: String? { self.state.withLock { $0.stopped } }

    private func write(_ body: (inout State) throws(JournalError) -> Void) throws(JournalError) {
        try self.state.withLock { (state: inout State) throws(JournalError) in
            if let reason = state.stopped { throw .stopped(reason) }
            try body(&state)
        }
    }
}
