import APDU
import ArgumentParser
import CardCore
import Foundation
import Messages
import PCSC
import SocialSecurityCard

/// `kioskctl card`: the social security card.
struct CardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "card",
        abstract: "Read the social security card.",
        subcommands: [CardRead.self]
    )
}

/// `kioskctl card read`: identity (SSSE) and bank application in one transaction.
struct CardRead: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "read",
        abstract: "Read a social security card: SSSE identity data and the UnionPay bank application.",
        discussion: """
            ID numbers, the card number and the PAN are masked unless --unmasked (a diagnostic flag; the output then
            holds personal data). A refusal (locked card, no bank application, missing PSAM, …) exits with status 3
            and prints the typed error; a reader failure exits with status 4.
            3.00 cards need the PSAM: --psam names its reader (the PSAM layout is CardKiosk's test layout).
            --trace FILE writes the exchanges with personal data replaced, in the format `kioskctl vcard --trace` replays.
            """
    )

    @Option(help: "The reader holding the social security card.")
    var reader: String

    @Option(help: "The reader holding the PSAM, for 3.00 cards.")
    var psam: String?

    @Flag(help: "Print JSON.")
    var json = false

    @Flag(help: "Show ID numbers, card number and PAN in full (diagnostics only).")
    var unmasked = false

    @Flag(help: "Read only the SSSE application, not the bank application.")
    var noBank = false

    @Option(help: "Write a redacted APDU trace to this file.")
    var trace: String?

    func run() async throws {
        let system = PCSCSystem()
        var options = CardReadOptions(readsBank: !self.noBank)
        let psamModule = self.psam.map { PSAMSecurityModule(system: system, reader: $0) }
        options.securityModule = psamModule
        let recorder = self.trace.map { _ in APDUTraceRecorder() }
        options.trace = recorder
        var reading: SocialSecurityCardReading?
        var failure: CardReadError?
        do throws(CardReadError) {
            let connection: any CardConnection
            do {
                connection = try await system.connect(reader: self.reader)
            } catch {
                throw CardReadError(error, step: "connect to \"\(self.reader)\"")
            }
            do throws(CardReadError) {
                reading = try await SocialSecurityCardReader.read(connection: connection, options: options)
            } catch {
                await connection.disconnect()
                throw error
            }
            await connection.disconnect()
        } catch {
            failure = error
        }
        await psamModule?.close()
        await psamModule?.close()
        await system.shutdown()
        if let path = self.trace, let recorder {
            try recorder.text.write(toFile: path, atomically: true, encoding: .utf8)
        }
        let report = CardReport(reading: reading, reader: self.reader, unmasked: self.unmasked, error: failure)
        if self.json {
            print(try JSONOutput.encode(report))
        } else {
            Self.printHuman(report)
        }
        if let failure {
            if case .reader = failure.reason { throw ExitCode(4) }
            throw ExitCode(3)
        }
        if report.bankError != nil && !self.noBank { throw ExitCode(3) }
    }

    static func printHuman(_ report: CardReport) {
        if let ss = report.socialSecurity {
            print("社会保障卡 social security card (spec \(ss.specVersion), \(report.apduCount ?? 0) APDUs, addressing \(ss.addressing ?? "-"))")
            let rows: [(String, String?)] = [
                ("姓名 name", ss.name), ("社会保障号码 citizen ID", ss.citizenId), ("性别 gender", ss.gender),
                ("民族 nation", ss.nation), ("出生日期 birth date", ss.birthDate), ("出生地 birthplace", ss.birthplace),
                ("卡号 card number", ss.cardNumber), ("发卡地区 region", ss.region.map { "\($0) \(ss.regionName ?? "")" }),
                ("发卡日期 issued", ss.issueDate), ("有效期 expires", ss.expiryDate ?? "none on card"),
            ]
            for (label, value) in rows { print("  \(label.padding(toLength: 28, withPad: " ", startingAt: 0)) \(value ?? "-")") }
        }
        if let bank = report.bank {
            print("金融账户 bank application \(bank.aid)")
            let rows: [(String, String?)] = [
                ("卡号 PAN", bank.pan), ("序列号 PAN sequence", bank.panSequence.map(String.init)), ("有效期 expiry", bank.expiry),
                ("持卡人 holder", bank.holderName), ("证件号 holder ID", bank.holderId),
            ]
            for (label, value) in rows { print("  \(label.padding(toLength: 28, withPad: " ", startingAt: 0)) \(value ?? "-")") }
        }
        for failure in [report.bankError, report.error].compactMap({ $0 }) {
            print("refused: \(failure.reason) — \(failure.operatorMessage)")
            print("  customer sees [\(failure.customerMessage.key)]: \(failure.customerMessage.zhHans) / \(failure.customerMessage.en)")
        }
    }
}
