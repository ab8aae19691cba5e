import TestSupport
import CardCore
import Foundation
import Glibc
import PCSC
import Testing

/// The pcscd that scripts/test.sh started for the integration tests, and the means to kill and restart it.
/// Integration tests run only when the script set `KIOSK_PCSC_INTEGRATION=1`.
enum TestPCSCD {
    static let environment = ProcessInfo.processInfo.environment
    static var enabled: Bool { environment["KIOSK_PCSC_INTEGRATION"] == "1" }
    static var pidFile: String { environment["KIOSK_TEST_PCSCD_PIDFILE"] ?? "" }
    static var configDirectory: String { environment["KIOSK_TEST_PCSCD_CONFIG"] ?? "" }
    static var logFile: String { environment["KIOSK_TEST_PCSCD_LOG"] ?? "/dev/null" }

    static var pid: Int32? {
        guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8) else { return nil }
        return Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// True while `pid` is a running (not zombie) process.
    static func isAlive(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return false }
        guard let close = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(close, offsetBy: 2)]
        return state != "Z" && state != "X"
    }

    /// True while any thread of `pid` other than a zombie leader still runs.
    static func hasLiveThreads(_ pid: Int32) -> Bool {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        return tasks.contains { task in
            guard let tid = Int32(task) else { return false }
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/task/\(tid)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { return false }
            let state = stat[stat.index(close, offsetBy: 2)]
            return state != "Z" && state != "X"
        }
    }

    /// Kills pcscd with SIGKILL (a crash, not a clean stop) and removes the run files a dead pcscd leaves,
    /// as systemd's runtime directory handling would.
    static func kill() throws {
        guard let pid = pid else { throw TestPCSCDError("no pcscd PID in \(pidFile)") }
        _ = Glibc.kill(pid, SIGKILL)
        // Reap it when it is our child (started by start()); the script's own pcscd is reaped by the script.
        var status: Int32 = 0
        _ = waitpid(pid, &status, 0)
        let deadline = Date().addingTimeInterval(5)
        // The thread-group leader turns zombie while pcscd's other threads may still be exiting, and they
        // share the descriptor table: vpcd's listening sockets stay bound until the last thread is gone.
        while isAlive(pid) || hasLiveThreads(pid) {
            guard Date() < deadline else { throw TestPCSCDError("pcscd \(pid) survived SIGKILL") }
            usleep(5_000)
        }
        unlink("/run/pcscd/pcscd.pid")
        unlink("/run/pcscd/pcscd.comm")
    }

    /// Starts a new pcscd with the same configuration and records its PID where the script will find it.
    /// The log file is opened in the child only, so this process keeps no descriptor for it.
    static func start() throws {
        let path = FileManager.default.isExecutableFile(atPath: "/usr/sbin/pcscd") ? "/usr/sbin/pcscd" : "/usr/bin/pcscd"
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, logFile, O_WRONLY | O_APPEND | O_CREAT, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // pcscd inherits nothing else: no card socket, pty or listener of this test process.
        // (glibc ≥ 2.34 has addclosefrom_np; Swift's Glibc module does not export it, so look it up.)
        if let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") {  // nil: RTLD_DEFAULT
            typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
            _ = unsafeBitCast(symbol, to: CloseFrom.self)(&actions, 3)
        }
        let words: [String] = [path, "--foreground", "-c", configDirectory]
        let arguments: [UnsafeMutablePointer<CChar>?] = words.map { strdup($0) }
        defer { arguments.forEach { free($0) } }
        var argv = arguments + [nil]
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, nil, &argv, environ)
        guard rc == 0 else { throw TestPCSCDError("posix_spawn \(path) failed: \(rc)") }
        try "\(pid)\n".write(toFile: pidFile, atomically: true, encoding: .utf8)
    }

    /// Waits until `reader` has (or has no) card, by listing readers; records an issue after `timeout`.
    static func waitForCard(
        in reader: String, present: Bool, system: PCSCSystem = PCSCSystem(), timeout: Duration = .seconds(5)
    ) async throws -> ReaderInfo? {
        let found = try await poll(timeout: timeout, every: .milliseconds(20)) {
            try await system.readers().first { $0.name == reader && $0.cardPresent == present }
        }
        if found == nil { Issue.record("\(reader) did not become \(present ? "occupied" : "empty") within \(timeout)") }
        return found
    }

    /// The TCP sockets on `port` as the kernel lists them (/proc/net/tcp): state, local and remote port,
    /// receive queue (for a listener: connections waiting to be accepted). For failure messages.
    static func socketStates(port: UInt16) -> String {
        let states = ["01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1", "05": "FIN_WAIT2", "06": "TIME_WAIT",
            "07": "CLOSE", "08": "CLOSE_WAIT", "09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING"]
        let text = (try? String(contentsOfFile: "/proc/net/tcp", encoding: .utf8)) ?? ""
        let hex = String(format: "%04X", port)
        let rows = text.split(separator: "\n").dropFirst().compactMap { line -> String? in
            let fields = line.split(separator: " ")
            guard fields.count > 4 else { return nil }
            let local = fields[1].split(separator: ":").last.map(String.init) ?? ""
            let remote = fields[2].split(separator: ":").last.map(String.init) ?? ""
            guard local == hex || remote == hex else { return nil }
            let queues = fields[4].split(separator: ":")
            return "\(states[String(fields[3])] ?? String(fields[3])) \(Int(local, radix: 16) ?? 0)→\(Int(remote, radix: 16) ?? 0) rx \(Int(queues.last ?? "0", radix: 16) ?? 0)"
        }
        return rows.isEmpty ? "no sockets on port \(port)" : rows.joined(separator: "; ")
    }

    /// Open file descriptors of this process.
    static var openDescriptors: Int { (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1 }
    /// Threads of this process.
    static var threads: Int { (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").count) ?? -1 }
    /// Threads of the PC/SC driver (named `pcsc-…`).
    static var pcscThreads: Int {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        return tasks.filter { ((try? String(contentsOfFile: "/proc/self/task/\($0)/comm", encoding: .utf8)) ?? "").hasPrefix("pcsc-") }.count
    }
}

struct TestPCSCDError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The readers of the private vpcd configuration: entry i has slots 0 and 1 on ports base+2i and +1
/// (scripts/lib/pcscd-env.sh sets the base below the ephemeral port range).
struct VPCDSlot: Sendable {
    let index: Int
    static let basePort = UInt16(TestPCSCD.environment["KIOSK_TEST_VPCD_BASE_PORT"] ?? "") ?? 29963
    var port: UInt16 { Self.basePort + UInt16(self.index) }
    var readerName: String {
        let entry = self.index / 2
        let slot = self.index % 2
        return entry == 0 ? "Virtual PCD 00 0\(slot)" : "Virtual PCD \(entry) 00 0\(slot)"
    }
    static let all = (0..<10).map(VPCDSlot.init(index:))
}
