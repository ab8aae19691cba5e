/// What a bank's result code means to the kiosk.
public enum ResultClass: Hashable, Sendable, CustomStringConvertible {
    case approved
    case declined(DeclineReason)
    case pinError
    /// Nothing was applied; retry later.
    case unavailable
    /// Keys or session out of date: sign on again and retry once with the same idempotency key.
    case resignOn
    /// The bank has no such transaction (inquiry, reversal).
    case notFound
    /// The code means nothing we can rely on: resolve like a missing answer.
    case unknown

    /// `approved`, `declined.<reason>`, `pinError`, `unavailable`, `resignOn`, `notFound`, `unknown`.
    public init?(name: String) {
        switch name {
        case "approved": self = .approved
        case "pinError": self = .pinError
        case "unavailable": self = .unavailable
        case "resignOn": self = .resignOn
        case "notFound": self = .notFound
        case "unknown": self = .unknown
        default:
            guard name.hasPrefix("declined."), let reason = DeclineReason(code: String(name.dropFirst("declined.".count))) else {
                return nil
            }
            self = .declined(reason)
        }
    }

    public var description: String {
        switch self {
        case .approved: "approved"
        case .declined(let reason): "declined.\(reason.code)"
        case .pinError: "pinError"
        case .unavailable: "unavailable"
        case .resignOn: "resignOn"
        case .notFound: "notFound"
        case .unknown: "unknown"
        }
    }
}

/// A bank's result codes and what they mean, from its profile (data, not code: like jPOS's
/// `IRCConverter`). A code the table does not name is ``ResultClass/unknown``: the bank answered, but
/// the kiosk cannot tell whether anything was applied, so it resolves the activation by inquiry.
public struct ResultCodeTable: Hashable, Sendable {
    public private(set) var entries: [String: ResultClass]

    /// - Throws: ``GatewayConfigurationError`` naming the code whose meaning is not a known class.
    public init(_ names: [String: String]) throws(GatewayConfigurationError) {
        var entries: [String: ResultClass] = [:]
        for (code, name) in names {
            guard let resultClass = ResultClass(name: name) else {
                throw GatewayConfigurationError(key: "resultCodes.\(code)", problem: "\"\(name)\" is not a result class (approved, declined.<reason>, pinError, unavailable, resignOn, notFound, unknown)")
            }
            entries[code] = resultClass
        }
        self.entries = entries
    }

    public func classify(_ code: String) -> ResultClass { self.entries[code] ?? .unknown }

    /// The China UnionPay POS codes of `gateway.md` §1.2 and §4.3.
    public static let unionPay = try! ResultCodeTable([
        "00": "approved", "14": "declined.invalidCard", "25": "notFound", "33": "declined.expiredCard",
        "54": "declined.expiredCard", "38": "declined.pinTriesExceeded", "41": "declined.lostStolenOrFrozen",
        "43": "declined.lostStolenOrFrozen", "55": "pinError", "57": "declined.notPermitted", "58": "declined.notPermitted",
        "77": "resignOn", "A0": "resignOn", "06": "unavailable", "91": "unavailable", "96": "unavailable",
    ])

    /// Outcome codes for an activation: what a table entry makes of `code`.
    public func activationOutcome(code: String, bankReference: String?, triesLeft: Int? = nil) -> ActivationOutcome {
        switch self.classify(code) {
        case .approved: .approved(bankReference: bankReference ?? "")
        case .declined(let reason): .declined(reason, bankCode: code)
        case .pinError: .pinError(triesLeft: triesLeft, bankCode: code)
        case .unavailable: .unavailable(detail: "bank code \(code)")
        case .resignOn, .notFound, .unknown: .unknown(detail: "bank code \(code) (\(self.classify(code)))")
        }
    }
}
