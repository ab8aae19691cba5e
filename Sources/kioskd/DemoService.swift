import APDU
import CardCore
import CardSimulator
import Logging
import ServiceLifecycle

/// A scripted customer for the demo: inserts a virtual card into the mock reader, reads it as the card
/// applications will (one transaction, T=0 rules through the channel), and takes it out again.
struct DemoService: Service {
    static let reader = "Mock Reader 00 00"
    let system: MockCardSystem
    let logger: Logger

    /// What the demo reads: the SSSE application's card type and specification version (EF05 records 2, 3).
    struct CardSummary: Sendable {
        var cardType: String
        var specificationVersion: String
        var exchanges: Int
    }

    func run() async throws {
        try await Task.sleep(for: .seconds(1))
        self.logger.info("demo: the customer inserts a social security card (virtual, T=0)")
        guard let card = CardCatalog.card(named: "demo-t0") else { return }
        self.system.insert(card, into: Self.reader)
        try await Task.sleep(for: .milliseconds(300))

        let connection = try await self.system.connect(reader: Self.reader)
        let summary = try await connection.withTransaction { channel -> CardSummary in
            var exchanges = 0
            func send(_ command: CommandAPDU) throws -> ResponseAPDU {
                exchanges += 1
                let response = try channel.send(command)
                guard response.status == .success else {
                    throw ReaderError(.malformedResponse, message: "\(command) answered \(response.status)")
                }
                return response
            }
            let ssse: [UInt8] = [0x73, 0x78, 0x31, 0x2E, 0x73, 0x68, 0x2E, 0xC9, 0xE7, 0xBB, 0xE1, 0xB1, 0xA3, 0xD5, 0xCF]
            _ = try send(try .select(name: ssse))
            _ = try send(try .select(fileID: 0xEF05))
            let type = try send(try .readRecord(2, expectedLength: 256)).data
            let version = try send(try .readRecord(3, expectedLength: 256)).data
            return CardSummary(
                cardType: String(decoding: type.dropFirst(2), as: UTF8.self),
                specificationVersion: String(decoding: version.dropFirst(2), as: UTF8.self), exchanges: exchanges)
        }
        self.logger.info(
            "demo: card read",
            metadata: [
                "card.type": "\(summary.cardType)", "card.specVersion": "\(summary.specificationVersion)",
                "apdu.commands": "\(summary.exchanges)",
            ])
        await connection.disconnect()
        try await Task.sleep(for: .milliseconds(500))
        self.logger.info("demo: the customer takes the card")
        self.system.remove(from: Self.reader)
        try await Task.sleep(for: .milliseconds(300))
        self.logger.info("demo: done (the activation flow arrives with later issues)")
    }
}
