/// Why a reader or card operation failed, in terms a caller can act on.
///
/// Every backend (PC/SC, the mock reader) reports through this one type. ``code`` is what code branches on;
/// ``message`` is a sentence for a field engineer; ``pcscCode`` keeps the raw PC/SC code for logs.
/// Errors compare equal by code only.
public struct ReaderError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A stable error code.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Backing: String, Hashable, Sendable {
            case serviceUnavailable, noReaders, unknownReader, readerUnavailable, noCard, cardRemoved, cardReset
            case cardUnresponsive, unsupportedCard, sharingViolation, timeout, cancelled, protocolMismatch
            case unsupportedFeature, malformedResponse, insufficientBuffer, permissionDenied, closed, failed
        }
        private let backing: Backing
        private init(_ backing: Backing) { self.backing = backing }

        /// The PC/SC service (pcscd) is not running or not reachable.
        public static let serviceUnavailable = Code(.serviceUnavailable)
        /// No reader is connected.
        public static let noReaders = Code(.noReaders)
        /// The named reader does not exist (any more).
        public static let unknownReader = Code(.unknownReader)
        /// The reader exists but cannot be used (unplugged, driver failure).
        public static let readerUnavailable = Code(.readerUnavailable)
        /// No card is in the reader.
        public static let noCard = Code(.noCard)
        /// The card was taken out; the connection is over.
        public static let cardRemoved = Code(.cardRemoved)
        /// The card was reset by someone else; its selected application is gone. The connection was
        /// re-established: start again from SELECT.
        public static let cardReset = Code(.cardReset)
        /// The card does not answer (mute, or no ATR).
        public static let cardUnresponsive = Code(.cardUnresponsive)
        /// The card cannot be used with the requested protocol or reader.
        public static let unsupportedCard = Code(.unsupportedCard)
        /// Another application holds the card exclusively.
        public static let sharingViolation = Code(.sharingViolation)
        /// The operation timed out.
        public static let timeout = Code(.timeout)
        /// The operation was cancelled.
        public static let cancelled = Code(.cancelled)
        /// The card or reader answered in a protocol other than the one requested.
        public static let protocolMismatch = Code(.protocolMismatch)
        /// The reader does not offer this feature or control code.
        public static let unsupportedFeature = Code(.unsupportedFeature)
        /// The card's answer is not a well-formed response.
        public static let malformedResponse = Code(.malformedResponse)
        /// A buffer was too small for the answer.
        public static let insufficientBuffer = Code(.insufficientBuffer)
        /// pcscd (or polkit) refused this process access.
        public static let permissionDenied = Code(.permissionDenied)
        /// The connection was already closed by this process.
        public static let closed = Code(.closed)
        /// Any other failure; ``ReaderError/pcscCode`` says which.
        public static let failed = Code(.failed)

        public var description: String { self.backing.rawValue }
    }

    public let code: Code
    /// What happened and what to do, for a field engineer.
    public let message: String
    /// The reader involved, when known.
    public let readerName: String?
    /// The raw PC/SC return code, when the error came from PC/SC.
    public let pcscCode: Int?

    public init(_ code: Code, message: String, readerName: String? = nil, pcscCode: Int? = nil) {
        self.code = code
        self.message = message
        self.readerName = readerName
        self.pcscCode = pcscCode
    }

    /// True when the PC/SC service itself is gone and the context must be re-established.
    public var isServiceLoss: Bool { self.code == .serviceUnavailable }
    /// True when the card is gone and the connection cannot be used again.
    public var endsConnection: Bool {
        [.cardRemoved, .noCard, .serviceUnavailable, .readerUnavailable, .unknownReader, .closed].contains(self.code)
    }

    public static func == (lhs: ReaderError, rhs: ReaderError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(self.code) }

    public var description: String {
        var text = "\(self.code): \(self.message)"
        if let reader = self.readerName { text += " [reader \(reader)]" }
        if let raw = self.pcscCode { text += " [PC/SC 0x\(String(UInt32(truncatingIfNeeded: raw), radix: 16, uppercase: true))]" }
        return text
    }
}

extension ReaderError {
    public static let cardRemoved = ReaderError(.cardRemoved, message: "the card was removed")
    public static let cardReset = ReaderError(.cardReset, message: "the card was reset by another application")
    public static let noCard = ReaderError(.noCard, message: "no card in the reader")
    public static let closed = ReaderError(.closed, message: "the connection is closed")
    public static let cancelled = ReaderError(.cancelled, message: "the operation was cancelled")
    public static let serviceUnavailable = ReaderError(.serviceUnavailable, message: "the PC/SC service is not available")
    public static let unknownReader = ReaderError(.unknownReader, message: "no such reader")
    public static let timeout = ReaderError(.timeout, message: "the operation timed out")
    public static let malformedResponse = ReaderError(.malformedResponse, message: "the card's answer is malformed")
    public static let unsupportedFeature = ReaderError(.unsupportedFeature, message: "the reader does not offer this feature")
    public static let cardUnresponsive = ReaderError(.cardUnresponsive, message: "the card does not answer")
    public static let sharingViolation = ReaderError(.sharingViolation, message: "another application holds the card")
}
