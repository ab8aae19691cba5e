public import KioskProtocol
import Foundation

/// One XFS4IoT message: a header and an optional payload (`xfs4iot.md` §2). The envelope is the same for
/// commands, acknowledgements, events, completions and unsolicited events.
public struct XFSMessage: Codable, Hashable, Sendable {
    public var header: XFSHeader
    /// Absent for a payload-less message (a payload-less event has no `payload` key).
    public var payload: JSONValue?

    public init(header: XFSHeader, payload: JSONValue? = nil) {
        self.header = header
        self.payload = payload
    }

    /// A command with a timeout in milliseconds (`0` = none, still cancellable).
    public static func command(_ name: String, requestId: Int, version: String, timeout: Int, payload: JSONValue? = nil) -> XFSMessage {
        XFSMessage(header: XFSHeader(name: name, requestId: requestId, type: .command, version: version, timeout: timeout), payload: payload)
    }

    /// An unsolicited event: sent as `type: "unsolicited"` or as an `event` without a request ID; both are accepted.
    public var isUnsolicited: Bool {
        self.header.type == .unsolicited || (self.header.type == .event && (self.header.requestId ?? 0) == 0)
    }

    /// The completion code of a completion: from the header, or from the payload as XFS4IoT 2021-1 put it.
    public var completionCode: XFSCompletionCode? {
        guard self.header.type == .completion else { return nil }
        guard let text = self.header.completionCode ?? self.payload?["completionCode"]?.string else { return nil }
        return XFSCompletionCode(text)
    }

    /// The completion's error description, header or (2021-1) payload.
    public var errorDescription: String? { self.header.errorDescription ?? self.payload?["errorDescription"]?.string }

    /// The command-specific `errorCode` of a `commandErrorCode` completion.
    public var errorCode: String? { self.payload?["errorCode"]?.string }
}

/// The header every message carries.
public struct XFSHeader: Codable, Hashable, Sendable {
    public enum Kind: String, Codable, Hashable, Sendable {
        case command, acknowledge, event, completion, unsolicited
    }

    public var name: String
    /// Positive for a command and everything answering it; absent (or 0) on unsolicited events.
    public var requestId: Int?
    public var type: Kind
    public var version: String?
    /// Milliseconds; commands only.
    public var timeout: Int?
    /// Acknowledgements only: absent (or `ok` in 2021-1) = accepted; `invalidMessage`, `invalidRequestID`, `tooManyRequests`.
    public var status: String?
    /// Completions only.
    public var completionCode: String?
    public var errorDescription: String?

    public init(
        name: String, requestId: Int? = nil, type: Kind, version: String? = nil, timeout: Int? = nil, status: String? = nil,
        completionCode: String? = nil, errorDescription: String? = nil
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

/// A completion code, with both spellings of the authorisation code folded into one.
public enum XFSCompletionCode: Hashable, Sendable, CustomStringConvertible {
    case success, commandErrorCode, canceled, deviceNotReady, hardwareError, internalError, invalidCommand, invalidRequestID
    case timeOut, unsupportedCommand, invalidData, userError, unsupportedData, fraudAttempt, sequenceError, authorizationRequired
    /// Any other code, kept as sent.
    case other(String)

    private static let known: [String: XFSCompletionCode] = [
        "success": .success, "commandErrorCode": .commandErrorCode, "canceled": .canceled, "deviceNotReady": .deviceNotReady,
        "hardwareError": .hardwareError, "internalError": .internalError, "invalidCommand": .invalidCommand,
        "invalidRequestID": .invalidRequestID, "timeOut": .timeOut, "unsupportedCommand": .unsupportedCommand,
        "invalidData": .invalidData, "userError": .userError, "unsupportedData": .unsupportedData, "fraudAttempt": .fraudAttempt,
        "sequenceError": .sequenceError, "authorizationRequired": .authorizationRequired, "authorisationRequired": .authorizationRequired,
    ]

    public init(_ text: String) { self = Self.known[text] ?? .other(text) }

    public var description: String {
        switch self {
        case .other(let text): text
        default: Self.known.first { $0.value == self && $0.key != "authorisationRequired" }?.key ?? "\(self)"
        }
    }
}

/// Why bytes from the peer are not an XFS4IoT message.
public enum XFSCodecError: Error, Hashable, Sendable, CustomStringConvertible {
    case tooLarge(limit: Int)
    case invalidUTF8
    case tooDeep(limit: Int)
    case invalidJSON
    case invalidHeader(String)

    public var description: String {
        switch self {
        case .tooLarge(let limit): "message longer than \(limit) bytes"
        case .invalidUTF8: "message is not valid UTF-8"
        case .tooDeep(let limit): "JSON nested deeper than \(limit) levels"
        case .invalidJSON: "not a JSON object with a header"
        case .invalidHeader(let detail): "invalid header: \(detail)"
        }
    }
}

/// Encodes and decodes XFS4IoT messages (one per WebSocket text frame). Pure: no I/O.
public enum XFSCodec {
    /// The largest message accepted from a peer.
    public static let maximumMessageBytes = 65_536

    /// Decodes one message. Every failure is a typed error, never a crash.
    public static func decode(_ bytes: some Collection<UInt8>) throws(XFSCodecError) -> XFSMessage {
        let message: XFSMessage
        do throws(ProtocolError) {
            message = try KioskProtocol.decodeJSON(XFSMessage.self, from: bytes, limit: self.maximumMessageBytes)
        } catch {
            switch error {
            case .tooLarge(let limit): throw .tooLarge(limit: limit)
            case .invalidUTF8: throw .invalidUTF8
            case .tooDeep(let limit): throw .tooDeep(limit: limit)
            case .invalidHeader(let detail): throw .invalidHeader(detail)
            default: throw .invalidJSON
            }
        }
        guard !message.header.name.isEmpty else { throw .invalidHeader("empty name") }
        if message.header.type != .unsolicited && message.header.type != .event {
            guard let id = message.header.requestId, id > 0 else { throw .invalidHeader("\(message.header.type.rawValue) without a positive requestId") }
        }
        return message
    }

    /// The message as UTF-8 JSON text (nulls omitted, keys sorted).
    public static func encode(_ message: XFSMessage) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array((try? encoder.encode(message)) ?? Data("{}".utf8))
    }
}
