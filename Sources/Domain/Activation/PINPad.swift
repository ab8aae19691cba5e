public import BankGateway

/// What the flow asks of the PIN pad for one entry.
public struct PINEntryRequest: Hashable, Sendable {
    public var minimumLength: Int
    public var maximumLength: Int
    public var timeout: Duration
    /// The block is bound to this card number (ISO 9564 format 0).
    public var pan: String
    public var format: PINBlockFormat

    public init(minimumLength: Int = 6, maximumLength: Int = 6, timeout: Duration = .seconds(30), pan: String, format: PINBlockFormat = .iso0TripleDES) {
        self.minimumLength = minimumLength
        self.maximumLength = maximumLength
        self.timeout = timeout
        self.pan = pan
        self.format = format
    }
}

/// What an encrypting PIN pad reports during an entry. Key events carry no digits: the screen shows dots.
public enum PINPadEvent: Hashable, Sendable {
    /// A key was pressed; `digits` are now entered (the screen shows that many dots).
    case digits(Int)
    /// The entry is complete: the PIN block, encrypted inside the pad.
    case completed(EncryptedPINBlock)
    /// The customer pressed cancel on the pad.
    case cancelled
    /// No key within the entry's timeout.
    case timedOut
    /// The pad failed (unplugged, key missing, tamper).
    case failed(String)
}

/// An encrypting PIN pad. The clear PIN stays inside it; the daemon sees key counts and the encrypted block.
public protocol PINPad: Sendable {
    /// Starts an entry; events arrive until `completed`, `cancelled`, `timedOut` or `failed`.
    func beginEntry(_ request: PINEntryRequest) async -> AsyncStream<PINPadEvent>
    /// Ends the current entry (the flow was cancelled); the stream ends with `cancelled`.
    func cancelEntry() async
}
