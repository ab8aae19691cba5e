import Foundation
import Glibc
import KioskProtocol
import Synchronization
import TestSupport
import Testing
import UnixSocket

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
            self.fd = try! UnixSocket.bind(path, kind: .datagram)
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
        _ = FileManager.default.createFile(atPath: directory + "/kioskd.log", contents: nil)
        daemon.standardError = FileHandle(forWritingAtPath: directory + "/kioskd.log")
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
        #expect(activation.output.contains("[TEST MODE: not a real activation]"))
        let log = (try? String(contentsOfFile: directory + "/kioskd.log", encoding: .utf8)) ?? ""
        #expect(log.split(separator: "\n").first?.contains("TEST MODE") == true, "the log's first line says test mode: \(log.prefix(300))")
        let journal = try await runProduct("kioskctl", ["journal", "--socket", socket])
        #expect(journal.output.contains("approved") && journal.output.contains("622823*********5274") && !journal.output.contains("6228230029000005274"))
        let verify = try await runProduct("kioskctl", ["journal", "--verify", "--socket", socket])
        #expect(verify.status == 0 && verify.output.contains("intact"))
        let metrics = try await runProduct("kioskctl", ["metrics", "--socket", socket])
        #expect(metrics.status == 0)
        #expect(metrics.output.contains(#"kiosk_activations_total{state="approved"} 1"#), "\(metrics.output)")
        #expect(metrics.output.contains(#"kiosk_card_reads_total{result="ok"}"#))
        #expect(metrics.output.contains("kiosk_gateway_latency_seconds"))
        #expect(metrics.output.contains(#"kiosk_reader_online{reader="Mock Reader 00 00"} 1"#))
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

@Suite(.timeLimit(.minutes(2))) struct SystemdUnitTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test("systemd-analyze verify passes on Config/systemd/kioskd.service and kioskd.socket")
    func unitsVerify() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("units-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let units = Self.repository.appendingPathComponent("Config/systemd")
        // The unit names the installed path; check it against the binary just built.
        let service = try String(contentsOf: units.appendingPathComponent("kioskd.service"), encoding: .utf8)
            .replacingOccurrences(of: "/usr/local/bin/kioskd", with: productPath("kioskd"))
        try service.write(toFile: directory + "/kioskd.service", atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(atPath: units.appendingPathComponent("kioskd.socket").path, toPath: directory + "/kioskd.socket")
        let run = try await runProcess("/usr/bin/env", ["systemd-analyze", "verify", directory + "/kioskd.service", directory + "/kioskd.socket"])
        #expect(run.status == 0, "\(run.output) \(run.error)")
        #expect(!run.error.contains("kioskd.service:"), "\(run.error)")
    }

    @Test("socket activation: kioskd serves the socket passed as fd 3 ($LISTEN_FDS/$LISTEN_PID) and creates none of its own")
    func socketActivation() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sa-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/activated.sock"
        let listener = try UnixSocket.bind(path, backlog: 16)
        defer { close(listener) }

        // systemd sets LISTEN_PID to the service's own pid after fork: a shell that execs kioskd does the same.
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, listener, 3)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let words = ["/bin/sh", "-c", "LISTEN_PID=$$ LISTEN_FDS=1 RUNTIME_DIRECTORY=\"$1\" STATE_DIRECTORY=\"$1\" exec \"$0\" --mock", productPath("kioskd"), directory]
        let arguments: [UnsafeMutablePointer<CChar>?] = words.map { strdup($0) }
        defer { arguments.forEach { free($0) } }
        var argv = arguments + [nil]
        var pid: pid_t = 0
        try #require(posix_spawn(&pid, "/bin/sh", &actions, nil, &argv, environ) == 0)
        defer {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
        var answered = false
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .seconds(20))
        while !answered && clock.now < deadline {
            if let client = try? TestClient(path: path) {
                client.send("Common.Status", 1)
                answered = await client.completion(1, timeout: .seconds(2))?.header.completionCode == .success
                client.disconnect()
            }
            if !answered { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(answered)
        #expect(!FileManager.default.fileExists(atPath: directory + "/kiosk.sock"))
    }
}
