import Foundation
import Glibc
import Testing
import UnixSocket

@Suite("UnixSocket: addresses, bind, connect, one-line requests")
struct UnixSocketTests {
    @Test("a path too long for sun_path is an error naming it, never truncated into another path")
    func tooLong() throws {
        let path = "/tmp/" + String(repeating: "x", count: 120)
        #expect(throws: UnixSocketError.self) { try UnixSocket.connect(path) }
        do {
            _ = try UnixSocket.bind(path)
            Issue.record("bind accepted a 125-byte path")
        } catch {
            #expect(error.path == path && error.reason.contains("107"))
        }
    }

    @Test("stream: bind, connect, a one-line request answered; a missing socket is ECONNREFUSED/ENOENT with the path")
    func request() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("us-\(UUID().uuidString.prefix(8)).sock").path
        let listener = try UnixSocket.bind(path)
        defer {
            close(listener)
            unlink(path)
        }
        Thread.detachNewThread {
            let client = accept(listener, nil, nil)
            var line: [UInt8] = []
            var byte: UInt8 = 0
            while read(client, &byte, 1) == 1 && byte != 0x0A { line.append(byte) }
            UnixSocket.writeAll(client, Array("echo \(String(decoding: line, as: UTF8.self))\n".utf8))
            close(client)
        }
        let answer = try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread { continuation.resume(with: Result { try UnixSocket.request(path, line: "hello 你好") }) }
        }
        #expect(answer == "echo hello 你好")
        do {
            _ = try UnixSocket.connect(path + ".missing")
            Issue.record("connected to a missing socket")
        } catch {
            #expect(error.operation == "connect" && error.description.contains(path + ".missing"))
        }
    }

    @Test("datagram in the abstract namespace (@name), as systemd's notify socket may be")
    func abstractDatagram() throws {
        let name = "@cardkiosk-test-\(UUID().uuidString.prefix(8))"
        let receiver = try UnixSocket.bind(name, kind: .datagram)
        defer { close(receiver) }
        let sender = try UnixSocket.connect(name, kind: .datagram)
        defer { close(sender) }
        #expect(UnixSocket.writeAll(sender, Array("READY=1".utf8)))
        var buffer = [UInt8](repeating: 0, count: 64)
        let count = recv(receiver, &buffer, buffer.count, Int32(MSG_DONTWAIT))
        #expect(count == 7 && String(decoding: buffer[0..<max(count, 0)], as: UTF8.self) == "READY=1")
    }
}
