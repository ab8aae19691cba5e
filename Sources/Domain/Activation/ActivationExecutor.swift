public import BankGateway
import Foundation
import Identity
import Metrics
public import Journal
public import Messages
import Synchronization

/// How hard the resolver tries before it leaves an activation `unknown` for its next round.
public struct ResolverPolicy: Sendable, Hashable {
    /// Wait before the first inquiry (a bank may still be processing).
    public var firstDelay: Duration
    /// Backoff cap between attempts.
    public var maximumDelay: Duration
    /// Inquiry attempts per round before turning to reversal.
    public var inquiries: Int
    /// Reversal calls per round (each gateway call may itself repeat its message).
    public var reversals: Int

    public init(firstDelay: Duration = .milliseconds(500), maximumDelay: Duration = .seconds(30), inquiries: Int = 3, reversals: Int = 3) {
        self.firstDelay = firstDelay
        self.maximumDelay = maximumDelay
        self.inquiries = inquiries
        self.reversals = reversals
    }
}

/// The step boundaries of one activation, reported to an observer (logs, metrics, the crash test).
public enum ActivationStep: String, Sendable, CaseIterable {
    /// The intent is committed; the request is about to go.
    case intentJournaled
    /// The bank answered (or the gateway gave up); the answer is not journaled yet.
    case bankAnswered
    /// The answer is journaled.
    case resultJournaled
    /// The resolver is about to ask or reverse.
    case resolving
    /// The resolver's result is journaled.
    case resolved
}

/// What an activation attempt ended in, for the flow and the screen.
public struct ExecutionResult: Hashable, Sendable {
    public var key: String
    /// The journal's final (or still `unknown`) state.
    public var state: ActivationState
    /// The gateway's answer that decided it (after resolution: what the resolver learned).
    public var outcome: ActivationOutcome

    public init(key: String, state: ActivationState, outcome: ActivationOutcome) {
        self.key = key
        self.state = state
        self.outcome = outcome
    }

    /// What the customer reads. An activation still `unknown`, or `manual`, is neither done nor refused:
    /// the message says the result will be confirmed and gives the reference (the activation's key) that
    /// staff look it up by.
    public var customerMessage: CustomerMessage {
        switch self.state {
        case .unknown, .manual, .pending:
            CustomerMessage(
                key: "bank.pending",
                zhHans: "银行正在确认办理结果，结果确认前请勿重复办理。请保留业务编号 \(self.key)，工作人员可据此为您查询。",
                en: "The bank is confirming the result; do not start again until it is confirmed. Keep the reference \(self.key): staff can look it up with it.",
                arguments: ["reference": self.key])
        default: self.outcome.customerMessage
        }
    }

    /// True when the bank's answer is still to be confirmed (`unknown`, `manual`).
    public var isPending: Bool { self.state == .unknown || self.state == .manual || self.state == .pending }
}

/// Why an activation could not start.
public enum ExecutionRefusal: Error, Hashable, Sendable, ExplainedError {
    /// The card has an activation that is not settled yet.
    case unresolvedActivation(key: String)
    /// The card has an activation in manual reconciliation: staff settle it before the card can start again.
    case needsReconciliation(key: String)
    /// The journal stopped (disk fault): the kiosk must stop selling.
    case journalStopped(String)

    public var customerMessage: CustomerMessage {
        switch self {
        case .unresolvedActivation:
            CustomerMessage(key: "activation.pendingResult", zhHans: "这张卡上一笔开通业务的结果正在与银行确认，请稍后再试或联系工作人员。",
                en: "The result of an earlier activation of this card is still being confirmed with the bank. Please try again later or ask staff.")
        case .needsReconciliation:
            CustomerMessage(key: "activation.needsStaff", zhHans: "这张卡上一笔开通业务的结果需要工作人员与银行核实，请到柜台办理。",
                en: "The result of an earlier activation of this card must be checked with the bank by staff. Please go to a counter.")
        case .journalStopped:
            CustomerMessage(key: "kiosk.outOfService", zhHans: "本机暂停服务，请到柜台办理。", en: "This kiosk is out of service. Please go to a counter.")
        }
    }

    public var operatorMessage: String {
        switch self {
        case .unresolvedActivation(let key): "refused: the card's activation \(key) is unresolved; the resolver settles it"
        case .needsReconciliation(let key): "refused: the card's activation \(key) is in manual reconciliation; an operator settles it (kioskctl journal settle)"
        case .journalStopped(let reason): "journal stopped: \(reason)"
        }
    }
}

/// Applies an activation at the bank exactly once or not at all: the intent is journaled before any
/// byte goes out, every answer is journaled, and an `unknown` outcome is settled by inquiry and then
/// reversal (with backoff), never by sending the activation again with a new key.
public final class ActivationExecutor: Sendable {
    /// Where activations are kept (the SQLite ``Journal`` in the daemon).
    public let journal: any ActivationStore
    public let gateway: any BankGateway
    public let policy: ResolverPolicy
    private let observer: (@Sendable (ActivationStep, String) -> Void)?
    /// Keys this process is sending or resolving right now: the background resolver leaves them alone (a
    /// `pending` row in flight is not an orphan), and no key is resolved twice at once.
    private let busy = Mutex<Set<String>>([])

    /// Claims `key` for this task; false when another task holds it.
    private func claim(_ key: String) -> Bool { self.busy.withLock { $0.insert(key).inserted } }
    private func release(_ key: String) { _ = self.busy.withLock { $0.remove(key) } }

    /// - Parameter observer: told at every step boundary (activation key); runs inline, keep it short.
    public init(journal: any ActivationStore, gateway: any BankGateway, policy: ResolverPolicy = ResolverPolicy(), observer: (@Sendable (ActivationStep, String) -> Void)? = nil) {
        self.journal = journal
        self.gateway = gateway
        self.policy = policy
        self.observer = observer
    }

    /// Journals the intent, sends, journals the answer; settles an `unknown` answer before returning
    /// (or leaves it `unknown` for the next resolver round when the bank stays silent).
    public func execute(_ request: ActivationRequest) async throws(ExecutionRefusal) -> ExecutionResult {
        // Claimed before the intent is journaled: the background resolver never sees this `pending` row free.
        guard self.claim(request.key.value) else { throw .journalStopped("activation key \(request.key.value) is already in use") }
        defer { self.release(request.key.value) }
        do {
            _ = try await self.journal.begin(
                key: request.key.value, pan: request.card.pan, maskedPAN: Masking.pan(request.card.pan), idNumber: request.cardholder.idNumber,
                maskedID: Masking.citizenID(request.cardholder.idNumber), gateway: "\(self.gateway.profile.name) (\(self.gateway.profile.kind))")
        } catch {
            switch error {
            case .cardHasUnresolvedActivation(let key): throw .unresolvedActivation(key: key)
            case .cardNeedsReconciliation(let key): throw .needsReconciliation(key: key)
            default: throw .journalStopped(error.description)
            }
        }
        self.observer?(.intentJournaled, request.key.value)
        let sentAt = Date()
        let started = ContinuousClock.now
        let outcome = await self.gateway.activate(request)
        let elapsed = ContinuousClock.now - started
        Timer(label: "kiosk_gateway_latency_seconds", dimensions: [("kind", self.gateway.profile.kind)], preferredDisplayUnit: .seconds)
            .recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
        self.observer?(.bankAnswered, request.key.value)
        let state = try await self.journalOutcome(request.key.value, outcome)
        self.observer?(.resultJournaled, request.key.value)
        if state.isFinal { await self.gateway.settled(request.key) }
        let result = state == .unknown ? try await self.resolveClaimed(request.key.value, sentAt: sentAt) : ExecutionResult(key: request.key.value, state: state, outcome: outcome)
        Counter(label: "kiosk_activations_total", dimensions: [("state", result.state.rawValue)]).increment()
        return result
    }

    private func journalOutcome(_ key: String, _ outcome: ActivationOutcome) async throws(ExecutionRefusal) -> ActivationState {
        let state: ActivationState
        var reference: String?
        var code: String?
        switch outcome {
        case .approved(let bankReference):
            state = .approved
            reference = bankReference
        case .declined(_, let bankCode), .pinError(_, let bankCode):
            state = .declined
            code = bankCode
        case .unavailable: state = .notApplied
        case .unknown: state = .unknown
        }
        do {
            try await self.journal.record(key, state: state, bankReference: reference, bankCode: code, detail: outcome.operatorMessage, resolveAttempt: false)
        } catch {
            throw .journalStopped(error.description)
        }
        return state
    }

    // MARK: Resolver

    /// One resolver round for `key`: inquiry (if the bank has one) with backoff, then reversal. Ends
    /// `approved` (the bank confirms it applied), `notApplied` (reversed, or absent and fenced off by a
    /// reversal), `manual` (the bank offers neither), or stays `unknown` (the bank did not answer this round).
    ///
    /// The first inquiry goes no sooner than the bank's response timeout after the request was sent
    /// (`gateway.md` §4.4): asked earlier, a bank still working on the original would say "not found". An
    /// inquiry's "not found" is not the end either: a late original could still arrive and be applied, so
    /// the original is reversed first, and only the reversal's answer settles the activation as not applied.
    public func resolve(_ key: String) async throws(ExecutionRefusal) -> ExecutionResult {
        guard self.claim(key) else {
            // Another task is sending or resolving it: report what the journal says, touch nothing.
            let record = try? await self.journal.activation(key)
            return ExecutionResult(key: key, state: record?.state ?? .unknown, outcome: record.map(Self.outcome(for:)) ?? .unknown(detail: "in progress"))
        }
        defer { self.release(key) }
        return try await self.resolveClaimed(key)
    }

    /// - Parameter sentAt: when the request went to the bank, when this process sent it; else the intent's
    ///   time stands in (a restart: long past by now).
    private func resolveClaimed(_ key: String, sentAt: Date? = nil) async throws(ExecutionRefusal) -> ExecutionResult {
        guard let idempotencyKey = IdempotencyKey(key) else { throw .journalStopped("journal holds an invalid key \(key)") }
        let record = try? await self.journal.activation(key)
        if let record, record.state.isFinal {
            return ExecutionResult(key: key, state: record.state, outcome: Self.outcome(for: record))
        }
        let capabilities = self.gateway.capabilities
        guard capabilities.supportsQuery || capabilities.supportsReversal else {
            try await self.settle(key, .manual, detail: "the bank offers no inquiry and no reversal: reconcile by hand", reference: nil)
            return ExecutionResult(key: key, state: .manual, outcome: .unknown(detail: "manual reconciliation"))
        }
        var delay = self.policy.firstDelay
        var last = "no attempt"
        var notFound = false
        if capabilities.supportsQuery {
            let response = self.gateway.profile.timeouts.responseMilliseconds
            // From the send, not the intent: the intent's write (an fsync) may have taken a while before it.
            let sent = sentAt ?? record?.createdAt ?? Date()
            let remaining = Int64((sent.addingTimeInterval(Double(response) / 1000).timeIntervalSinceNow * 1000).rounded(.up))
            var wait = max(delay, .milliseconds(min(remaining, Int64(response))))
            inquiries: for _ in 0..<self.policy.inquiries {
                try? await Task.sleep(for: wait)
                wait = delay
                delay = min(delay * 2, self.policy.maximumDelay)
                self.observer?(.resolving, key)
                switch await self.gateway.queryStatus(idempotencyKey) {
                case .applied(let reference):
                    try await self.settle(key, .approved, detail: "inquiry: applied", reference: reference)
                    return ExecutionResult(key: key, state: .approved, outcome: .approved(bankReference: reference))
                case .notFound where capabilities.supportsReversal:
                    // Fence off a late original before believing it: reverse it (below).
                    notFound = true
                    last = "inquiry: not found at the bank"
                    break inquiries
                case .notFound:
                    try await self.settle(key, .notApplied, detail: "inquiry: not found at the bank (no reversal offered)", reference: nil)
                    return ExecutionResult(key: key, state: .notApplied, outcome: .unavailable(detail: "the bank has no record of it: nothing applied"))
                case .declined(let reason, let code):
                    try await self.settle(key, .declined, detail: "inquiry: declined \(code)", reference: nil)
                    return ExecutionResult(key: key, state: .declined, outcome: .declined(reason, bankCode: code))
                case .unavailable(let detail), .unknown(let detail):
                    last = "inquiry: \(detail)"
                }
            }
        }
        if capabilities.supportsReversal {
            for _ in 0..<self.policy.reversals {
                self.observer?(.resolving, key)
                switch await self.gateway.reverse(idempotencyKey, reason: .unknownOutcome) {
                case .reversed, .notFound:
                    try await self.settle(key, .notApplied, detail: notFound ? "inquiry: not found; the original reversed to fence off a late arrival" : "reversal answered: nothing applied now", reference: nil)
                    return ExecutionResult(key: key, state: .notApplied, outcome: .unavailable(detail: "reversed: nothing applied"))
                case .unavailable(let detail), .unknown(let detail):
                    last = "reversal: \(detail)"
                }
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, self.policy.maximumDelay)
            }
        }
        do {
            try await self.journal.record(
                key, state: .unknown, bankReference: nil, bankCode: nil, detail: "still unknown after a resolver round: \(last)", resolveAttempt: true)
        } catch {
            throw .journalStopped(error.description)
        }
        return ExecutionResult(key: key, state: .unknown, outcome: .unknown(detail: last))
    }

    /// Settles every `pending`/`unknown` activation in the journal (at start-up, before the daemon
    /// reports ready, and periodically). Returns the states they ended in.
    public func resolveAll() async throws(ExecutionRefusal) -> [String: ActivationState] {
        try await self.resolveRound(limit: Int.max, concurrency: 1)
    }

    /// One round of the background resolver: at most `limit` unsettled activations, oldest first, `concurrency`
    /// at a time; those this process is sending or resolving are left alone. Returns each one's state after it.
    public func resolveRound(limit: Int, concurrency: Int) async throws(ExecutionRefusal) -> [String: ActivationState] {
        let open: [ActivationRecord]
        do { open = try await self.journal.unresolved() } catch { throw .journalStopped(error.description) }
        let keys = Array(open.map(\.key).filter { key in !self.busy.withLock { $0.contains(key) } }.prefix(max(limit, 0)))
        let answers = await withTaskGroup(of: (String, Result<ActivationState, ExecutionRefusal>).self) { group in
            var answers: [(String, Result<ActivationState, ExecutionRefusal>)] = []
            var started = 0
            while started < keys.count || !group.isEmpty {
                if started < keys.count, started - answers.count < max(concurrency, 1) {
                    let key = keys[started]
                    started += 1
                    group.addTask {
                        do throws(ExecutionRefusal) {
                            return (key, .success(try await self.resolve(key).state))
                        } catch {
                            return (key, .failure(error))
                        }
                    }
                } else if let answer = await group.next() {
                    answers.append(answer)
                }
            }
            return answers
        }
        var results: [String: ActivationState] = [:]
        for (key, answer) in answers {
            switch answer {
            case .success(let state): results[key] = state
            case .failure(let error): throw error
            }
        }
        return results
    }

    private func settle(_ key: String, _ state: ActivationState, detail: String, reference: String?) async throws(ExecutionRefusal) {
        do {
            try await self.journal.record(key, state: state, bankReference: reference, bankCode: nil, detail: detail, resolveAttempt: true)
        } catch {
            throw .journalStopped(error.description)
        }
        self.observer?(.resolved, key)
        if state.isFinal && state != .manual, let idempotencyKey = IdempotencyKey(key) { await self.gateway.settled(idempotencyKey) }
    }

    /// An operator's settlement, after checking with the bank, of an activation in manual reconciliation or
    /// one the resolver could not settle (`unknown`). The key is claimed first, so no resolver round is
    /// working on it meanwhile.
    /// - Throws: `busy` while this process sends or resolves it; the journal's `notFound`, `notManual`.
    public func settleByOperator(_ key: String, applied: Bool, operator name: String, uid: UInt32, note: String?) async throws(JournalError) {
        guard self.claim(key) else { throw .busy(key: key) }
        defer { self.release(key) }
        try await self.journal.settle(key, applied: applied, operator: name, uid: uid, note: note)
        if let idempotencyKey = IdempotencyKey(key) { await self.gateway.settled(idempotencyKey) }
    }

    static func outcome(for record: ActivationRecord) -> ActivationOutcome {
        switch record.state {
        case .approved: .approved(bankReference: record.bankReference ?? "")
        case .declined: .declined(.other, bankCode: record.bankCode ?? "")
        case .notApplied: .unavailable(detail: record.detail ?? "nothing applied")
        case .pending, .unknown, .manual: .unknown(detail: record.detail ?? "unresolved")
        }
    }
}
