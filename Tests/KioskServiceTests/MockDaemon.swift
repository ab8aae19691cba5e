import Foundation
import Glibc
import KioskClient
import KioskProtocol
import TestSupport
import UnixSocket

/// `kioskd --mock` as its own process (the mock reader, the ID-module pty, the simulated PIN pad and bank),
/// with its kiosk socket, simulator control socket and journal in a directory of its own.
final class MockDaemon: @unchecked Sendable {
    let directory: String
    let process = Process()
    var socket: String { self.directory + "/kiosk.sock" }
    var control: String { self.directory + "/sim.sock" }

    /// The EPP kioskd uses: `kiosk-epp-sim` in its own process (the test's, or one started for this daemon).
    let epp: EPPSimulatorProcess

    /// Starts kioskd --mock with `epp` as its PIN pad (a new `kiosk-epp-sim` with the TEST master key when nil).
    init(arguments: [String] = [], epp: EPPSimulatorProcess? = nil) async throws {
        self.directory = FileManager.default.temporaryDirectory.appendingPathComponent("kdm-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: self.directory, withIntermediateDirectories: true)
        chmod(self.directory, 0o755)
        if let epp { self.epp = epp } else { self.epp = try await EPPSimulatorProcess(directory: self.directory) }
        self.process.executableURL = URL(fileURLWithPath: productPath("kioskd"))
        self.process.arguments = ["--mock", "--sim-control", self.control, "--socket", self.socket, "--journal", self.directory + "/journal.sqlite"] + arguments
        var environment = ProcessInfo.processInfo.environment
        environment["KIOSKD_PIN_PAD_URL"] = self.epp.url
        self.process.environment = environment
        _ = FileManager.default.createFile(atPath: self.directory + "/kioskd.log", contents: nil)
        self.process.standardError = FileHandle(forWritingAtPath: self.directory + "/kioskd.log")
        try self.process.run()
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .seconds(20))
        while clock.now < deadline {
            guard self.process.isRunning else { break }
            if let probe = try? TestClient(path: self.socket) {
                probe.send("Common.Status", 1)
                let status = await probe.completion(1, timeout: .seconds(5))
                probe.disconnect()
                // Ready for a customer: the socket answers and the EPP has its PIN key.
                if status?.payload["pinPad"]?["ready"]?.bool == true && FileManager.default.fileExists(atPath: self.control) { return }
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        let state = self.process.isRunning ? "still running" : "exited with status \(self.process.terminationStatus)"
        let log = String(self.log.suffix(3000))
        if self.process.isRunning { kill(self.process.processIdentifier, SIGKILL) }
        throw CocoaError(.fileNoSuchFile, userInfo: [NSLocalizedDescriptionKey: "kioskd did not serve \(self.socket) within 20 s (\(state)); its log:\n\(log)"])
    }

    /// One line to the simulated devices; returns the answer (`ok` or `error …`). The blocking round trip
    /// runs on a thread of its own, never on the cooperative pool the other suites share.
    @discardableResult
    func sim(_ line: String) async -> String {
        let control = self.control
        return (try? await onOwnThread { try UnixSocket.request(control, line: line) }) ?? "error: no control socket"
    }

    /// The EPP's control socket (`kiosk-epp-sim --control`): where the customer's keys are pressed.
    var pinControl: String { self.epp.control }

    /// One line to the EPP's control socket.
    @discardableResult
    func epp(_ line: String) async -> String {
        let control = self.pinControl
        return (try? await onOwnThread { try UnixSocket.request(control, line: line) }) ?? "error: no EPP control socket"
    }

    /// Types `pin` on the EPP once it waits for a PIN (it answers `error` until then).
    func typePIN(_ pin: String, timeout: Duration = .seconds(10)) async -> Bool {
        let control = self.pinControl
        return await waitUntil(timeout: timeout, every: .milliseconds(30)) {
            (try? await onOwnThread { try UnixSocket.request(control, line: "pin \(pin)") }) == "ok"
        }
    }

    /// Resident memory in KiB (`VmRSS` of /proc/PID/status).
    var residentKiB: Int { self.status("VmRSS") }

    /// The daemon's private resident memory (`RssAnon`: its heap and stacks), KiB. What a leak grows; VmRSS
    /// also counts code pages, which the kernel maps in whole large folios the first time a path runs.
    var privateKiB: Int { self.status("RssAnon") }

    private func status(_ field: String) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(self.process.processIdentifier)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix(field + ":") } ?? ""
        return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? 0
    }

    /// The daemon's log (stderr) so far.
    var log: String { (try? String(contentsOfFile: self.directory + "/kioskd.log", encoding: .utf8)) ?? "" }

    /// Descriptors the daemon holds open (/proc/PID/fd).
    var openDescriptors: Int { ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(self.process.processIdentifier)/fd")) ?? []).count }

    /// Waits up to 10 s for the daemon to hold no more than `count` descriptors.
    func waitForDescriptors(atMost count: Int) async -> Bool {
        await waitUntil(timeout: .seconds(10)) { self.openDescriptors <= count }
    }

    /// SIGTERM, then waits up to 10 s; SIGKILL if it did not stop. Returns the exit status (nil when killed);
    /// the log is printed when it is not 0.
    @discardableResult
    func stop() async -> Int32? {
        defer { try? FileManager.default.removeItem(atPath: self.directory) }
        let status = await self.terminate()
        self.epp.stop()
        if status != 0 { print("kioskd exited \(status.map(String.init) ?? "killed"); its log:\n\(self.log)") }
        return status
    }

    private func terminate() async -> Int32? {
        guard self.process.isRunning else { return self.process.terminationStatus }
        kill(self.process.processIdentifier, SIGTERM)
        _ = await waitUntil(timeout: .seconds(10)) { !self.process.isRunning }
        if self.process.isRunning {
            kill(self.process.processIdentifier, SIGKILL)
            return nil
        }
        return self.process.terminationStatus
    }

    /// A file in the daemon's directory (a card or ID fixture written by the test).
    func write(_ name: String, _ text: String) throws -> String {
        let path = self.directory + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}

/// A kiosk screen on a ``TestClient``: starts an activation and waits for what the daemon tells it.
struct Screen {
    let client: TestClient
    let requestId: Int

    static func start(_ daemon: MockDaemon, requestId: Int = 1) throws -> Screen {
        let client = try TestClient(path: daemon.socket)
        client.send("Activation.Start", requestId, payload: ["language": "zh-Hans"])
        return Screen(client: client, requestId: requestId)
    }

    func event(_ name: String, timeout: Duration = .seconds(15), where predicate: @escaping @Sendable (JSONValue) -> Bool = { _ in true }) async -> KioskMessage? {
        await self.client.wait(timeout: timeout) { $0.header.requestId == self.requestId && $0.header.name == name && predicate($0.payload) }
    }

    func stage(_ stage: String, timeout: Duration = .seconds(15)) async -> Bool {
        await self.event("Activation.StageEvent", timeout: timeout) { $0["stage"]?.string == stage } != nil
    }

    func completion(timeout: Duration = .seconds(20)) async -> KioskMessage? { await self.client.completion(self.requestId, timeout: timeout) }

    func send(_ name: String, _ requestId: Int) { self.client.send(name, requestId) }

    /// The customer places the demo ID card and inserts `card`; true once the details are on the screen.
    func presentDemoCards(_ daemon: MockDaemon, card: String = "ssc-demo") async -> Bool {
        guard await self.stage("waitingForCards") else { return false }
        await daemon.sim("id place demo")
        await daemon.sim("card insert \(card)")
        return await self.event("Activation.DetailsEvent") != nil
    }

    /// The screen confirms the details (`Activation.Confirm` as `confirmRequest`); the customer types the
    /// PIN, and again when asked.
    func confirmAndTypePIN(_ daemon: MockDaemon, confirmRequest: Int, pin: String = "802461") async -> Bool {
        self.send("Activation.Confirm", confirmRequest)
        guard await daemon.typePIN(pin), await self.stage("confirmingPIN") else { return false }
        return await daemon.typePIN(pin)
    }

    /// A whole activation the bank approves, up to the customer taking the social security card.
    func activateApproved(_ daemon: MockDaemon, confirmRequest: Int) async -> Bool {
        guard await self.presentDemoCards(daemon), await self.confirmAndTypePIN(daemon, confirmRequest: confirmRequest) else { return false }
        let approved = await self.event("Activation.ResultEvent")?.payload["state"]?.string == "approved"
        await daemon.sim("card remove")
        return approved
    }

    /// Every line the daemon sent, for checks that no personal data went out unmasked.
    var transcript: String { self.client.messages.map { String(decoding: KioskProtocol.encode($0), as: UTF8.self) }.joined() }
}
