import Foundation
import Glibc
import Synchronization
import TestSupport
import Testing

/// kioskd as systemd runs it (a notify socket the test creates, a watchdog interval), driven by kioskctl
/// as a kiosk screen and an operator would.
@Suite(.timeLimit(.minutes(2))) struct DaemonTests {
    /// A datagram socket standing in for systemd's notify socket; collects what kioskd sends.
    final class NotifySocket: @unchecked Sendable {
        let path: String
        let fd: Int32
        let received = Box()

        final class Box: Sendable {
            let lines = Mutex<[String]>([])
        }

        init(path: String) {
            self.path = path
            self.fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { raw in
                for (index, byte) in path.utf8.enumerated() where index < raw.count - 1 { raw[index] = byte }
            }
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(self.fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            precondition(bound == 0, "bind \(path): \(String(cString: strerror(errno)))")
            let fd = self.fd
            Thread.detachNewThread { [received] in
                var buffer = [UInt8](repeating: 0, count: 4096)
                while true {
                    let count = recv(fd, &buffer, buffer.count, 0)
                    if count <= 0 { return }
                    received.lines.withLock { $0.append(String(decoding: buffer[0..<count], as: UTF8.self)) }
                }
            }
        }

        func wait(for text: String, timeout: Duration = .seconds(20)) async -> Bool {
            let clock = ContinuousClock()
            let deadline = clock.now.advanced(by: timeout)
            while clock.now < deadline {
                if self.received.lines.withLock({ $0.contains { $0.contains(text) } }) { return true }
                try? await Task.sleep(for: .milliseconds(20))
            }
            return false
        }

        func close() { shutdown(self.fd, Int32(SHUT_RDWR)) }
    }

    @Test("READY=1 after the resolver, watchdog pings, a whole activation through kioskctl, journal and verify, STOPPING=1 on SIGTERM")
    func daemonUnderSystemd() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kd-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let notify = NotifySocket(path: directory + "/notify")
        defer { notify.close() }
        let daemon = Process()
        daemon.executableURL = URL(fileURLWithPath: productPath("kioskd"))
        daemon.arguments = ["--mock", "--sim-control", directory + "/sim.sock"]
        var environment = ProcessInfo.processInfo.environment
        environment["NOTIFY_SOCKET"] = notify.path
        environment["WATCHDOG_USEC"] = "400000"
        environment["RUNTIME_DIRECTORY"] = directory
        environment["STATE_DIRECTORY"] = directory
        daemon.environment = environment
        daemon.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try daemon.run()
        defer { if daemon.isRunning { kill(daemon.processIdentifier, SIGKILL) } }
        #expect(await notify.wait(for: "READY=1"), "notify got \(notify.received.lines.withLock { $0 }) on \(notify.path), fd \(notify.fd)")
        #expect(await notify.wait(for: "WATCHDOG=1"))
        try #require(notify.received.lines.withLock { $0.contains { $0.contains("READY=1") } })
        let socket = directory + "/kiosk.sock"

        let activation = try await runProduct("kioskctl", ["activate", "--socket", socket, "--simulate-customer", directory + "/sim.sock"])
        #expect(activation.status == 0, "\(activation.output) \(activation.error)")
        #expect(activation.output.contains("激活成功") && activation.output.contains("PIN ●●●●●●"))
        #expect(!activation.output.contains("802461") && !activation.output.contains("440303198101011117"))
        let journal = try await runProduct("kioskctl", ["journal", "--socket", socket])
        #expect(journal.output.contains("approved") && journal.output.contains("622823*********5274") && !journal.output.contains("6228230029000005274"))
        let verify = try await runProduct("kioskctl", ["journal", "--verify", "--socket", socket])
        #expect(verify.status == 0 && verify.output.contains("intact"))
        let status = try await runProduct("kioskctl", ["status", "--socket", socket, "--json"])
        #expect(status.output.contains("\"activation\" : \"idle\""))

        kill(daemon.processIdentifier, SIGTERM)
        #expect(await notify.wait(for: "STOPPING=1"))
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .seconds(10))
        while daemon.isRunning && clock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        #expect(!daemon.isRunning, "kioskd did not stop within 10 s of SIGTERM")
        #expect(!daemon.isRunning && daemon.terminationStatus == 0)
    }
}
