import Foundation
import Glibc
import KioskProtocol
import UnixSocket

/// A client of the kiosk socket: sends commands, and hands every message the daemon sends to an
/// `AsyncStream`, read on a thread of its own.
final class SocketClient: @unchecked Sendable {
    let fd: Int32
    let messages: AsyncStream<KioskMessage>
    private var nextRequest = 0

    static let defaultPath = ProcessInfo.processInfo.environment["KIOSK_SOCKET"] ?? "/run/cardkiosk/kiosk.sock"

    init(path: String) throws {
        self.fd = try Self.connect(path)
        let fd = self.fd
        let (stream, continuation) = AsyncStream.makeStream(of: KioskMessage.self)
        self.messages = stream
        Thread.detachNewThread {
            UnixSocket.readLines(fd) { line in
                if let message = try? KioskProtocol.decode(line) { continuation.yield(message) }
            }
            continuation.finish()
        }
    }

    static func connect(_ path: String) throws -> Int32 {
        do {
            return try UnixSocket.connect(path)
        } catch {
            throw SocketClientError("cannot connect to the kiosk socket \(path): \(error.reason) (is kioskd running? --socket or $KIOSK_SOCKET)")
        }
    }

    /// Sends a command; returns its requestId.
    @discardableResult
    func send(_ name: String, payload: JSONValue = .object([:]), timeout: Int? = nil) -> Int {
        self.nextRequest += 1
        UnixSocket.writeAll(self.fd, KioskProtocol.encode(KioskMessage(header: MessageHeader(name: name, requestId: self.nextRequest, type: .command, timeout: timeout), payload: payload)))
        return self.nextRequest
    }

    /// Sends a command and returns its completion (or the refusal acknowledge).
    func call(_ name: String, payload: JSONValue = .object([:])) async throws -> KioskMessage {
        let id = self.send(name, payload: payload)
        for await message in self.messages where message.header.requestId == id {
            if message.header.type == .completion || (message.header.type == .acknowledge && message.header.status != nil) { return message }
        }
        throw SocketClientError("the daemon closed the connection")
    }

    func close() { shutdown(self.fd, Int32(SHUT_RDWR)) }
}

struct SocketClientError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Sends one line to the simulated devices' control socket (kioskd --mock --sim-control) and returns its answer.
func simulatorCommand(_ path: String, _ line: String) throws -> String {
    do { return try UnixSocket.request(path, line: line) } catch { throw SocketClientError("simulator control socket: \(error)") }
}
