public import BankGateway
import Bytes

/// The gateway of kind `simulator`: talks to a ``SimulatedBank`` in the same process, and turns injected
/// faults into what a client on a network would experience (a timeout after sending is `unknown`, a 5xx
/// is `unavailable`, an unverifiable answer is `unknown`). Used by unit tests and the demo.
public struct SimulatorGateway: BankGateway {
    public let profile: BankProfile
    public let bank: SimulatedBank
    private let table: ResultCodeTable

    public init(profile: BankProfile, bank: SimulatedBank) throws(GatewayConfigurationError) {
        self.profile = profile
        self.bank = bank
        self.table = profile.resultCodes.isEmpty ? try ResultCodeTable(SimulatedBank.resultCodes) : try profile.resultCodeTable()
    }

    /// A profile for the simulator with its result codes and short timeouts.
    /// The in-process simulated bank's profile. Its PIN key reaches the EPP encrypted under the published TEST
    /// master key (``SimulatedBank/Fixture/testMasterKey``), which `kiosk-epp-sim` holds by default.
    public static func profile(responseMilliseconds: Int = 2000, fixture: SimulatedBank.Fixture = .init()) -> BankProfile {
        BankProfile(
            name: "Simulated bank", kind: "simulator", bankCode: "SIM", terminalID: "KIOSK001",
            timeouts: .init(connectMilliseconds: 500, responseMilliseconds: responseMilliseconds), resultCodes: SimulatedBank.resultCodes,
            settings: fixture.pinKeySettings(masterKey: (try? Hex.decode(SimulatedBank.Fixture.testMasterKey)) ?? []))
    }

    public var capabilities: GatewayCapabilities {
        GatewayCapabilities(supportsVerify: true, supportsQuery: true, supportsReversal: true, pinBlockFormat: .iso0TripleDES, macAlgorithm: nil)
    }

    public func prepare() async -> PrepareOutcome { .ready }

    public func verifyCardholder(card: CardReference, cardholder: Cardholder, key: IdempotencyKey) async -> VerifyOutcome {
        let rules = self.bank.fixture.rules
        if let rule = rules.first(where: { $0.pan == card.pan || $0.idNumber == cardholder.idNumber }),
            case .declined(let reason) = self.table.classify(rule.code)
        {
            return .mismatch(reason, bankCode: rule.code)
        }
        return .match
    }

    public func activate(_ request: ActivationRequest) async -> ActivationOutcome {
        let timeout = self.profile.timeouts.response
        switch await self.bank.nextFault() {
        case .serverError:
            return .unavailable(detail: "simulated bank answered 503; nothing applied")
        case .noAnswer:
            try? await Task.sleep(for: timeout)
            return .unknown(detail: "no answer within \(timeout)")
        case .connectionReset:
            return .unknown(detail: "connection reset after the request was sent")
        case .resignOnRequired:
            // The in-process bank has no sessions: a sign-on is immediate, the retry goes through.
            return self.outcome(await self.bank.activate(request))
        case .wrongSTAN, .partialLengthPrefix, .resetMidFrame:
            _ = await self.bank.activate(request)
            return .unknown(detail: "the answer was lost on the wire")
        case .dropAfterApplying:
            _ = await self.bank.activate(request)
            return .unknown(detail: "connection dropped before the answer")
        case .answerAfterTimeout:
            _ = await self.bank.activate(request)
            try? await Task.sleep(for: timeout)
            return .unknown(detail: "no answer within \(timeout) (the late answer is discarded)")
        case .malformedBody:
            _ = await self.bank.activate(request)
            return .unknown(detail: "answer body malformed")
        case .badSignature, .unsignedAnswer:
            _ = await self.bank.activate(request)
            return .unknown(detail: "answer signature invalid or missing: treated as forged")
        case .delay:
            try? await Task.sleep(for: await self.bank.faultDelay)
            return self.outcome(await self.bank.activate(request))
        case .duplicateAnswer, nil:
            return self.outcome(await self.bank.activate(request))
        }
    }

    private func outcome(_ answer: SimulatedBank.Answer) -> ActivationOutcome {
        switch answer {
        case .result(let code, let reference, let tries):
            return self.table.activationOutcome(code: code, bankReference: reference, triesLeft: tries)
        case .inFlight:
            return .unknown(detail: "the bank is still processing this key (409)")
        case .keyReused:
            return .unknown(detail: "the key was used before with a different request (422)")
        }
    }

    public func queryStatus(_ key: IdempotencyKey) async -> StatusOutcome {
        if await self.bank.nextFault() == .serverError { return .unavailable(detail: "simulated bank answered 503") }
        guard let answer = await self.bank.query(key) else { return .unknown(detail: "still in flight") }
        switch self.table.classify(answer.code) {
        case .approved: return .applied(bankReference: answer.bankReference ?? "")
        case .notFound: return .notFound
        case .declined(let reason): return .declined(reason, bankCode: answer.code)
        case .unavailable: return .unavailable(detail: "bank code \(answer.code)")
        case .pinError, .resignOn, .unknown: return .unknown(detail: "bank code \(answer.code)")
        }
    }

    public func reverse(_ key: IdempotencyKey, reason: ReversalReason) async -> ReversalOutcome {
        if await self.bank.nextFault() == .serverError { return .unavailable(detail: "simulated bank answered 503") }
        return await self.bank.reverse(key) == "00" ? .reversed : .notFound
    }
}
