/// The bank, as the activation flow sees it. Every bank speaks differently (a simulator, HTTP/JSON with
/// signatures, ISO 8583 over TCP); the flow talks only to this protocol.
///
/// Rules every implementation keeps:
/// - no clear PIN ever: the request carries an ``EncryptedPINBlock``;
/// - one ``IdempotencyKey`` per activation, sent on every retry, inquiry and reversal;
/// - once any byte of a request may have reached the bank, a missing or untrustworthy answer is
///   `unknown`, never `declined` or `unavailable`; before that, failures are `unavailable`.
public protocol BankGateway: Sendable {
    var profile: BankProfile { get }
    var capabilities: GatewayCapabilities { get }

    /// Sign on, load keys, check the clock: what the bank needs before the first request.
    func prepare() async -> PrepareOutcome
    /// Checks the holder's identity against the bank's records (optional per bank).
    func verifyCardholder(card: CardReference, cardholder: Cardholder, key: IdempotencyKey) async -> VerifyOutcome
    func activate(_ request: ActivationRequest) async -> ActivationOutcome
    /// What the bank knows about the activation with `key`; `notFound` is a valid answer.
    func queryStatus(_ key: IdempotencyKey) async -> StatusOutcome
    /// Undoes the activation with `key` if it was applied.
    func reverse(_ key: IdempotencyKey, reason: ReversalReason) async -> ReversalOutcome
    /// Releases connections and threads; the gateway is not used afterwards. The daemon calls it once,
    /// as it stops.
    func shutdown() async
    /// The journal holds a final state for `key`: what the gateway kept to inquire or reverse it (an ISO
    /// 8583 original's identifiers) may now age out. Until then it must be kept, however old.
    func settled(_ key: IdempotencyKey) async
}

extension BankGateway {
    /// Nothing to release.
    public func shutdown() async {}
    /// Nothing kept per activation.
    public func settled(_ key: IdempotencyKey) async {}
}

/// The answer to ``BankGateway/prepare()``.
public enum PrepareOutcome: Hashable, Sendable {
    case ready
    case unavailable(detail: String)
}

/// Builds gateways from profiles by their `kind`. The daemon registers every kind it has; a new bank
/// needs a profile, and a new kind only when it speaks a new protocol.
public struct GatewayRegistry: Sendable {
    public typealias Factory = @Sendable (BankProfile) throws(GatewayConfigurationError) -> any BankGateway

    private var factories: [String: Factory] = [:]

    public init() {}

    public mutating func register(kind: String, _ factory: @escaping Factory) {
        self.factories[kind] = factory
    }

    public var kinds: [String] { self.factories.keys.sorted() }

    public func makeGateway(for profile: BankProfile) throws(GatewayConfigurationError) -> any BankGateway {
        guard let factory = self.factories[profile.kind] else {
            throw GatewayConfigurationError(key: "kind", problem: "unknown gateway kind \"\(profile.kind)\"; known: \(self.kinds.joined(separator: ", "))")
        }
        return try factory(profile)
    }
}
