public import Journal
public import KioskProtocol

/// What the socket server needs from the daemon: its state, its readers and its journal. (Activations
/// are the ``ActivationService``'s.)
public protocol KioskHost: Sendable {
    /// `Common.Status`'s payload.
    func status() async -> JSONValue
    /// `Common.Capabilities`'s payload (the interfaces are added by the server).
    func deviceInformation() -> JSONValue
    /// `Readers.List`'s payload.
    func readers() async throws -> JSONValue
    /// Where activations are kept (``Journal`` in the daemon).
    var journal: any ActivationStore { get }
    /// Reader, card and daemon status changes, for every client (`Common.StatusChangedEvent`).
    func statusChanges() -> any AsyncSequence<JSONValue, Never> & Sendable
    /// Other devices' status changes (the EPP's), for every client as `Common.StatusChangedEvent`; `nil` for none.
    func deviceStatusChanges() -> (any AsyncSequence<JSONValue, Never> & Sendable)?
    /// The metrics in Prometheus' text exposition format (`Operations.Metrics`).
    func metricsText() -> String
    /// An operator's settlement (`Journal.Settle`).
    func settle(key: String, applied: Bool, operator name: String, uid: UInt32, note: String?) async throws(JournalError)
}

extension KioskHost {
    public func deviceStatusChanges() -> (any AsyncSequence<JSONValue, Never> & Sendable)? { nil }
    public func metricsText() -> String { "" }
    public func settle(key: String, applied: Bool, operator name: String, uid: UInt32, note: String?) async throws(JournalError) {
        try await self.journal.settle(key, applied: applied, operator: name, uid: uid, note: note)
    }
}

/// Who may connect, and the limits that keep a hostile or broken client from hurting the others.
public struct ServerLimits: Sendable, Hashable {
    /// Peer user IDs allowed (`SO_PEERCRED`); empty = any user that can open the socket.
    public var allowedUIDs: Set<UInt32>
    /// Peer group IDs allowed; a peer passes with an allowed uid or gid.
    public var allowedGIDs: Set<UInt32>
    public var maximumConnections: Int
    /// Commands per second per connection (a burst of twice as many is allowed).
    public var commandsPerSecond: Int
    /// A connection that sends nothing for this long is closed.
    public var idleTimeout: Duration
    /// Messages queued for a client that does not read; past this the client is disconnected.
    public var maximumQueuedMessages: Int
    /// Peer user IDs that may run operator commands (`Journal.Settle`); none unless set (kioskd sets
    /// `socket.operatorUIDs`, root by default).
    public var operatorUIDs: Set<UInt32> = []
    /// Peer group IDs that may run operator commands.
    public var operatorGIDs: Set<UInt32> = []

    public init(
        allowedUIDs: Set<UInt32> = [], allowedGIDs: Set<UInt32> = [], maximumConnections: Int = 16, commandsPerSecond: Int = 20,
        idleTimeout: Duration = .seconds(600), maximumQueuedMessages: Int = 512
    ) {
        self.allowedUIDs = allowedUIDs
        self.allowedGIDs = allowedGIDs
        self.maximumConnections = maximumConnections
        self.commandsPerSecond = commandsPerSecond
        self.idleTimeout = idleTimeout
        self.maximumQueuedMessages = maximumQueuedMessages
    }
}
