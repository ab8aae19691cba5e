import Foundation
import Glibc
import KioskClient
import KioskProtocol
import KioskSettings
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
            await waitUntil(timeout: timeout) { self.received.lines.withLock { $0.contains { $0.contains(text) } } }
        }

        func close() { shutdown(self.fd, Int32(SHUT_RDWR)) }
    }

    @Test("READY=1, watchdog pings, a whole activation through kioskctl, journal and verify, STOPPING=1 on SIGTERM")
    func daemonUnderSystemd() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kd-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let notify = NotifySocket(path: directory + "/notify")
        defer { notify.close() }
        let epp = try await EPPSimulatorProcess(directory: directory)
        defer { epp.stop() }
        let daemon = Process()
        daemon.executableURL = URL(fileURLWithPath: productPath("kioskd"))
        daemon.arguments = ["--mock", "--sim-control", directory + "/sim.sock", "--socket", directory + "/kiosk.sock"]
        var environment = ProcessInfo.processInfo.environment
        environment["KIOSKD_PIN_PAD_URL"] = epp.url
        environment["NOTIFY_SOCKET"] = notify.path
        environment["WATCHDOG_USEC"] = "400000"
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

        // READY=1 comes before the EPP has its PIN key: wait until the kiosk can take a customer.
        #expect(await waitUntilReadyForCustomer(socket: socket, timeout: .seconds(10)))
        let activation = try await runProduct(
            "kioskctl", ["activate", "--socket", socket, "--simulate-customer", directory + "/sim.sock", "--pin-pad-control", epp.control])
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
        #expect(await waitUntil(timeout: .seconds(10)) { !daemon.isRunning }, "kioskd did not stop within 10 s of SIGTERM")
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

    /// A unit file's `Key=Value` lines (comments and section headers left out), in order.
    static func settings(ofUnit name: String) throws -> [(key: String, value: String)] {
        let text = try String(contentsOf: Self.repository.appendingPathComponent("Config/systemd/\(name)"), encoding: .utf8)
        return text.split(separator: "\n").compactMap { line -> (key: String, value: String)? in
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard !trimmed.hasPrefix("#"), !trimmed.hasPrefix(";"), !trimmed.hasPrefix("["), let equals = trimmed.firstIndex(of: "=") else { return nil }
            return (String(trimmed[..<equals]), String(trimmed[trimmed.index(after: equals)...]))
        }
    }

    @Test("the kiosk socket's directory is none of the service's own directories, and the socket's group can traverse it")
    func socketDirectory() throws {
        let socket = try Self.settings(ofUnit: "kioskd.socket")
        let service = try Self.settings(ofUnit: "kioskd.service")
        let listen = try #require(socket.first { $0.key == "ListenStream" }?.value)
        #expect(listen.hasPrefix("/"), "ListenStream is a path")
        let directory = URL(fileURLWithPath: listen).deletingLastPathComponent().path
        // The directories systemd creates and owns for the service (0700/0750, its own user): a socket inside
        // one of them is out of reach of the screen's group once the service starts.
        let roots = ["RuntimeDirectory": "/run", "StateDirectory": "/var/lib", "CacheDirectory": "/var/cache", "LogsDirectory": "/var/log", "ConfigurationDirectory": "/etc"]
        for (key, value) in service {
            guard let root = roots[key] else { continue }
            for name in value.split(separator: " ") {
                let owned = root + "/" + name
                #expect(directory != owned && !directory.hasPrefix(owned + "/"), "the socket \(listen) lies in \(key)=\(name) (\(owned))")
            }
        }
        // systemd creates the socket's directory as root with DirectoryMode (default 0755): its group is root's,
        // so the socket's group traverses it through the bits for others.
        let mode = try #require(Int(socket.first { $0.key == "DirectoryMode" }?.value ?? "0755", radix: 8))
        #expect(mode & 0o001 != 0, "DirectoryMode \(String(mode, radix: 8)) keeps the kiosk screen's group out of \(directory)")
        #expect(socket.first { $0.key == "SocketGroup" }?.value == "kioskd-ui")
        #expect(socket.first { $0.key == "SocketMode" }?.value == "0660")
        // kioskctl and kioskd's own default agree with the unit.
        #expect(KioskSettings.defaultSocketPath == listen)
    }

    /// The exposure score `systemd-analyze security` gave the unit when the device ACL, ProcSubset, RemoveIPC,
    /// PrivateMounts and the loopback-only address list came in (1.7 before them). Lower is better.
    static let exposureCeiling = 1.3

    @Test("systemd-analyze security: the unit's exposure stays at or under its ceiling; the hardening the issue names is there")
    func securityExposure() async throws {
        let service = try Self.settings(ofUnit: "kioskd.service")
        for (key, value) in [("ProcSubset", "pid"), ("RemoveIPC", "yes"), ("DevicePolicy", "closed"), ("IPAddressDeny", "any"), ("NoNewPrivileges", "yes")] {
            #expect(service.contains { $0.key == key && $0.value == value }, "\(key)=\(value) is missing")
        }
        #expect(service.filter { $0.key == "DeviceAllow" }.allSatisfy { $0.value.hasPrefix("char-tty") }, "only serial ttys are allowed")
        #expect(!service.contains { $0.key.hasPrefix("RuntimeDirectory") })
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("security-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let text = try String(contentsOf: Self.repository.appendingPathComponent("Config/systemd/kioskd.service"), encoding: .utf8)
            .replacingOccurrences(of: "/usr/local/bin/kioskd", with: productPath("kioskd"))
        try text.write(toFile: directory + "/kioskd.service", atomically: true, encoding: .utf8)
        let run = try await runProcess("/usr/bin/env", ["systemd-analyze", "security", "--offline=yes", "--no-pager", directory + "/kioskd.service"])
        let line = try #require(run.output.split(separator: "\n").first { $0.contains("Overall exposure level") }, "\(run.output) \(run.error)")
        let score = try #require(line.split(separator: ":").last?.split(separator: " ").first.flatMap { Double($0) }, "\(line)")
        print("systemd-analyze security kioskd.service: exposure \(score) (ceiling \(Self.exposureCeiling))")
        #expect(score <= Self.exposureCeiling, "\(line)")
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
        let words = ["/bin/sh", "-c", "LISTEN_PID=$$ LISTEN_FDS=1 STATE_DIRECTORY=\"$1\" exec \"$0\" --mock --socket \"$1/kiosk.sock\"", productPath("kioskd"), directory]
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
