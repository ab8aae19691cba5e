/// What a security module needs to know about the card it authenticates against.
public struct CardAuthenticationContext: Hashable, Sendable {
    /// The algorithm identifier from the SSSE FCI (`9F0C`; `01` when absent). Chooses the key file.
    public var algorithm: UInt8
    /// EF05 tag `01`, the card identification code (16 bytes), read before authentication.
    public var cardIdentifier: [UInt8]

    public init(algorithm: UInt8, cardIdentifier: [UInt8]) {
        self.algorithm = algorithm
        self.cardIdentifier = cardIdentifier
    }
}

/// The terminal-side keys a 3.00 social security card needs before it releases name and ID number:
/// a PSAM card in another reader slot, or a bank HSM reached over the network.
///
/// Implementations are called synchronously on the card's connection thread, while the card's transaction
/// is open, one call at a time: they may block that thread (a PSAM answers on its own reader's thread), and
/// are never called from the cooperative pool. ``prepare()`` runs before the read, asynchronously, for what
/// cannot be done on the card's thread (connecting).
public protocol SecurityModule: Sendable {
    /// A name for logs (`PSAM in "Reader SAM1"`, `HSM at 10.0.0.5`).
    var name: String { get }

    /// Gets ready for a read that may need the module (connects, or connects again after the module went
    /// away). A failure is not thrown: the calls during the read report the module as missing.
    func prepare() async

    /// What a genuine card answers to INTERNAL AUTHENTICATE with `challenge`.
    func internalAuthenticationResponse(challenge: [UInt8], card: CardAuthenticationContext) throws(SecurityModuleError) -> [UInt8]

    /// The data for EXTERNAL AUTHENTICATE with the RKSSSE key, from the card's GET CHALLENGE answer.
    func externalAuthenticationData(cardChallenge: [UInt8], card: CardAuthenticationContext) throws(SecurityModuleError) -> [UInt8]
}

extension SecurityModule {
    /// Nothing to get ready.
    public func prepare() async {}
}

/// Why a security module could not help.
public struct SecurityModuleError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Kind: Hashable, Sendable {
        /// No module configured, its reader is absent, or no PSAM card is in it.
        case missing
        /// The module lacks the key (RKSSSE, or the internal-authentication key).
        case keyMissing
        /// The module has no key file for this algorithm identifier.
        case unsupportedAlgorithm(UInt8)
        /// Anything else (status words, transport failures).
        case failed
    }

    public let kind: Kind
    /// For the operator: which module, which step, which status word.
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { self.message }

    /// As a card read error at `step`.
    func asCardReadError(step: String) -> CardReadError {
        let reason: CardReadError.Reason =
            switch self.kind {
            case .missing: .securityModuleMissing
            case .keyMissing: .securityModuleKeyMissing
            case .unsupportedAlgorithm(let id): .securityModuleUnsupportedAlgorithm(id)
            case .failed: .securityModuleFailed
            }
        return CardReadError(reason, step: step, detail: self.message)
    }
}
