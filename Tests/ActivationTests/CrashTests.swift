import BankGateway
import BankSimulator
import Foundation
import Glibc
import Identity
import Journal
import Activation
import TestSupport
import Testing

/// The crash test: the activation executor in its own process (`kiosk-crash-worker`) against the simulated
/// bank over real HTTP (`kiosk-bank-sim`), killed with SIGKILL at every step boundary and at random
/// moments, restarted each time. Afterwards every activation is in exactly one final state, the bank
/// applied each at most once, none is lost, and SQLite's integrity check and the audit chain pass.
@Suite(.timeLimit(.minutes(5))) struct CrashTests {
    static let total = 220
    /// Activations whose first answer carries a code the profile does not know (`unknown`): they go
    /// through the resolver, so its step boundaries are reached.
    static let unknownFirst = Set(40..<80)

    static func pan(_ index: Int) -> String {
        let body = "62282300" + String(format: "%010d", index)
        return body + String(Luhn.checkDigit(for: body)!)
    }

    @Test("SIGKILL at every step boundary and at random points over 220 activations: exactly once, nothing lost")
    func crashAndRestart() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("crash-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var fixture = SimulatedBank.Fixture()
        fixture.processingMilliseconds = 10
        fixture.rules = Self.unknownFirst.map { SimulatedBank.Fixture.Rule(pan: Self.pan($0), code: "U9") }
            + [SimulatedBank.Fixture.Rule(pan: Self.pan(3), code: "N1"), SimulatedBank.Fixture.Rule(pan: Self.pan(150), code: "41")]
        let fixturePath = directory + "/fixture.json"
        try JSONEncoder().encode(fixture).write(to: URL(fileURLWithPath: fixturePath))

        let bank = Process()
        bank.executableURL = URL(fileURLWithPath: productPath("kiosk-bank-sim"))
        bank.arguments = ["serve", "--keys", directory + "/keys", "--port", "0", "--fixture", fixturePath, "--fault-rate", "dropAfterApplying:0.15"]
        let output = Pipe()
        bank.standardOutput = output
        try bank.run()
        defer { bank.terminate() }
        let handle = output.fileHandleForReading
        let firstLine = try await onOwnThread { () -> String in
            var line = ""
            while let byte = try handle.read(upToCount: 1), !byte.isEmpty, byte != Data([0x0A]) { line += String(decoding: byte, as: UTF8.self) }
            return line
        }
        try #require(firstLine.hasPrefix("listening on http://"))
        let url = String(firstLine.dropFirst("listening on ".count))
        let journalPath = directory + "/journal.sqlite"
        // The resolver's first inquiry waits for the bank's response timeout after the send (gateway.md
        // §4.4): the simulator answers in 10 ms, so a 400 ms timeout keeps the ~40 unknown outcomes quick.
        let profilePath = directory + "/keys/profile.json"
        var profile = try BankProfile.load(path: profilePath)
        profile.timeouts.responseMilliseconds = 400
        try JSONEncoder().encode(profile).write(to: URL(fileURLWithPath: profilePath))
        let base = ["--journal", journalPath, "--profile", profilePath]

        // 1. Every step boundary: 8 activations per step (resolver steps on activations answered `unknown`).
        var boundaryKills = 0
        var next = 0
        var nextUnknown = Self.unknownFirst.min()!
        for step in ActivationStep.allCases {
            for _ in 0..<8 {
                let index: Int
                if step == .resolving || step == .resolved {
                    index = nextUnknown
                    nextUnknown += 1
                } else {
                    while Self.unknownFirst.contains(next) { next += 1 }
                    index = next
                    next += 1
                }
                let crashed = try await runProcess(productPath("kiosk-crash-worker"), base + ["--from", "\(index)", "--to", "\(index + 1)", "--crash-at", "\(step.rawValue):\(index)"])
                #expect(crashed.status == SIGKILL, "step \(step) of \(index) was not reached: \(crashed.status) \(crashed.error)")
                if crashed.status == SIGKILL { boundaryKills += 1 }
                let restarted = try await runProcess(productPath("kiosk-crash-worker"), base + ["--from", "\(index)", "--to", "\(index + 1)"])
                #expect(restarted.status == 0, "\(restarted.error)")
            }
        }

        // 2. Random moments over everything else.
        var randomKills = 0
        var generator = SeededGenerator(seed: 2026)
        var runs = 0
        while runs < 120 {
            runs += 1
            let worker = Process()
            worker.executableURL = URL(fileURLWithPath: productPath("kiosk-crash-worker"))
            worker.arguments = base + ["--from", "0", "--to", "\(Self.total)"]
            worker.standardOutput = FileHandle.nullDevice
            worker.standardError = FileHandle.nullDevice
            try worker.run()
            try await Task.sleep(for: .milliseconds(Int.random(in: 30...600, using: &generator)))
            if worker.isRunning {
                kill(worker.processIdentifier, SIGKILL)
                randomKills += 1
            }
            let status = try await onOwnThread { () -> (Int32, Process.TerminationReason) in
                worker.waitUntilExit()
                return (worker.terminationStatus, worker.terminationReason)
            }
            if status.1 == .exit && status.0 == 0 { break }
        }

        // 3. One clean run settles whatever the last kill left open.
        let last = try await runProcess(productPath("kiosk-crash-worker"), base + ["--from", "0", "--to", "\(Self.total)"])
        #expect(last.status == 0, "\(last.error)")

        let journal = try Journal(path: journalPath)
        let records = try await journal.recent(limit: 10_000)
        let ledgerRun = try await runProduct("kiosk-bank-sim", ["ledger", "--url", url, "--json"])
        let ledger = try JSONDecoder().decode([SimulatedBank.LedgerEntry].self, from: Data(ledgerRun.output.utf8))
        let byKey = Dictionary(uniqueKeysWithValues: ledger.map { ($0.key, $0) })
        var counts: [ActivationState: Int] = [:]
        for record in records { counts[record.state, default: 0] += 1 }
        print("crash test: \(Self.total) activations, \(boundaryKills) kills at step boundaries, \(randomKills) at random moments; journal: "
            + ActivationState.allCases.map { "\($0.rawValue) \(counts[$0] ?? 0)" }.joined(separator: ", ")
            + "; bank ledger: \(ledger.count) keys, \(ledger.filter { $0.state == .applied }.count) applied, max effects \(ledger.map(\.effects).max() ?? 0)")

        #expect(Set(records.map(\.key)) == Set((0..<Self.total).map { String(format: "crash-%06d", $0) }), "an activation was lost")
        #expect(records.count == Self.total)
        #expect(records.allSatisfy { [.approved, .declined, .notApplied].contains($0.state) }, "an activation is not final")
        #expect(ledger.allSatisfy { $0.effects <= 1 }, "applied twice")
        for record in records {
            let entry = byKey[record.key]
            switch record.state {
            case .approved: #expect(entry?.state == .applied && entry?.bankReference == record.bankReference, "\(record.key) approved but the bank says \(String(describing: entry?.state))")
            case .notApplied, .declined: #expect(entry?.state != .applied, "\(record.key) journaled \(record.state) but applied at the bank")
            default: break
            }
        }
        #expect(try await journal.integrityCheck() == "ok")
        guard case .intact = try await journal.verifyChain() else { Issue.record("audit chain broken"); return }
    }
}
