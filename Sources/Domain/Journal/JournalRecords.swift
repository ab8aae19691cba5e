public import Foundation

/// Where one activation stands, as the journal records it.
public enum ActivationState: String, Codable, Sendable, CaseIterable {
    /// The intent is journaled; the request may be on its way to the bank (nothing is known yet).
    case pending
    /// The bank applied it (final).
    case approved
    /// The bank refused it: a decline or a PIN error (final; nothing applied).
    case declined
    /// Known not applied: never sent, refused before processing, found absent, or reversed (final).
    case notApplied
    /// Sent, no trustworthy answer: the resolver must settle it before the card can start again.
    case unknown
    /// The resolver could not settle it (no inquiry, no reversal): an operator reconciles it with the bank.
    case manual

    /// True for states no automatic step changes any more.
    public var isFinal: Bool {
        switch self {
        case .approved, .declined, .notApplied, .manual: true
        case .pending, .unknown: false
        }
    }
}

/// One activation's journal row: only what reconciliation needs. No PIN block, no clear PAN or ID
/// number (masked forms for people, keyed hashes for matching).
public struct ActivationRecord: Codable, Hashable, Sendable {
    public var key: String
    public var cardHash: String
    public var maskedPAN: String
    public var maskedID: String
    public var idHash: String
    /// The bank profile's name and kind.
    public var gateway: String
    public var state: ActivationState
    public var bankReference: String?
    public var bankCode: String?
    /// The last outcome's operator detail.
    public var detail: String?
    public var createdAt: Date
    public var updatedAt: Date
    public var resolveAttempts: Int

    public init(
        key: String, cardHash: String, maskedPAN: String, maskedID: String, idHash: String, gateway: String, state: ActivationState,
        bankReference: String? = nil, bankCode: String? = nil, detail: String? = nil, createdAt: Date, updatedAt: Date, resolveAttempts: Int = 0
    ) {
        self.key = key
        self.cardHash = cardHash
        self.maskedPAN = maskedPAN
        self.maskedID = maskedID
        self.idHash = idHash
        self.gateway = gateway
        self.state = state
        self.bankReference = bankReference
        self.bankCode = bankCode
        self.detail = detail
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.resolveAttempts = resolveAttempts
    }
}

/// One entry of the audit trail. Each entry's hash covers the previous entry's hash, so an edit, a
/// deletion or a reordering anywhere breaks the chain from there on.
public struct AuditEntry: Codable, Hashable, Sendable {
    public var seq: Int64
    public var at: Date
    public var activation: String?
    public var event: String
    public var detail: String
    public var previousHash: String
    public var hash: String
}

/// What ``Journal/verifyChain()`` found.
public enum ChainReport: Hashable, Sendable, CustomStringConvertible {
    case intact(entries: Int)
    /// The first entry whose hash or link does not match, and why.
    case broken(seq: Int64, reason: String)

    public var description: String {
        switch self {
        case .intact(let entries): "audit chain intact (\(entries) entries)"
        case .broken(let seq, let reason): "audit chain BROKEN at entry \(seq): \(reason)"
        }
    }
}

/// Why the journal refused or failed. Every write error stops the journal: later writes fail with
/// ``stopped`` until the daemon restarts (a failed fsync may have lost data the OS claimed was written;
/// retrying could journal over a hole).
public enum JournalError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The card has an activation the resolver has not settled; no new one may start.
    case cardHasUnresolvedActivation(key: String)
    /// The card has an activation in manual reconciliation: an operator must settle it first.
    case cardNeedsReconciliation(key: String)
    /// Only an activation in manual reconciliation (or one still unknown) can be settled by an operator.
    case notManual(key: String, state: String)
    /// The activation is being sent or resolved right now.
    case busy(key: String)
    /// An activation with this idempotency key exists already.
    case duplicateKey(String)
    case notFound(key: String)
    /// A write or sync failed; the journal accepts nothing more.
    case stopped(String)
    /// The database cannot be opened or migrated.
    case unusable(String)

    public var description: String {
        switch self {
        case .cardHasUnresolvedActivation(let key): "the card has an unresolved activation (\(key)); it must be settled before a new one"
        case .cardNeedsReconciliation(let key):
            "the card's activation \(key) is in manual reconciliation: check it with the bank, then `kioskctl journal settle \(key) --applied|--not-applied --operator NAME`"
        case .notManual(let key, let state): "activation \(key) is \(state), not manual or unknown: it is settled already, or still being sent"
        case .busy(let key): "activation \(key) is being sent or resolved right now; try again in a minute"
        case .duplicateKey(let key): "an activation with key \(key) is already journaled"
        case .notFound(let key): "no activation \(key) in the journal"
        case .stopped(let reason): "journal stopped after a write failure: \(reason); restart the daemon after checking the disk"
        case .unusable(let reason): "journal unusable: \(reason)"
        }
    }
}
