import BankGateway
import BankHTTP
import BankSimulator
import Foundation
import TestSupport
import Testing

/// `kiosk-bank-sim` as an operator runs it: a separate process on a real port, its generated profile
/// used through the registry, its ledger printed by `kiosk-bank-sim ledger`.
@Suite(.timeLimit(.minutes(2))) struct BankSimExecutableTests {
    @Test func serveAndLedger() async throws {
        let keys = FileManager.default.temporaryDirectory.appendingPathComponent("banksim-\(UUID().uuidString)").path
        let server = Process()
        server.executableURL = URL(fileURLWithPath: productPath("kiosk-bank-sim"))
        server.arguments = [
            "serve", "--keys", keys, "--port", "0", "--fixture", "\(fixturesDirectory)/bank/outcomes.json", "--fault", "dropAfterApplying",
        ]
        let output = Pipe()
        server.standardOutput = output
        try server.run()
        defer { server.terminate() }
        // The first line names the port.
        var line = ""
        while !line.hasSuffix("\n") {
            let byte = try output.fileHandleForReading.read(upToCount: 1) ?? Data()
            guard !byte.isEmpty else { break }
            line += String(decoding: byte, as: UTF8.self)
        }
        #expect(line.hasPrefix("listening on http://127.0.0.1:"))
        let url = String(line.dropFirst("listening on ".count).dropLast())

        var registry = GatewayRegistry()
        registry.registerHTTPJSON()
        let gateway = try registry.makeGateway(for: BankProfile.load(path: keys + "/profile.json"))
        let r = try request()
        let first = await gateway.activate(r)
        let second = await gateway.activate(r)
        let declined = await gateway.activate(try request(pan: "6217000010002345678"))
        await (gateway as? HTTPGateway)?.shutdown()
        if case .unknown = first {} else { Issue.record("the dropped answer is unknown: \(first)") }
        if case .approved = second {} else { Issue.record("the retry is approved from the ledger: \(second)") }
        #expect(declined == .declined(.notEnabledByBureau, bankCode: "N1"))

        let ledger = try await Self.run(["ledger", "--url", url, "--json"])
        let entries = try JSONDecoder().decode([SimulatedBank.LedgerEntry].self, from: Data(ledger.utf8))
        #expect(entries.count == 2)
        #expect(entries.first { $0.key == r.key.value }?.effects == 1)
        #expect(entries.first { $0.key == r.key.value }?.requests == 2)
        let human = try await Self.run(["ledger", "--url", url])
        #expect(human.contains("2 keys") && human.contains("622823*********5274") && !human.contains("6228230029000005274"))
    }

    static func run(_ arguments: [String]) async throws -> String {
        try await runProduct("kiosk-bank-sim", arguments).output
    }
}
