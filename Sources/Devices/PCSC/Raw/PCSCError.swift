internal import CPCSCLite

/// A PC/SC return code as pcsc-lite defines it (`pcsclite.h`).
///
/// Open: any code survives, including ones this file does not name. pcsc-lite's values differ from
/// Windows' in places: ``unsupportedFeature`` is `0x8010001F` here (Windows uses `0x80100022`).
public struct PCSCError: Error, RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    /// `SCARD_E_CANCELLED`.
    public static let cancelled = PCSCError(rawValue: Int(SCARD_E_CANCELLED))
    /// `SCARD_E_INVALID_HANDLE`.
    public static let invalidHandle = PCSCError(rawValue: Int(SCARD_E_INVALID_HANDLE))
    /// `SCARD_E_INSUFFICIENT_BUFFER`.
    public static let insufficientBuffer = PCSCError(rawValue: Int(SCARD_E_INSUFFICIENT_BUFFER))
    /// `SCARD_E_UNKNOWN_READER`.
    public static let unknownReader = PCSCError(rawValue: Int(SCARD_E_UNKNOWN_READER))
    /// `SCARD_E_TIMEOUT`.
    public static let timeout = PCSCError(rawValue: Int(SCARD_E_TIMEOUT))
    /// `SCARD_E_SHARING_VIOLATION`.
    public static let sharingViolation = PCSCError(rawValue: Int(SCARD_E_SHARING_VIOLATION))
    /// `SCARD_E_NO_SMARTCARD`.
    public static let noSmartcard = PCSCError(rawValue: Int(SCARD_E_NO_SMARTCARD))
    /// `SCARD_E_PROTO_MISMATCH`.
    public static let protocolMismatch = PCSCError(rawValue: Int(SCARD_E_PROTO_MISMATCH))
    /// `SCARD_F_COMM_ERROR`: the socket to pcscd broke.
    public static let commError = PCSCError(rawValue: Int(SCARD_F_COMM_ERROR))
    /// `SCARD_E_NOT_TRANSACTED`: the exchange failed; vpcd reports a removed card this way.
    public static let notTransacted = PCSCError(rawValue: Int(SCARD_E_NOT_TRANSACTED))
    /// `SCARD_E_READER_UNAVAILABLE`.
    public static let readerUnavailable = PCSCError(rawValue: Int(SCARD_E_READER_UNAVAILABLE))
    /// `SCARD_E_CARD_UNSUPPORTED`.
    public static let cardUnsupported = PCSCError(rawValue: Int(SCARD_E_CARD_UNSUPPORTED))
    /// `SCARD_E_NO_SERVICE`: pcscd is not running.
    public static let noService = PCSCError(rawValue: Int(SCARD_E_NO_SERVICE))
    /// `SCARD_E_SERVICE_STOPPED`: on pcsc-lite, a client/server protocol mismatch.
    public static let serviceStopped = PCSCError(rawValue: Int(SCARD_E_SERVICE_STOPPED))
    /// `SCARD_E_UNSUPPORTED_FEATURE` (= `SCARD_E_UNEXPECTED`, `0x8010001F`, on pcsc-lite).
    public static let unsupportedFeature = PCSCError(rawValue: Int(SCARD_E_UNSUPPORTED_FEATURE))
    /// `SCARD_E_NO_READERS_AVAILABLE`.
    public static let noReadersAvailable = PCSCError(rawValue: Int(SCARD_E_NO_READERS_AVAILABLE))
    /// `SCARD_E_NO_ACCESS`.
    public static let noAccess = PCSCError(rawValue: Int(SCARD_E_NO_ACCESS))
    /// `SCARD_W_UNSUPPORTED_CARD`.
    public static let unsupportedCard = PCSCError(rawValue: Int(SCARD_W_UNSUPPORTED_CARD))
    /// `SCARD_W_UNRESPONSIVE_CARD`.
    public static let unresponsiveCard = PCSCError(rawValue: Int(SCARD_W_UNRESPONSIVE_CARD))
    /// `SCARD_W_UNPOWERED_CARD`.
    public static let unpoweredCard = PCSCError(rawValue: Int(SCARD_W_UNPOWERED_CARD))
    /// `SCARD_W_RESET_CARD`: another application reset the card; reconnect to acknowledge.
    public static let resetCard = PCSCError(rawValue: Int(SCARD_W_RESET_CARD))
    /// `SCARD_W_REMOVED_CARD`: the card was removed.
    public static let removedCard = PCSCError(rawValue: Int(SCARD_W_REMOVED_CARD))
    /// `SCARD_W_SECURITY_VIOLATION`: polkit denied access.
    public static let securityViolation = PCSCError(rawValue: Int(SCARD_W_SECURITY_VIOLATION))

    /// pcsc-lite's own text for the code (`pcsc_stringify_error`).
    public var description: String {
        let text = String(cString: pcsc_stringify_error(LONG(truncatingIfNeeded: self.rawValue)))
        return "\(text) (0x\(String(UInt32(truncatingIfNeeded: self.rawValue), radix: 16, uppercase: true)))"
    }
}

/// The one door through which every PC/SC return code passes.
@inline(__always)
func pcscCheck(_ rv: LONG) throws(PCSCError) {
    guard rv != SCARD_S_SUCCESS else { return }
    throw PCSCError(rawValue: Int(rv))
}

extension PCSCError {
    /// The codes after which a context is useless and must be released and established again:
    /// pcscd stopped (`NO_SERVICE`), the socket broke (`COMM_ERROR`), a protocol mismatch
    /// (`SERVICE_STOPPED`), or the context is unknown to the service (`INVALID_HANDLE`).
    ///
    /// `SECURITY_VIOLATION` counts too: pcsc-lite 1.9.x's client reports a connection reset by pcscd
    /// (a context of a pcscd that was killed and replaced) as this code, not as `COMM_ERROR`
    /// (`winscard_msg.c`, MessageReceive: `ECONNRESET` → `SCARD_W_SECURITY_VIOLATION`, "polkit issue?").
    /// A real polkit refusal (pcsc-lite ≥ 2.0.1) fails again on the new context, and is reported then.
    public var isServiceLoss: Bool {
        self == .noService || self == .commError || self == .serviceStopped || self == .invalidHandle || self == .securityViolation
    }
}
