import Foundation

/// Protocol v1 of the kiosk socket (docs/protocol-v1.md): one JSON message per line, XFS4IoT's message
/// model. Pure: framing, limits and decoding with typed errors; no I/O.
public enum KioskProtocol {
    public static let version = "1.0"
    /// Where kioskd serves the socket unless configured otherwise (`socket.path`), and where clients look.
    public static let defaultSocketPath = "/run/cardkiosk/kiosk.sock"
    /// The largest line accepted, newline excluded.
    public static let maximumMessageBytes = 65_536
    /// The deepest nesting of objects and arrays accepted.
    public static let maximumDepth = 16

    /// The commands of v1 and the versions each accepts.
    public static let commands: [String: [String]] = [
        "Common.Status": ["1.0"], "Common.Capabilities": ["1.0"], "Common.Cancel": ["1.0"],
        "Activation.Start": ["1.0"], "Activation.Confirm": ["1.0"], "Activation.Reject": ["1.0"], "Activation.MoreTime": ["1.0"],
        "Readers.List": ["1.0"], "Journal.Recent": ["1.0"], "Journal.Verify": ["1.0"], "Journal.Settle": ["1.0"], "Operations.Metrics": ["1.0"],
    ]

    /// Answered at once, outside the command queue.
    public static let immediate: Set<String> = ["Common.Status", "Common.Capabilities", "Common.Cancel", "Operations.Metrics"]

    /// Decodes one line (without its newline) into a command. Every failure is a typed error the server
    /// answers with, never a crash.
    public static func decodeCommand(_ line: some Collection<UInt8>) throws(ProtocolError) -> KioskMessage {
        let message = try self.decode(line)
        guard message.header.type == .command else { throw .notACommand(message.header.name) }
        guard let requestId = message.header.requestId, requestId > 0 else { throw .invalidRequestID }
        guard let versions = self.commands[message.header.name] else { throw .unknownCommand(message.header.name) }
        guard versions.contains(message.header.version) else {
            throw .unsupportedVersion(name: message.header.name, version: message.header.version, supported: versions)
        }
        if let timeout = message.header.timeout, timeout < 0 { throw .invalidHeader("timeout must be ≥ 0") }
        return message
    }

    /// Decodes one line into any message (clients use this for what the daemon sends).
    public static func decode(_ line: some Collection<UInt8>) throws(ProtocolError) -> KioskMessage {
        try self.decodeJSON(KioskMessage.self, from: line, limit: self.maximumMessageBytes)
    }

    /// Decodes `T` from JSON text within this protocol's limits: at most `limit` bytes, valid UTF-8, nested no
    /// deeper than ``maximumDepth``; the decoder's failures become typed errors naming the field. Shared with
    /// the XFS4IoT codec, whose messages have the same shape.
    public static func decodeJSON<T: Decodable>(_ type: T.Type, from text: some Collection<UInt8>, limit: Int) throws(ProtocolError) -> T {
        let bytes = Array(text)
        guard bytes.count <= limit else { throw .tooLarge(limit: limit) }
        guard String(validating: bytes, as: UTF8.self) != nil else { throw .invalidUTF8 }
        try self.checkDepth(bytes)
        do {
            return try JSONDecoder().decode(T.self, from: Data(bytes))
        } catch DecodingError.keyNotFound(let key, _) {
            throw .invalidHeader("missing \(key.stringValue)")
        } catch DecodingError.dataCorrupted(let context) where !context.codingPath.isEmpty {
            throw .invalidHeader("\(context.codingPath.map(\.stringValue).joined(separator: ".")): \(context.debugDescription)")
        } catch DecodingError.typeMismatch(_, let context) {
            throw .invalidHeader("\(context.codingPath.map(\.stringValue).joined(separator: ".")) has the wrong type")
        } catch {
            throw .invalidJSON
        }
    }

    /// A message as one line, newline included.
    public static func encode(_ message: KioskMessage) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(message)) ?? Data("{}".utf8)
        return Array(data) + [0x0A]
    }

    /// Rejects nesting deeper than ``maximumDepth`` before the JSON parser sees it (a parser recursing
    /// on hostile input must not be what stops the daemon).
    static func checkDepth(_ bytes: [UInt8]) throws(ProtocolError) {
        var depth = 0
        var inString = false
        var escaped = false
        for byte in bytes {
            if inString {
                if escaped { escaped = false } else if byte == 0x5C { escaped = true } else if byte == 0x22 { inString = false }
                continue
            }
            switch byte {
            case 0x22: inString = true
            case 0x7B, 0x5B:
                depth += 1
                if depth > self.maximumDepth { throw .tooDeep(limit: self.maximumDepth) }
            case 0x7D, 0x5D: depth -= 1
            default: break
            }
        }
    }
}

/// Why a line is not an acceptable message.
public enum ProtocolError: Error, Hashable, Sendable, CustomStringConvertible {
    case tooLarge(limit: Int)
    case invalidUTF8
    case invalidJSON
    case tooDeep(limit: Int)
    case invalidHeader(String)
    case notACommand(String)
    case invalidRequestID
    case unknownCommand(String)
    case unsupportedVersion(name: String, version: String, supported: [String])

    public var description: String {
        switch self {
        case .tooLarge(let limit): "message longer than \(limit) bytes"
        case .invalidUTF8: "message is not valid UTF-8"
        case .invalidJSON: "message is not a JSON object with a header and a payload"
        case .tooDeep(let limit): "JSON nested deeper than \(limit) levels"
        case .invalidHeader(let detail): "invalid header: \(detail)"
        case .notACommand(let name): "\(name) is not a command; clients send commands only"
        case .invalidRequestID: "requestId must be a positive integer"
        case .unknownCommand(let name): "unknown command \(name)"
        case .unsupportedVersion(let name, let version, let supported): "\(name) version \(version) is not supported (supported: \(supported.joined(separator: ", ")))"
        }
    }

    /// The completion code a server answers this error with.
    public var completionCode: CompletionCode {
        switch self {
        case .unknownCommand: .unsupportedCommand
        case .unsupportedVersion: .unsupportedData
        default: .invalidCommand
        }
    }
}
