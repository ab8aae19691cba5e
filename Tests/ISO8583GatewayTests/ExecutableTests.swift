import BankGateway
import BankSimulator
import Foundation
import ISO8583Gateway
import TestSupport
import Testing

/// `kiosk-bank-sim serve --iso-port` as an operator runs it: the ISO 8583 side in its own process, its
/// generated iso8583 profile used through the registry, one ledger for both sides.
@Suite(.timeLimit(.minutes(2))) struct ExecutableTests {
    @Test func isoSideOfTheStandaloneBank() async throws {
        let keys = FileManager.default.temporaryDirectory.appendingPathComponent("banksim-iso-\(UUID().uuidString)").path
        let server = try await StartedProduct(
            "kiosk-bank-sim", ["serve", "--keys", keys, "--port", "0", "--iso-port", "0", "--spec", Harness.specPath, "--fault", "resignOnRequired"], lines: 2)
        defer { server.stop() }
        let lines = server.lines
        try #require(lines.count == 2)
        #expect(lines[0].hasPrefix("listening on http://127.0.0.1:"))
        #expect(lines[1].hasPrefix("iso8583 on tcp://127.0.0.1:"))

        var registry = GatewayRegistry()
        registry.registerISO8583()
        let profile = try BankProfile.load(path: keys + "/iso8583-profile.json")
        #expect(profile.kind == "iso8583")
        let gateway = try registry.makeGateway(for: profile)
        let r = try request()
        let outcome = await gateway.activate(r)  // RC 77 first: re-sign-on, then approved
        await (gateway as? ISO8583Gateway)?.shutdown()
        guard case .approved = outcome else {
            Issue.record("not approved: \(outcome)")
            return
        }
        let ledger = try await runProduct("kiosk-bank-sim", ["ledger", "--url", String(lines[0].dropFirst("listening on ".count)), "--json"])
        let entries = try JSONDecoder().decode([SimulatedBank.LedgerEntry].self, from: Data(ledger.output.utf8))
        #expect(entries.count == 1 && entries.first?.key == r.key.value && entries.first?.effects == 1)
        try? FileManager.default.removeItem(atPath: keys)
    }
}
