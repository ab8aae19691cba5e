import CardCore
import Identity
import Messages
import CardSimulator
import Logging
import ServiceLifecycle
import SocialSecurityCard
import VirtualCards

/// A scripted customer for the demo: inserts a virtual social security card (3.00, SM4) into the mock
/// reader with the virtual PSAM in a second slot, reads identity and bank application in one transaction
/// (authenticating through the PSAM), logs the result masked, and takes the card out again.
struct DemoService: Service {
    static let reader = "Mock Reader 00 00"
    let system: MockCardSystem
    let logger: Logger

    static let psamReader = "Mock PSAM 00 01"

    func run() async throws {
        try await Task.sleep(for: .seconds(1))
        self.system.insert(VirtualPSAM(), into: Self.psamReader)
        self.logger.info("demo: the customer inserts a social security card (virtual 3.00 card, T=0, synthetic holder)")
        guard let card = VirtualCardCatalog.card(named: "ssc-demo-v3") else { return }
        self.system.insert(card, into: Self.reader)
        try await Task.sleep(for: .milliseconds(300))

        let connection = try await self.system.connect(reader: Self.reader)
        var options = CardReadOptions()
        options.securityModule = PSAMSecurityModule(system: self.system, reader: Self.psamReader)
        do {
            let reading = try await SocialSecurityCardReader.read(connection: connection, options: options)
            let report = CardReport(reading: reading, reader: Self.reader)
            self.logger.info(
                "demo: card read",
                metadata: [
                    "card.specVersion": "\(report.socialSecurity?.specVersion ?? "-")",
                    "card.citizenId": "\(report.socialSecurity?.citizenId ?? "-")",
                    "card.name": "\(reading.identity.map { Masking.name($0.name) } ?? "-")",
                    "card.region": "\(report.socialSecurity?.regionName ?? "-")",
                    "bank.pan": "\(report.bank?.pan ?? "-")",
                    "apdu.commands": "\(reading.apduCount)",
                ])
        } catch {
            self.logger.error("demo: card refused: \(error.operatorMessage)", metadata: ["message.key": "\(error.customerMessage.key)"])
        }
        await connection.disconnect()
        try await Task.sleep(for: .milliseconds(500))
        self.logger.info("demo: the customer takes the card")
        self.system.remove(from: Self.reader)
        try await Task.sleep(for: .milliseconds(300))
        self.logger.info("demo: done (the activation flow arrives with later issues)")
    }
}
