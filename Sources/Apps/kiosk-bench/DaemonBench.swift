import ArgumentParser
import Foundation
import Glibc
import KioskClient
import KioskProtocol
import Synchronization
import UnixSocket

/// kioskd as a process, measured from outside over its socket: a whole activation with device latencies
/// injected (card APDUs, ID-module answers, the bank over signed HTTP) against the critical path computed
/// from those latencies; the latency of a card-insertion event to a socket client against a status round
/// trip; idle memory and wake-ups; and the time from start to `READY=1` against the time to start and
/// check the configuration.
struct DaemonBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "daemon", abstract: "kioskd: activation vs critical path, event latency, idle cost, time to READY.")

    @Option(help: "The kioskd executable.") var kioskd: String
    @Option(help: "The kiosk-bank-sim executable.") var bankSim: String
    @Option(help: "The kiosk-epp-sim executable (the EPP, where the customer types the PIN).") var eppSim: String
    @Option(help: "A scratch directory.") var work: String
    @Option(help: "Injected latency of every card APDU, ms.") var apduMilliseconds = 15
    @Option(help: "Injected latency of every ID-module answer, ms.") var idMilliseconds = 120
    @Option(help: "The bank's processing time per request, ms.") var bankMilliseconds = 500
    @Option(help: "Activations to time.") var activations = 7
    @Option(help: "Card insertions to time.") var events = 40
    @Option(help: "Seconds to watch the idle daemon.") var idleSeconds = 30
    @Option(help: "Starts to time.") var starts = 5
    @Option(help: "A pcscd reader: also measure kioskd on real PC/SC (idle cost, time to READY).") var pcscReader: String?

    func run() async throws {
        try FileManager.default.createDirectory(atPath: self.work, withIntermediateDirectories: true)
        let fixture = self.work + "/bank-fixture.json"
        try #"{"defaultCode": "00", "rules": [], "pinKey": "0123456789ABCDEFFEDCBA9876543210", "processingMilliseconds": \#(self.bankMilliseconds)}"#.write(toFile: fixture, atomically: true, encoding: .utf8)
        let bank = try Child.start(self.bankSim, ["serve", "--keys", self.work + "/bank", "--port", "0", "--fixture", fixture])
        defer { bank.stop() }
        guard let url = try await bank.waitForLine(prefix: "listening on ") else { throw BenchError("kiosk-bank-sim did not start") }
        print("bank: kiosk-bank-sim at \(url.dropFirst("listening on ".count)), \(self.bankMilliseconds) ms per request, signed HTTP")
        let profile = self.work + "/bank/profile.json"
        // The EPP: kiosk-epp-sim with the bank's TEST terminal master key; the PIN is typed there, never in kioskd.
        let eppControl = self.work + "/epp.sock"
        let epp = try Child.start(self.eppSim, ["--keys", self.work + "/bank", "--port", "0", "--control", eppControl], log: self.work + "/epp.log")
        defer { epp.stop() }
        guard let eppLine = try await epp.waitForLine(prefix: "listening on ") else { throw BenchError("kiosk-epp-sim did not start") }
        let eppURL = String(eppLine.dropFirst("listening on ".count))
        func pinPad(_ line: String) throws -> String { try UnixSocket.request(eppControl, line: line) }

        let notify = try NotifyListener(path: self.work + "/notify.sock")
        defer { notify.close() }
        let daemon = try await self.startDaemon(["--mock", "--bank-profile", profile, "--sim-control", self.work + "/sim.sock"], name: "mock", notify: notify, eppURL: eppURL)
        defer { daemon.stop() }
        let control = self.work + "/sim.sock"
        func sim(_ line: String) throws -> String { try UnixSocket.request(control, line: line) }
        _ = try sim("latency card \(self.apduMilliseconds)")
        _ = try sim("latency id \(self.idMilliseconds)")

        try await self.waitForPINPad(socket: self.work + "/mock.sock")
        try await self.measureActivations(socket: self.work + "/mock.sock", sim: sim, pinPad: pinPad)
        try await self.measureEvents(socket: self.work + "/mock.sock", sim: sim)
        // The floor of any process on this toolchain: one that ran a Swift task and a dispatch block, then idles.
        let floor = try Child.start(CommandLine.arguments[0], ["idle-floor"], log: "/dev/null")
        let floorCost = try await self.measureIdle(pid: floor.pid, label: "floor (kiosk-bench idle-floor: Swift concurrency + Foundation, idle)")
        floor.stop()
        let mockCost = try await self.measureIdle(pid: daemon.pid, label: "kioskd --mock")
        Self.compare(mockCost, floorCost)
        try await self.measureStart(["--mock", "--bank-profile", profile], notify: notify, label: "kioskd --mock", eppURL: eppURL)
        if let reader = self.pcscReader {
            // --test: the profile kiosk-bank-sim wrote is a test profile, which production mode refuses.
            let real = try await self.startDaemon(["--card-reader", reader, "--bank-profile", profile, "--test"], name: "pcsc", notify: notify, eppURL: eppURL)
            let pcscCost = try await self.measureIdle(pid: real.pid, label: "kioskd on pcscd (\(reader))")
            Self.compare(pcscCost, floorCost)
            real.stop()
            try await self.measureStart(["--card-reader", reader, "--bank-profile", profile, "--test"], notify: notify, label: "kioskd on pcscd", eppURL: eppURL)
        }
    }

    private func startDaemon(_ arguments: [String], name: String, notify: NotifyListener, eppURL: String) async throws -> Child {
        notify.reset()
        let child = try Child.start(
            self.kioskd, arguments + ["--socket", "\(self.work)/\(name).sock", "--journal", "\(self.work)/\(name).sqlite"],
            environment: ["NOTIFY_SOCKET": notify.path, "KIOSKD_PIN_PAD_URL": eppURL], log: "\(self.work)/\(name).log")
        guard await notify.wait(for: "READY=1", timeout: .seconds(30)) != nil else { throw BenchError("kioskd \(name) not ready; log: \(self.work)/\(name).log") }
        return child
    }

    /// READY=1 comes before the EPP has the bank's PIN key: wait until the kiosk could take a customer.
    private func waitForPINPad(socket: String) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .seconds(20))
        while clock.now < deadline {
            let client = try KioskSocketClient(path: socket)
            defer { client.close() }
            if (try? await client.call("Common.Status"))?.payload["pinPad"]?["ready"]?.bool == true { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw BenchError("the EPP never became ready")
    }

    // MARK: Activation against its critical path

    private func measureActivations(socket: String, sim: (String) throws -> String, pinPad: (String) throws -> String) async throws {
        print("\nwhole activation over the socket (ID card placed first, then the social security card; the screen confirms and the customer types at once):")
        var totals: [Double] = []
        var paths: [Double] = []
        var apduCounts: [Int] = []
        for index in 0...self.activations {
            let client = try KioskSocketClient(path: socket)
            defer { client.close() }
            let start = client.send("Activation.Start", payload: ["language": "zh-Hans"])
            guard await client.wait(timeout: .seconds(20), where: { $0.header.name == "Activation.StageEvent" && $0.payload["stage"]?.string == "waitingForCards" }) != nil else { throw BenchError("no waitingForCards") }
            // The ID card is read while it lies on the module; the flow then waits for the other card again.
            _ = try sim("id place demo")
            let stages = { client.messages.filter { $0.header.name == "Activation.StageEvent" }.map { $0.payload["stage"]?.string ?? "" } }
            let clock = ContinuousClock()
            let idDeadline = clock.now.advanced(by: .seconds(10))
            while stages().filter({ $0 == "waitingForCards" }).count < 2 && clock.now < idDeadline { try await Task.sleep(for: .milliseconds(2)) }
            let before = try Self.stats(sim)
            let t0 = clock.now
            _ = try sim("card insert ssc-demo")
            guard await client.wait(timeout: .seconds(20), where: { $0.header.name == "Activation.DetailsEvent" }) != nil else { throw BenchError("no details") }
            client.send("Activation.Confirm")
            for stage in ["enteringPIN", "confirmingPIN"] {
                guard await client.wait(timeout: .seconds(20), where: { $0.header.name == "Activation.StageEvent" && $0.payload["stage"]?.string == stage }) != nil else { throw BenchError("no \(stage)") }
                while try pinPad("pin 802461") != "ok" { try await Task.sleep(for: .milliseconds(1)) }
            }
            guard let result = await client.wait(timeout: .seconds(20), where: { $0.header.name == "Activation.ResultEvent" }) else { throw BenchError("no result") }
            let total = clock.now - t0
            let after = try Self.stats(sim)
            _ = try sim("card remove")
            _ = try sim("id remove")
            _ = await client.wait(timeout: .seconds(20), where: { $0.header.requestId == start && $0.header.type == .completion })
            guard result.payload["state"]?.string == "approved" else { throw BenchError("activation \(index): \(result.payload)") }
            let apdus = after.apdus - before.apdus
            // The critical path: the card's APDUs one after another, then the bank's one request.
            let path = Double(apdus * self.apduMilliseconds + self.bankMilliseconds)
            if index == 0 { continue }  // warm-up
            totals.append(total.milliseconds)
            paths.append(path)
            apduCounts.append(apdus)
        }
        let total = Bench.median(totals)
        let path = Bench.median(paths)
        print("  injected: \(self.apduMilliseconds) ms per APDU, \(self.idMilliseconds) ms per ID-module answer, \(self.bankMilliseconds) ms per bank request")
        print("  APDUs on the critical path: \(Set(apduCounts).sorted().map(String.init).joined(separator: "/")); critical path \(String(format: "%.0f", path)) ms = APDUs × \(self.apduMilliseconds) + \(self.bankMilliseconds)")
        print("  card inserted → result shown: \(Bench.list(totals)) ms; median \(String(format: "%.1f", total)) ms")
        print(String(format: "  ratio activation/critical path: %.3f (target ≤ 1.05)", total / path))
    }

    private static func stats(_ sim: (String) throws -> String) throws -> (apdus: Int, idCommands: Int) {
        let answer = try sim("stats")
        func value(_ key: String) -> Int { Int(answer.split(separator: " ").first { $0.hasPrefix(key + "=") }?.split(separator: "=").last ?? "") ?? 0 }
        return (value("apdus"), value("idcommands"))
    }

    // MARK: Event latency

    private func measureEvents(socket: String, sim: (String) throws -> String) async throws {
        _ = try sim("latency card 0")
        let client = try KioskSocketClient(path: socket)
        defer { client.close() }
        var rtts: [Double] = []
        for _ in 0..<self.events {
            let clock = ContinuousClock()
            let t0 = clock.now
            let id = client.send("Common.Status")
            _ = await client.wait(timeout: .seconds(20), where: { $0.header.requestId == id && $0.header.type == .completion })
            rtts.append((clock.now - t0).milliseconds)
        }
        var latencies: [Double] = []
        for _ in 0..<self.events {
            let seen = client.count
            let clock = ContinuousClock()
            let t0 = clock.now
            _ = try sim("card insert ssc-demo")
            guard await client.wait(after: seen, timeout: .seconds(20), where: { $0.header.name == "Common.StatusChangedEvent" && $0.payload["event"]?.string == "mediaPresent" }) != nil else {
                throw BenchError("no mediaPresent event")
            }
            latencies.append((clock.now - t0).milliseconds)
            let removedAt = client.count
            _ = try sim("card remove")
            _ = await client.wait(after: removedAt, timeout: .seconds(20), where: { $0.payload["event"]?.string == "mediaNotPresent" })
        }
        let latency = Bench.median(latencies)
        let rtt = Bench.median(rtts)
        print("\ncard insertion → Common.StatusChangedEvent at a socket client (\(self.events) insertions; the simulator's control round trip included):")
        print(String(format: "  median %.3f ms, p95 %.3f ms; baseline Common.Status round trip median %.3f ms; ratio %.2f", latency, Self.percentile(latencies, 0.95), rtt, latency / rtt))
    }

    static func percentile(_ values: [Double], _ p: Double) -> Double {
        let sorted = values.sorted()
        return sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
    }

    // MARK: Idle cost and start-up

    /// What an idle process costs: wake-ups per second (context switches of all its threads, per thread
    /// name) and resident memory (private, and file-backed per mapping).
    struct IdleCost {
        var wakeUps: Double
        var byThread: [(String, Double)]
        var rss: Int
        var anon: Int
    }

    @discardableResult
    private func measureIdle(pid: Int32, label: String) async throws -> IdleCost {
        try await Task.sleep(for: .seconds(2))
        let before = Self.switches(pid: pid)
        try await Task.sleep(for: .seconds(self.idleSeconds))
        let after = Self.switches(pid: pid)
        let memory = Self.memory(pid: pid)
        let perThread = after.compactMap { tid, value -> (String, Int)? in
            guard let earlier = before[tid] else { return nil }
            return (Self.threadName(pid: pid, tid: tid), value - earlier)
        }
        let total = perThread.reduce(0) { $0 + $1.1 }
        let seconds = Double(self.idleSeconds)
        let byThread = Dictionary(grouping: perThread, by: \.0).mapValues { Double($0.reduce(0) { $0 + $1.1 }) / seconds }.sorted { $0.value > $1.value }
        print("\nidle \(label): \(String(format: "%.2f", Double(total) / seconds)) wake-ups per second over \(self.idleSeconds) s (context switches of all \(after.count) threads)")
        print("  by thread: " + byThread.prefix(5).map { "\($0.key) \(String(format: "%.2f", $0.value))/s" }.joined(separator: ", "))
        print("  RSS \(memory.rss / 1024) MiB (\(memory.rss) KiB): private \(memory.anon) KiB, file-backed \(memory.rss - memory.anon) KiB; largest mappings:")
        for (name, kib) in memory.mappings.prefix(8) { print("    \(String(format: "%6d", kib)) KiB  \(name)") }
        return IdleCost(wakeUps: Double(total) / seconds, byThread: byThread.map { ($0.key, $0.value) }, rss: memory.rss, anon: memory.anon)
    }

    /// kioskd against the floor, in the same run.
    private static func compare(_ daemon: IdleCost, _ floor: IdleCost) {
        print(String(
            format: "  against the floor: wake-ups %.2f/s vs %.2f/s (%.2f/s of kioskd's own); RSS %d vs %d KiB (ratio %.2f), private %d vs %d KiB",
            daemon.wakeUps, floor.wakeUps, max(0, daemon.wakeUps - floor.wakeUps), daemon.rss, floor.rss, Double(daemon.rss) / Double(max(floor.rss, 1)),
            daemon.anon, floor.anon))
    }

    private func measureStart(_ arguments: [String], notify: NotifyListener, label: String, eppURL: String) async throws {
        var ready: [Double] = []
        var checked: [Double] = []
        for index in 0..<self.starts {
            let name = "start-\(index)"
            let clock = ContinuousClock()
            let t0 = clock.now
            notify.reset()
            let child = try Child.start(
                self.kioskd, arguments + ["--socket", "\(self.work)/\(name).sock", "--journal", "\(self.work)/\(name).sqlite"],
                environment: ["NOTIFY_SOCKET": notify.path, "KIOSKD_PIN_PAD_URL": eppURL], log: "\(self.work)/\(name).log")
            guard await notify.wait(for: "READY=1", timeout: .seconds(30)) != nil else { throw BenchError("no READY=1 (\(self.work)/\(name).log)") }
            ready.append((clock.now - t0).milliseconds)
            child.stop()
            let c0 = clock.now
            let check = try Child.start(self.kioskd, arguments + ["--check-config", "--socket", "\(self.work)/\(name).sock", "--journal", "\(self.work)/\(name).sqlite"], log: "/dev/null")
            check.waitForExit()
            checked.append((clock.now - c0).milliseconds)
        }
        let r = Bench.median(ready)
        let c = Bench.median(checked)
        print("\nstart → READY=1, \(label) (\(self.starts) starts; journal opened, resolver run, socket bound): \(Bench.list(ready)) ms, median \(String(format: "%.1f", r)) ms")
        print(String(format: "  baseline: start and check the configuration (kioskd --check-config) median %.1f ms; ratio %.2f", c, r / c))
    }

    private static func switches(pid: Int32) -> [String: Int] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        var result: [String: Int] = [:]
        for tid in tasks {
            guard let status = try? String(contentsOfFile: "/proc/\(pid)/task/\(tid)/status", encoding: .utf8) else { continue }
            result[tid] = status.split(separator: "\n").reduce(0) { total, line in
                guard line.hasPrefix("voluntary_ctxt_switches") || line.hasPrefix("nonvoluntary_ctxt_switches") else { return total }
                return total + (Int(line.split(separator: ":").last?.trimmingCharacters(in: .whitespaces) ?? "") ?? 0)
            }
        }
        return result
    }

    private static func threadName(pid: Int32, tid: String) -> String {
        ((try? String(contentsOfFile: "/proc/\(pid)/task/\(tid)/comm", encoding: .utf8)) ?? "?").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// VmRSS and RssAnon (KiB), and the resident KiB of each file mapping, largest first.
    private static func memory(pid: Int32) -> (rss: Int, anon: Int, mappings: [(String, Int)]) {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        func field(_ name: String) -> Int {
            let line = status.split(separator: "\n").first { $0.hasPrefix(name + ":") } ?? ""
            return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
        }
        var byFile: [String: Int] = [:]
        var current = ""
        // Read to the end: a procfs file reports size 0, and String(contentsOfFile:) stops at its first page.
        let smaps = FileHandle(forReadingAtPath: "/proc/\(pid)/smaps").map { String(decoding: $0.readDataToEndOfFile(), as: UTF8.self) } ?? ""
        for line in smaps.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if let first = fields.first, first.contains("-"), fields.count >= 5 {
                current = fields.count >= 6 ? String(fields[5]) : "[anonymous]"
            } else if fields.first == "Rss:", fields.count >= 2, current.hasPrefix("/") {
                byFile[(current as NSString).lastPathComponent, default: 0] += Int(fields[1]) ?? 0
            }
        }
        return (field("VmRSS"), field("RssAnon"), byFile.sorted { $0.value > $1.value })
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension Duration {
    var milliseconds: Double { Double(self.components.seconds) * 1000 + Double(self.components.attoseconds) / 1e15 }
}

/// A child process with its stdout captured line by line.
final class Child: @unchecked Sendable {
    let process = Process()
    let lines = Mutex<[String]>([])
    var pid: Int32 { self.process.processIdentifier }

    static func start(_ path: String, _ arguments: [String], environment: [String: String] = [:], log: String? = nil) throws -> Child {
        let child = Child()
        child.process.executableURL = URL(fileURLWithPath: path)
        child.process.arguments = arguments
        child.process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        if let log {
            _ = FileManager.default.createFile(atPath: log, contents: nil)
            child.process.standardError = FileHandle(forWritingAtPath: log)
        }
        let pipe = Pipe()
        child.process.standardOutput = pipe
        try child.process.run()
        Thread.detachNewThread {
            var pending = Data()
            while true {
                let data = pipe.fileHandleForReading.availableData
                if data.isEmpty { return }
                pending += data
                while let newline = pending.firstIndex(of: 0x0A) {
                    let line = String(decoding: pending[pending.startIndex..<newline], as: UTF8.self)
                    child.lines.withLock { $0.append(line) }
                    pending = Data(pending[(newline + 1)...])
                }
            }
        }
        return child
    }

    func waitForLine(prefix: String, timeout: Duration = .seconds(20)) async throws -> String? {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while clock.now < deadline {
            if let line = self.lines.withLock({ $0.first { $0.hasPrefix(prefix) } }) { return line }
            try await Task.sleep(for: .milliseconds(20))
        }
        return nil
    }

    func waitForExit() { self.process.waitUntilExit() }

    func stop() {
        guard self.process.isRunning else { return }
        kill(self.pid, SIGTERM)
        self.process.waitUntilExit()
    }
}

/// Collects what kioskd sends to its notify socket.
final class NotifyListener: @unchecked Sendable {
    let path: String
    let fd: Int32
    private let received = Mutex<[String]>([])

    init(path: String) throws {
        self.path = path
        self.fd = try UnixSocket.bind(path, kind: .datagram)
        let fd = self.fd
        Thread.detachNewThread { [self] in
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = recv(fd, &buffer, buffer.count, 0)
                if count <= 0 { return }
                self.received.withLock { $0.append(String(decoding: buffer[0..<count], as: UTF8.self)) }
            }
        }
    }

    func reset() { self.received.withLock { $0.removeAll() } }

    /// Waits for a datagram containing `text`; polls every millisecond (the start-up figure is in ms).
    func wait(for text: String, timeout: Duration) async -> String? {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while clock.now < deadline {
            if let found = self.received.withLock({ $0.first { $0.contains(text) } }) { return found }
            try? await Task.sleep(for: .milliseconds(1))
        }
        return nil
    }

    func close() {
        shutdown(self.fd, Int32(SHUT_RDWR))
        unlink(self.path)
    }
}
