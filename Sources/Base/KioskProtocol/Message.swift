import Foundation

/// The kind of a message, as in XFS4IoT (`middleware.md` §1.2).
public enum MessageType: String, Codable, Hashable, Sendable {
    case command, acknowledge, event, completion, unsolicited
}

/// The header of every message (XFS4IoT's model).
public struct MessageHeader: Codable, Hashable, Sendable {
    /// `Common.Status`, `Activation.Start`, `Activation.StageEvent` …
    public var name: String
    /// Chosen by the client for a command (a positive integer), repeated on its acknowledge, events and
    /// completion; absent on unsolicited events.
    public var requestId: Int?
    public var type: MessageType
    /// The message's version, `1.0` for protocol v1.
    public var version: String
    /// Commands only: milliseconds before the command cancels itself; 0 = never (it can still be cancelled).
    public var timeout: Int?
    /// Acknowledge only: `nil` = accepted; otherwise why not (and nothing else follows).
    public var status: String?
    /// Completion only.
    public var completionCode: CompletionCode?
    public var errorDescription: String?

    public init(
        name: String, requestId: Int?, type: MessageType, version: String = KioskProtocol.version, timeout: Int? = nil, status: String? = nil,
        completionCode: CompletionCode? = nil, errorDescription: String? = nil
    ) {
        self.name = name
        self.requestId = requestId
        self.type = type
        self.version = version
        self.timeout = timeout
        self.status = status
        self.completionCode = completionCode
        self.errorDescription = errorDescription
    }
}

/// One message: a header and a JSON payload.
public struct KioskMessage: Codable, Hashable, Sendable {
    public var header: MessageHeader
    public var payload: JSONValue

    public init(header: MessageHeader, payload: JSONValue = .object([:])) {
        self.header = header
        self.payload = payload
    }
}

/// How a command ended (XFS4IoT's completion codes, the subset the kiosk uses).
public enum CompletionCode: String, Codable, Hashable, Sendable, CaseIterable {
    case success
    /// The command ran and failed; the payload's `errorCode` says how.
    case commandErrorCode
    case canceled
    case timeOut
    case invalidCommand
    case invalidData
    case unsupportedCommand
    case unsupportedData
    /// Not possible now (confirm without an activation, a second activation).
    case sequenceError
    case deviceNotReady
    case internalError
}
