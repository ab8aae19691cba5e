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
    /// The PIN keys the bank gives the kiosk's PIN pad, encrypted under the terminal master key in the EPP:
    /// the latest one at once (if any), then each new one (an ISO 8583 sign-on delivers one every time).
    func pinKeyDeliveries() -> AsyncStream<PINKeyDelivery>
}

extension BankGateway {
    /// Nothing to release.
    public func shutdown() async {}
    /// Nothing kept per activation.
    public func settled(_ key: IdempotencyKey) async {}
    /// The profile's PIN key, when it carries one (``PINKeyDelivery/init(profile:)``), and no later ones.
    public func pinKeyDeliveries() -> AsyncStream<PINKeyDelivery> {
        let delivery = PINKeyDelivery(profile: self.profile)
        return AsyncStream { continuation in
            if let delivery { continuation.yield(delivery) }
            continuation.finish()
        }
    }
}

/// A PIN key for the EPP, as the bank gave it: encrypted under the terminal master key (which only the EPP
/// holds), with the bank's check value. Safe to keep and log the check value; the key itself stays encrypted.
public struct PINKeyDelivery: Hashable, Sendable, CustomStringConvertible {
    public var encrypted: [UInt8]
    /// The first bytes of E(key, zero block), as the bank computed them (UnionPay sends 4).
    public var checkValue: [UInt8]

    public init(encrypted: [UInt8], checkValue: [UInt8]) {
        self.encrypted = encrypted
        self.checkValue = checkValue
    }

    /// From a profile's `pinKeyUnderMasterKey` (hex) and `pinKeyCheckValue` (hex) settings, for banks that
    /// hand the PIN key over at enrolment rather than at each sign-on (the http-json profile, the simulator).
    public init?(profile: BankProfile) {
        guard let key = profile.settings["pinKeyUnderMasterKey"].flatMap(Self.bytes), [16, 24].contains(key.count),
            let check = profile.settings["pinKeyCheckValue"].flatMap(Self.bytes), (2...8).contains(check.count)
        else { return nil }
        self.init(encrypted: key, checkValue: check)
    }

    private static func bytes(_ hex: String) -> [UInt8]? {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0, !digits.isEmpty else { return nil }
        var bytes: [UInt8] = []
        for index in stride(from: 0, to: digits.count, by: 2) {
            guard let byte = UInt8(String(decoding: digits[index..<index + 2], as: UTF8.self), radix: 16) else { return nil }
            bytes.append(byte)
        }
        return bytes
    }

    public var description: String { "PIN key (\(self.encrypted.count) bytes under the master key, check value \(self.checkValue.map { ($0 < 16 ? "0" : "") + String($0, radix: 16, uppercase: true) }.joined()))" }
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
