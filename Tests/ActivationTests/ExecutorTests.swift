import Activation
import BankGateway
import BankSimulator
import Foundation
import Journal
import Messages
import Synchronization
import TestSupport
import Testing

/// A gateway that forwards to another but reports other capabilities (a bank without inquiry or reversal).
struct LimitedGateway: BankGateway {
    let inner: SimulatorGateway
    let capabilities: GatewayCapabilities
    var profile: BankProfile { self.inner.profile }
    func prepare() async -> PrepareOutcome { await self.inner.prepare() }
    func verifyCardholder(card: CardReference, cardholder: Cardholder, key: IdempotencyKey) async -> VerifyOutcome {
        await self.inner.verifyCardholder(card: card, cardholder: cardholder, key: key)
    }
    func activate(_ request: ActivationRequest) async -> ActivationOutcome { await self.inner.activate(request) }
    func queryStatus(_ key: IdempotencyKey) async -> StatusOutcome { await self.inner.queryStatus(key) }
    func reverse(_ key: IdempotencyKey, reason: ReversalReason) async -> ReversalOutcome { await self.inner.reverse(key, reason: reason) }
}

@Suite("activation executor: journal before send, resolve unknown outcomes")
struct ExecutorTests {
    static let fast = ResolverPolicy(firstDelay: .milliseconds(10), maximumDelay: .milliseconds(40), inquiries: 2, reversals: 2)

    func make(_ fixture: SimulatedBank.Fixture = .init(), capabilities: GatewayCapabilities? = nil) throws -> (ActivationExecutor, SimulatedBank, Journal, String) {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("exec-\(UUID().uuidString).sqlite").path
        let bank = SimulatedBank(fixture: fixture)
        let inner = try SimulatorGateway(profile: SimulatorGateway.profile(responseMilliseconds: 200), bank: bank)
        let gateway: any BankGateway = capabilities.map { LimitedGateway(inner: inner, capabilities: $0) } ?? inner
        let journal = try Journal(path: path)
        return (ActivationExecutor(journal: journal, gateway: gateway, policy: Self.fast), bank, journal, path)
    }

    @Test("approved: intent then result in the journal, one effect at the bank")
    func approved() async throws {
        let (executor, bank, journal, _) = try self.make()
        let request = try request()
        let result = try await executor.execute(request)
        #expect(result.state == .approved)
        #expect(try await journal.audit(for: request.key.value).map(\.event) == ["intent", "state"])
        #expect(await bank.ledger().first?.effects == 1)
    }

    @Test("declined, PIN error and unavailable are final and applied nothing")
    func finalRefusals() async throws {
        var fixture = SimulatedBank.Fixture()
        fixture.rules = [.init(pan: "6217000010002345678", code: "N1"), .init(pan: "6214830100001111", code: "55", triesLeft: 2)]
        let (executor, bank, _, _) = try self.make(fixture)
        #expect(try await executor.execute(request(pan: "6217000010002345678")).state == .declined)
        let pin = try await executor.execute(request(pan: "6214830100001111"))
        #expect(pin.state == .declined && pin.outcome == .pinError(triesLeft: 2, bankCode: "55"))
        await bank.inject(.serverError)
        #expect(try await executor.execute(request(pan: "6228230029000001234")).state == .notApplied)
        #expect(await bank.ledger().allSatisfy { $0.effects == 0 })
    }

    @Test("unknown → inquiry: applied becomes approved, absent becomes notApplied; never sent twice")
    func resolvedByInquiry() async throws {
        let (executor, bank, _, _) = try self.make()
        await bank.inject(.dropAfterApplying)
        let applied = try request()
        let first = try await executor.execute(applied)
        #expect(first.state == .approved)
        #expect(await bank.ledger().first { $0.key == applied.key.value }?.requests == 1)
        await bank.inject(.noAnswer)
        let lost = try request(pan: "6228230029000009876")
        #expect(try await executor.execute(lost).state == .notApplied)
        #expect(await bank.ledger().first { $0.key == lost.key.value } == nil)
    }

    @Test("a card with an unsettled activation cannot start another; the start-up resolver settles it")
    func perCardLockAndStartupResolver() async throws {
        let (executor, bank, journal, path) = try self.make()
        let request = try request()
        // A crash right after the intent: the journal holds `pending`, the bank nothing.
        try await journal.begin(key: request.key.value, pan: request.card.pan, maskedPAN: "x", idNumber: request.cardholder.idNumber, maskedID: "y", gateway: "sim")
        await #expect(throws: ExecutionRefusal.unresolvedActivation(key: request.key.value)) { try await executor.execute(try TestSupport.request()) }
        let restarted = ActivationExecutor(journal: try Journal(path: path), gateway: executor.gateway, policy: Self.fast)
        #expect(try await restarted.resolveAll() == [request.key.value: .notApplied])
        #expect(try await restarted.execute(try TestSupport.request()).state == .approved)
        #expect(await bank.ledger().count == 1)
    }

    @Test("no inquiry: reversal settles it; neither: manual reconciliation, never a guess")
    func withoutInquiry() async throws {
        let reversalOnly = GatewayCapabilities(supportsVerify: false, supportsQuery: false, supportsReversal: true, pinBlockFormat: .iso0TripleDES, macAlgorithm: nil)
        let (executor, bank, _, _) = try self.make(capabilities: reversalOnly)
        await bank.inject(.dropAfterApplying)
        let request = try request()
        #expect(try await executor.execute(request).state == .notApplied)
        #expect(await bank.ledger().first?.state == .reversed)

        let neither = GatewayCapabilities(supportsVerify: false, supportsQuery: false, supportsReversal: false, pinBlockFormat: .iso0TripleDES, macAlgorithm: nil)
        let (manualExecutor, manualBank, journal, _) = try self.make(capabilities: neither)
        await manualBank.inject(.dropAfterApplying)
        let other = try TestSupport.request()
        #expect(try await manualExecutor.execute(other).state == .manual)
        #expect(try await journal.activation(other.key.value)?.state == .manual)
        // The card is locked until an operator settles it, with a message of its own.
        let second = try TestSupport.request(pan: other.card.pan)
        do throws(ExecutionRefusal) {
            _ = try await manualExecutor.execute(second)
            Issue.record("a second activation of a card in manual reconciliation went ahead")
        } catch {
            #expect(error == .needsReconciliation(key: other.key.value))
            #expect(error.customerMessage.key == "activation.needsStaff" && !error.customerMessage.zhHans.isEmpty && !error.customerMessage.en.isEmpty)
        }
        try await journal.settle(other.key.value, applied: true, operator: "Li Wei", uid: 0)
        #expect(try await manualExecutor.execute(try TestSupport.request(pan: other.card.pan)).state == .approved)
    }

    @Test("a bank that stays silent leaves the activation unknown and the card locked; the next round settles it")
    func staysUnknown() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("exec-\(UUID().uuidString).sqlite").path
        let bank = SimulatedBank()
        let gateway = SilentGateway(inner: try SimulatorGateway(profile: SimulatorGateway.profile(responseMilliseconds: 200), bank: bank))
        let journal = try Journal(path: path)
        let executor = ActivationExecutor(journal: journal, gateway: gateway, policy: Self.fast)
        await bank.inject(.dropAfterApplying)
        gateway.silent.withLock { $0 = true }
        let request = try request()
        let result = try await executor.execute(request)
        #expect(result.state == .unknown)
        #expect(try await journal.activation(request.key.value)?.resolveAttempts == 1)
        await #expect(throws: ExecutionRefusal.unresolvedActivation(key: request.key.value)) {
            try await executor.execute(try TestSupport.request(pan: request.card.pan))
        }
        gateway.silent.withLock { $0 = false }
        #expect(try await executor.resolveAll() == [request.key.value: .approved])
        #expect(await bank.ledger().first?.effects == 1)
    }
}

/// Forwards to the simulator, but while `silent` its inquiries and reversals get no answer.
final class SilentGateway: BankGateway {
    let inner: SimulatorGateway
    let silent = Mutex(false)
    init(inner: SimulatorGateway) { self.inner = inner }
    var profile: BankProfile { self.inner.profile }
    var capabilities: GatewayCapabilities { self.inner.capabilities }
    func prepare() async -> PrepareOutcome { await self.inner.prepare() }
    func verifyCardholder(card: CardReference, cardholder: Cardholder, key: IdempotencyKey) async -> VerifyOutcome {
        await self.inner.verifyCardholder(card: card, cardholder: cardholder, key: key)
    }
    func activate(_ request: ActivationRequest) async -> ActivationOutcome { await self.inner.activate(request) }
    func queryStatus(_ key: IdempotencyKey) async -> StatusOutcome {
        self.silent.withLock { $0 } ? .unknown(detail: "no answer") : await self.inner.queryStatus(key)
    }
    func reverse(_ key: IdempotencyKey, reason: ReversalReason) async -> ReversalOutcome {
        self.silent.withLock { $0 } ? .unknown(detail: "no answer") : await self.inner.reverse(key, reason: reason)
    }
}

/// A bank whose activation fails fast with `unknown` (a reset mid-response) and whose inquiry and reversal
/// answers are set by the test; it records when each call came, in order.
final class ScriptedGateway: BankGateway {
    let inner: SimulatorGateway
    let inquiry: StatusOutcome
    let reversal: ReversalOutcome
    let activationTakes: Duration
    let calls = Mutex<[(name: String, at: ContinuousClock.Instant)]>([])
    init(inner: SimulatorGateway, inquiry: StatusOutcome, reversal: ReversalOutcome, activationTakes: Duration = .zero) {
        self.inner = inner
        self.inquiry = inquiry
        self.reversal = reversal
        self.activationTakes = activationTakes
    }
    var profile: BankProfile { self.inner.profile }
    var capabilities: GatewayCapabilities { self.inner.capabilities }
    func prepare() async -> PrepareOutcome { .ready }
    func verifyCardholder(card: CardReference, cardholder: Cardholder, key: IdempotencyKey) async -> VerifyOutcome { .match }
    func activate(_ request: ActivationRequest) async -> ActivationOutcome {
        self.calls.withLock { $0.append(("activate", .now)) }
        try? await Task.sleep(for: self.activationTakes)
        return .unknown(detail: "connection reset by peer after the request was written")
    }
    func queryStatus(_ key: IdempotencyKey) async -> StatusOutcome {
        self.calls.withLock { $0.append(("inquiry", .now)) }
        return self.inquiry
    }
    func reverse(_ key: IdempotencyKey, reason: ReversalReason) async -> ReversalOutcome {
        self.calls.withLock { $0.append(("reversal", .now)) }
        return self.reversal
    }
    func settled(_ key: IdempotencyKey) async { self.calls.withLock { $0.append(("settled", .now)) } }
    var names: [String] { self.calls.withLock { $0.map(\.name) } }
}

@Suite("resolver: inquiry timing and the fence of a reversal after 'not found'")
struct ResolverTimingTests {
    static let responseMilliseconds = 600

    func make(inquiry: StatusOutcome, reversal: ReversalOutcome) throws -> (ActivationExecutor, ScriptedGateway, Journal) {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("resolver-\(UUID().uuidString).sqlite").path
        let inner = try SimulatorGateway(profile: SimulatorGateway.profile(responseMilliseconds: Self.responseMilliseconds), bank: SimulatedBank())
        let gateway = ScriptedGateway(inner: inner, inquiry: inquiry, reversal: reversal)
        let journal = try Journal(path: path)
        return (ActivationExecutor(journal: journal, gateway: gateway, policy: ExecutorTests.fast), gateway, journal)
    }

    @Test("an unknown that came back at once: the first inquiry waits for the bank's response timeout after the send")
    func firstInquiryWaitsForTheResponseTimeout() async throws {
        let (executor, gateway, _) = try self.make(inquiry: .applied(bankReference: "REF1"), reversal: .reversed)
        let result = try await executor.execute(try request())
        #expect(result.state == .approved)
        let calls = gateway.calls.withLock { $0 }
        #expect(calls.map(\.name) == ["activate", "inquiry", "settled"], "the gateway is told once the journal holds the final state")
        let gap = calls[1].at - calls[0].at
        #expect(gap >= .milliseconds(Self.responseMilliseconds - 50), "the first inquiry came \(gap) after the send")
    }

    @Test("a background round leaves an activation this process is still sending alone: its pending row is not an orphan")
    func aRoundSkipsWhatIsInFlight() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("resolver-\(UUID().uuidString).sqlite").path
        let inner = try SimulatorGateway(profile: SimulatorGateway.profile(responseMilliseconds: 200), bank: SimulatedBank())
        let gateway = ScriptedGateway(inner: inner, inquiry: .notFound, reversal: .reversed, activationTakes: .milliseconds(800))
        let journal = try Journal(path: path)
        let executor = ActivationExecutor(journal: journal, gateway: gateway, policy: ExecutorTests.fast)
        let request = try request()
        let sending = Task { try await executor.execute(request) }
        #expect(await waitUntil(timeout: .seconds(5)) { (try? await journal.activation(request.key.value))?.state == .pending })
        #expect(try await executor.resolveRound(limit: 20, concurrency: 4).isEmpty, "the round took the activation in flight")
        #expect(try await executor.resolve(request.key.value).state == .pending, "a direct resolve of it touches nothing either")
        #expect(gateway.names == ["activate"], "\(gateway.names)")
        #expect(try await sending.value.state == .notApplied)
        #expect(gateway.names == ["activate", "inquiry", "reversal", "settled"])
    }

    @Test("inquiry 'not found': the original is reversed before the activation is settled as not applied")
    func notFoundIsFencedByAReversal() async throws {
        let (executor, gateway, journal) = try self.make(inquiry: .notFound, reversal: .reversed)
        let request = try request()
        let result = try await executor.execute(request)
        #expect(result.state == .notApplied)
        #expect(gateway.names == ["activate", "inquiry", "reversal", "settled"])
        #expect(try await journal.activation(request.key.value)?.detail?.contains("reversed to fence off a late arrival") == true)
    }

    @Test("inquiry 'not found' and a reversal that is not answered: still unknown, the card stays locked")
    func notFoundWithoutAnAnsweredReversalStaysUnknown() async throws {
        let (executor, gateway, journal) = try self.make(inquiry: .notFound, reversal: .unknown(detail: "no answer"))
        let request = try request()
        let result = try await executor.execute(request)
        #expect(result.state == .unknown)
        #expect(gateway.names.first == "activate" && gateway.names.dropFirst().first == "inquiry" && gateway.names.dropFirst(2).allSatisfy { $0 == "reversal" })
        #expect(try await journal.activation(request.key.value)?.state == .unknown)
        await #expect(throws: ExecutionRefusal.unresolvedActivation(key: request.key.value)) {
            try await executor.execute(try TestSupport.request(pan: request.card.pan))
        }
    }
}
