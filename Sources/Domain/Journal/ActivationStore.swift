/// Where activations are kept: the intent before any byte goes to the bank, every state after it, the
/// audit trail. The flow's executor, the socket server and the resolver see only this.
///
/// Implementations: ``Journal`` (SQLite through GRDB, crash-safe; every access runs on GRDB's own queues,
/// never on the caller's thread) and, for tests, `InMemoryActivationStore` (ActivationSimulators). Both keep
/// the same rules, checked by the same contract tests: one unsettled activation per card, a key used once,
/// only `manual` or `unknown` activations settled by an operator.
public protocol ActivationStore: Sendable {
    /// A keyed fingerprint of a PAN or ID number: the same number gives the same fingerprint in this store,
    /// and the number cannot be recovered from it. No I/O.
    func fingerprint(_ value: String) -> String

    /// Keeps the intent of an activation (`pending`) before anything is sent.
    /// - Throws: `cardHasUnresolvedActivation`, `cardNeedsReconciliation`, `duplicateKey`, `stopped`.
    func begin(key: String, pan: String, maskedPAN: String, idNumber: String, maskedID: String, gateway: String) async throws(JournalError) -> ActivationRecord

    /// A new state for `key` (and the bank's answer), with its audit entry, together.
    func record(
        _ key: String, state: ActivationState, bankReference: String?, bankCode: String?, detail: String?, resolveAttempt: Bool
    ) async throws(JournalError)

    /// An operator's settlement of a `manual` or `unknown` activation.
    func settle(_ key: String, applied: Bool, operator name: String, uid: UInt32, note: String?) async throws(JournalError)

    /// An audit entry of no activation, waited for.
    func note(_ event: String, detail: String) async throws(JournalError)

    /// An audit entry of no activation, queued behind earlier writes without waiting (the flow's stage notes).
    func post(_ event: String, detail: String)

    func activation(_ key: String) async throws(JournalError) -> ActivationRecord?

    /// `pending` and `unknown` activations, oldest first.
    func unresolved() async throws(JournalError) -> [ActivationRecord]

    /// The newest activations first.
    func recent(limit: Int) async throws(JournalError) -> [ActivationRecord]

    /// The audit trail's integrity.
    func verifyChain() async throws(JournalError) -> ChainReport

    /// Set once a write failed: the kiosk must stop selling.
    var stoppedReason: String? { get }
}

extension Journal: ActivationStore {}
