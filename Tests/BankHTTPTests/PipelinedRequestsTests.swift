import BankSimulator
import Foundation
import Glibc
import TestSupport
import Testing

/// The simulated bank over HTTP/1.1 with many requests in flight on one connection: every response is written
/// whole, never interleaved with another (NIO's HTTP server traps on a second head before the first end;
/// the duplicate-answer fault and a client's next request once crashed the test process that way).
@Suite(.timeLimit(.minutes(1))) struct PipelinedRequestsTests {
    @Test("40 pipelined requests on one connection: 40 whole responses, the server still serves")
    func pipelined() async throws {
        let bench = try await HTTPBench()
        let port = bench.port
        let responses = try await onOwnThread { () throws -> Int in
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = UInt16(port).bigEndian
            inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
            let rc = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            guard rc == 0 else { throw CocoaError(.fileReadUnknown) }
            var timeout = timeval(tv_sec: 10, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            // Unsigned requests: each is answered 401 with a signed body, through the same code as any answer.
            let one = "POST /v1/activations HTTP/1.1\r\nHost: bank\r\nContent-Length: 2\r\n\r\n{}"
            let all = Array(String(repeating: one, count: 40).utf8)
            _ = all.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
            var received: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65536)
            while Self.count("HTTP/1.1 ", in: received) < 40 {
                let n = recv(fd, &buffer, buffer.count, 0)
                if n <= 0 { break }
                received += buffer[0..<n]
            }
            return Self.count("HTTP/1.1 401", in: received)
        }
        #expect(responses == 40)
        // Still serving (the process did not trap, the bank answers a real request).
        #expect(await bench.bank.ledger().isEmpty)
        await bench.finish()
    }

    static func count(_ needle: String, in bytes: [UInt8]) -> Int {
        let pattern = Array(needle.utf8)
        guard bytes.count >= pattern.count else { return 0 }
        var found = 0
        var index = 0
        while index <= bytes.count - pattern.count {
            if bytes[index] == pattern[0] && Array(bytes[index..<index + pattern.count]) == pattern {
                found += 1
                index += pattern.count
            } else {
                index += 1
            }
        }
        return found
    }
}
