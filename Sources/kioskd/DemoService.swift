import CardCore
import Foundation
import IDModuleSimulator
import Identity
import ResidentIDCard
import Messages
import CardSimulator
import Logging
import ServiceLifecycle
import SocialSecurityCard
import VirtualCards

/// A scripted customer for the demo: puts a resident ID card on the ID-card module (the simulator on a
/// pseudo-terminal, read through the real tty code), inserts a virtual social security card (3.00, SM4)
/// into the mock reader with the virtual PSAM in a second slot, reads identity and bank application in one
/// transaction (authenticating through the PSAM), logs both masked and whether they belong to the same
/// person, and takes the cards away again.
struct DemoService: Service {
    static let reader = "Mock Reader 00 00"
    let system: MockCardSystem
    let logger: Logger

    static let psamReader = "Mock PSAM 00 01"

    func run() async throws {
        try await Task.sleep(for: .seconds(1))
        let idCitizenID = try await self.readIDCard()
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
            if let identity = reading.identity, let idCitizenID {
                let same = identity.citizenID.value == idCitizenID
                self.logger.info("demo: ID card and social security card belong to the same person: \(same ? "yes" : "no")")
            }
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

    /// The ID card through the module simulator on a pty; returns the citizen ID read (or nil).
    private func readIDCard() async throws -> String? {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cardkiosk-demo-\(getpid())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let simulator = IDModuleSimulator(linkPath: directory + "/ttyID")
        try simulator.plug()
        defer { simulator.stop() }
        var card = IDCardFixture(name: "张三", idNumber: "440303198101011117")
        card.gender = "1"
        card.nation = 1
        card.birthDate = "1981-01-01"
        card.address = "广东省深圳市南山区科技园路1号"
        card.issuer = "深圳市公安局南山分局"
        card.validFrom = "2016-05-01"
        card.validTo = "2036-05-01"
        self.logger.info("demo: the customer places a resident ID card on the ID reader (module simulator on \(simulator.linkPath))")
        simulator.place(card)
        let module = IDCardModule(device: simulator.linkPath)
        do {
            let read = try await module.readCard()
            await module.close()
            self.logger.info(
                "demo: ID card read",
                metadata: [
                    "idcard.type": "\(read.type.rawValue)", "idcard.name": "\(Masking.name(read.name))",
                    "idcard.citizenId": "\(read.maskedIDNumber)", "idcard.validTo": "\(read.validTo?.description ?? "-")",
                ])
            return read.idNumber
        } catch {
            await module.close()
            self.logger.error("demo: ID card refused: \(error.operatorMessage)", metadata: ["message.key": "\(error.customerMessage.key)"])
            return nil
        }
    }
}
