import Foundation
import TestSupport
import Testing

/// The README's run command, `scripts/demo.sh`, without its build step: kiosk-epp-sim (the EPP, holding the
/// clear PIN), kioskd --mock (mock reader, ID-module simulator, in-process simulated bank) and `kioskctl activate`
/// as the screen with a simulated customer. One whole activation; kioskd's log shows only masked data and never
/// the PIN, and nothing that reaches the screen does either.
@Suite(.timeLimit(.minutes(2))) struct DemoTests {
    @Test func demoCompletesAnActivationAndLogsOnlyMaskedData() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("demo-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let epp = try await EPPSimulatorProcess(directory: directory)
        defer { epp.stop() }
        let socket = directory + "/kiosk.sock"
        let daemon = Process()
        daemon.executableURL = URL(fileURLWithPath: productPath("kioskd"))
        daemon.arguments = ["--mock", "--socket", socket, "--sim-control", directory + "/sim.sock", "--journal", directory + "/journal.sqlite"]
        var environment = ProcessInfo.processInfo.environment
        environment["KIOSKD_PIN_PAD_URL"] = epp.url
        daemon.environment = environment
        _ = FileManager.default.createFile(atPath: directory + "/kioskd.log", contents: nil)
        daemon.standardError = FileHandle(forWritingAtPath: directory + "/kioskd.log")
        try daemon.run()
        defer { if daemon.isRunning { kill(daemon.processIdentifier, SIGKILL) } }
        #expect(await waitUntilReadyForCustomer(socket: socket, timeout: .seconds(20)))

        let run = try await runProduct(
            "kioskctl", ["activate", "--socket", socket, "--simulate-customer", directory + "/sim.sock", "--pin-pad-control", epp.control])
        #expect(run.status == 0, "\(run.output) \(run.error)")
        #expect(run.output.contains("激活成功") && run.output.contains("PIN ●●●●●●"))
        let verify = try await runProduct("kioskctl", ["journal", "--verify", "--socket", socket])
        #expect(verify.status == 0 && verify.output.contains("intact"))
        kill(daemon.processIdentifier, SIGTERM)
        #expect(await waitUntil(timeout: .seconds(10)) { !daemon.isRunning })

        let log = (try? String(contentsOfFile: directory + "/kioskd.log", encoding: .utf8)) ?? ""
        #expect(log.contains("activation started") && log.contains("PIN key imported into the EPP"), "\(log.suffix(2000))")
        // Each log line carries its journald priority: <6> info, <4> warning.
        let lines = log.split(separator: "\n")
        #expect(!lines.isEmpty && lines.allSatisfy { $0.hasPrefix("<") && $0.dropFirst(2).hasPrefix(">") })
        for secret in ["6228230029000005274", "440303198101011117", "802461"] {
            #expect(!log.contains(secret), "\(secret) in kioskd's log")
            #expect(!run.output.contains(secret), "\(secret) on the screen")
        }
        #expect(run.output.contains("622823*********5274"))
    }
}
