public import APDU

/// How a connection shares the card with other applications.
public enum ShareMode: Sendable, Hashable {
    /// Other applications may use the card too; use transactions around command sequences.
    case shared
    /// Only this connection may use the card.
    case exclusive
    /// Talk to the reader itself (control codes), with or without a card.
    case direct
}

/// The transmission protocols a connection may use.
public struct CardProtocols: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let t0 = CardProtocols(rawValue: 1)
    public static let t1 = CardProtocols(rawValue: 2)
    public static let any: CardProtocols = [.t0, .t1]
}

/// What happens to the card when a connection ends.
public enum CardDisposition: Sendable, Hashable {
    /// Leave it as it is.
    case leave
    /// Warm reset.
    case reset
    /// Power it down.
    case unpower
    /// Eject it (readers with a motor).
    case eject
}

/// Options for ``SmartCardSystem/connect(reader:options:)``.
public struct ConnectOptions: Sendable, Hashable {
    public var shareMode: ShareMode
    public var protocols: CardProtocols
    public init(shareMode: ShareMode = .shared, protocols: CardProtocols = .any) {
        self.shareMode = shareMode
        self.protocols = protocols
    }
}

/// Everything the kiosk can see of smart-card readers: list them, watch them, connect to their cards.
///
/// Implementations: `PCSCSystem` (libpcsclite and the real pcscd) and `MockCardSystem` (in process).
public protocol SmartCardSystem: Sendable {
    /// The readers present now, with their card state.
    func readers() async throws(ReaderError) -> [ReaderInfo]

    /// A stream of reader and card events: first the current state, then every change, until the
    /// consumer stops iterating. The stream survives a loss of the reader service and reports it.
    func events() -> AsyncStream<ReaderEvent>

    /// Connects to the card in `reader` (or, with ``ShareMode/direct``, to the reader itself).
    func connect(reader: String, options: ConnectOptions) async throws(ReaderError) -> any CardConnection
}

/// A connection to one card (or one reader in direct mode).
///
/// Blocking work runs on the connection's own thread; the methods here are safe to call from any task.
public protocol CardConnection: AnyObject, Sendable {
    /// The reader this connection uses.
    var readerName: String { get }
    /// The card's answer to reset at connect time (empty in direct mode without a card).
    var atr: [UInt8] { get }
    /// The protocol in use (`.t0` or `.t1`; empty in direct mode).
    var activeProtocol: CardProtocols { get }

    /// Runs `body` inside a card transaction on the connection's thread: no other application can
    /// interleave commands. When the card was reset by another application, the connection is
    /// re-established and `body` runs again from the start, up to `resetRetries` times; then the
    /// ``ReaderError/Code/cardReset`` error is thrown.
    /// - Note: `body` runs on the connection's dedicated thread and may block (it should only talk to the card).
    func withTransaction<R: Sendable>(
        resetRetries: Int, _ body: @escaping @Sendable (any CardChannel) throws -> R
    ) async throws -> R

    /// ``withTransaction(resetRetries:_:)`` for a caller on a dedicated thread of its own (a card read asking
    /// the PSAM in another reader): blocks that thread until `body` has run on this connection's thread.
    /// Never call it from the cooperative pool.
    func withTransactionBlocking<R: Sendable>(resetRetries: Int, _ body: @escaping @Sendable (any CardChannel) throws -> R) throws -> R

    /// Sends one command with the T=0 rules applied (see ``T0Exchange``).
    func transmit(_ command: CommandAPDU) async throws(ReaderError) -> ResponseAPDU

    /// Sends a reader control code (`SCardControl`) and returns the reader's answer.
    func control(code: UInt32, data: [UInt8]) async throws(ReaderError) -> [UInt8]

    /// Ends the connection. Further calls fail with ``ReaderError/Code/closed``.
    func disconnect(_ disposition: CardDisposition) async
}

extension CardConnection {
    /// ``withTransaction(resetRetries:_:)`` with one retry after a reset.
    public func withTransaction<R: Sendable>(_ body: @escaping @Sendable (any CardChannel) throws -> R) async throws -> R {
        try await self.withTransaction(resetRetries: 1, body)
    }

    /// ``disconnect(_:)`` leaving the card as it is.
    public func disconnect() async { await self.disconnect(.leave) }
}

extension SmartCardSystem {
    /// Connects shared, any protocol.
    public func connect(reader: String) async throws(ReaderError) -> any CardConnection {
        try await self.connect(reader: reader, options: ConnectOptions())
    }
}
