import APDU
import ArgumentParser
import Bytes
import CardSimulator
import Foundation
import VirtualCards

/// `kioskctl vcard`: put a virtual card into a vpcd reader of the real pcscd, by hand.
struct VirtualCardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vcard",
        abstract: "Serve a virtual card to pcscd's vpcd reader until Ctrl-C.",
        discussion: """
            With Debian's default /etc/reader.conf.d/vpcd, slot 0 (port 35963) is "Virtual PCD 00 00" and slot 1
            (port 35964) is "Virtual PCD 00 01". Look at the card with `pcsc_scan`, `scriptor` or `kioskctl apdu`.
            Cards: \(VirtualCardCatalog.entries.map { "\($0.name) (\($0.summary))" }.joined(separator: "; ")).
            A trace file replays recorded exchanges: lines `<command hex> => <response hex>`, and `ATR <hex>`.
            """
    )

    @Option(help: "Which card to serve.")
    var card = "demo-t0"

    @Option(help: "Replay this trace file instead of a built-in card.")
    var trace: String?

    @Option(help: "Serve the social security card described by this fixture file (JSON; see Tests/Fixtures/ssc).")
    var fixture: String?

    @Flag(help: "Serve the virtual PSAM (test key scheme) instead of a card.")
    var psam = false

    @Option(help: "vpcd's TCP port (35963 + slot).")
    var port: UInt16 = 35963

    @Option(help: "vpcd's address.")
    var host = "127.0.0.1"

    @Flag(help: "Do not print the exchanged APDUs.")
    var quiet = false

    func run() async throws {
        let virtual: any VirtualCard
        if let trace = self.trace {
            virtual = try CardCatalog.card(trace: trace)
        } else if let fixture = self.fixture {
            virtual = try VirtualSocialSecurityCard.make(SocialSecurityCardFixture.load(path: fixture))
        } else if self.psam {
            virtual = VirtualPSAM()
            emitLine("virtual PSAM: \(TestKeyScheme.label)")
        } else if let named = VirtualCardCatalog.card(named: self.card) {
            virtual = named
        } else if let named = CardCatalog.card(named: self.card) {
            virtual = named
        } else {
            throw ValidationError("unknown card \(self.card); choose one of \(VirtualCardCatalog.entries.map(\.name).joined(separator: ", "))")
        }
        let quiet = self.quiet
        let card = VPCDCard(card: virtual, host: self.host, port: self.port) { command, response in
            guard !quiet else { return }
            emitLine("→ \(Hex.encode(command))")
            emitLine(response.map { "← \(Hex.encode($0))" } ?? "← (no answer)")
        }
        emitLine("inserting \(self.trace ?? self.fixture ?? (self.psam ? "psam" : self.card)) (ATR \(Hex.encode(virtual.atr, separator: " "))) into vpcd at \(self.host):\(self.port)")
        card.insert()
        var connected = false
        while true {
            if card.isConnected != connected {
                connected.toggle()
                emitLine(connected ? "connected: the card is in the reader" : "vpcd went away (pcscd stopped?); reconnecting")
                }
            try await Task.sleep(for: .milliseconds(200))
        }
    }
}
