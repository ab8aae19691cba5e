import APDU
import ArgumentParser
import Bytes
import CardCore
import Foundation
import IDModuleSimulator
import Messages
import PCSC
import ResidentIDCard

/// `kioskctl idcard`: the resident ID card through the reader's security module.
struct IDCardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "idcard",
        abstract: "Read identity documents through the ID-card security module (serial), or the chip serial via PC/SC.",
        subcommands: [IDCardRead.self, IDCardWatch.self, IDCardSerial.self, IDModuleSim.self]
    )
}

struct DeviceOptions: ParsableArguments {
    @Option(help: "The module's serial device (e.g. /dev/ttyUSB0, /dev/serial/by-id/…).")
    var device: String

    @Option(help: "Line speed.")
    var baud = 115_200
}

/// `kioskctl idcard read`.
struct IDCardRead: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "read",
        abstract: "Find, select and read the document on the reader once.",
        discussion: """
            The ID number is masked unless --unmasked (a diagnostic flag; the output then holds personal data).
            No card exits 3 (JSON: error.reason = noCard); a module or device failure exits 4.
            """
    )

    @OptionGroup var options: DeviceOptions
    @Flag(help: "Print JSON.") var json = false
    @Flag(help: "Show the ID number in full (diagnostics only).") var unmasked = false
    @Flag(help: "Also read the fingerprint data (only its presence is reported).") var fingerprint = false
    @Option(help: "Write the photo's WLT bytes to this file.") var photo: String?

    func run() async throws {
        let module = IDCardModule(device: self.options.device, baudRate: self.options.baud)
        var card: IDCardData?
        var failure: IDModuleError?
        do throws(IDModuleError) {
            card = try await module.readCard(fingerprint: self.fingerprint)
        } catch {
            failure = error
        }
        await module.close()
        if let path = self.photo, let card { try Data(card.photo).write(to: URL(fileURLWithPath: path)) }
        let report = IDCardReport(card: card, device: self.options.device, unmasked: self.unmasked, error: failure)
        if self.json {
            print(try JSONOutput.encode(report))
        } else {
            Self.printHuman(report)
        }
        if let failure {
            switch failure.reason {
            case .noCard, .invalidCardData, .moduleStatus: throw ExitCode(3)
            default: throw ExitCode(4)
            }
        }
    }

    static func printHuman(_ report: IDCardReport) {
        if let name = report.name {
            print("\(report.documentName ?? "") (\(report.type ?? ""))")
            let rows: [(String, String?)] = [
                ("姓名 name", name), ("英文名 English name", report.englishName), ("性别 gender", report.gender),
                ("民族 nation", report.nation), ("出生 birth date", report.birthDate), ("住址 address", report.address),
                ("证件号 ID number", report.citizenId), ("签发机关 issuer", report.issuer),
                ("有效期 valid", "\(report.validFrom ?? "-") – \(report.validTo ?? "-")"), ("通行证 pass", report.passNumber),
                ("国籍 nationality", report.nationality), ("照片 photo", report.photoBytes.map { "\($0) bytes WLT" }),
            ]
            for (label, value) in rows where value != nil { print("  \(label.padding(toLength: 24, withPad: " ", startingAt: 0)) \(value!)") }
        }
        if let error = report.error {
            print("refused: \(error.reason) — \(error.operatorMessage)")
            print("  customer sees [\(error.customerMessage.key)]: \(error.customerMessage.zhHans) / \(error.customerMessage.en)")
        }
    }
}

/// `kioskctl idcard watch`: the reader loop's events until Ctrl-C.
struct IDCardWatch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch", abstract: "Run the reader loop and print its events (arrived, left, read failed, module offline).")

    @OptionGroup var options: DeviceOptions
    @Flag(help: "Print one JSON object per event.") var json = false

    func run() async throws {
        let watcher = IDCardWatcher(module: IDCardModule(device: self.options.device, baudRate: self.options.baud))
        for await event in watcher.events() {
            if self.json {
                struct Line: Encodable {
                    let event: String
                    let card: IDCardReport?
                    let error: IDCardReport.Failure?
                }
                let line: Line
                switch event {
                case .moduleOnline: line = Line(event: "moduleOnline", card: nil, error: nil)
                case .moduleOffline(let error): line = Line(event: "moduleOffline", card: nil, error: .init(error))
                case .cardArrived(let card): line = Line(event: "cardArrived", card: IDCardReport(card: card, device: nil), error: nil)
                case .cardLeft: line = Line(event: "cardLeft", card: nil, error: nil)
                case .readFailed(let error): line = Line(event: "readFailed", card: nil, error: .init(error))
                }
                emitLine(try JSONOutput.encode(line))
            } else {
                emitLine(event.description)
            }
        }
    }
}

/// `kioskctl idcard serial`: the fallback without a module.
struct IDCardSerial: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serial",
        abstract: "Read the ID card's chip serial through a contactless PC/SC reader (no security module needed).",
        discussion: "Only shows that a card is present: without the security module nothing else on the card can be read.")

    @Option(help: "The contactless PC/SC reader.") var reader: String

    func run() async throws {
        let reader = self.reader
        let (result, atr) = try await withPCSCSystem { system -> (Result<[UInt8], IDModuleError>, [UInt8]) in
            let connection = try await system.connect(reader: reader)
            let result: Result<[UInt8], IDModuleError>
            do throws(IDModuleError) {
                result = .success(try await IDCardChipSerial.read(connection: connection))
            } catch {
                result = .failure(error)
            }
            await connection.disconnect()
            return (result, connection.atr)
        }
        switch result {
        case .success(let serial):
            print("chip serial \(Hex.encode(serial)) (ATR \(Hex.encode(atr)))")
        case .failure(let error):
            FileHandle.standardError.write(Data("error: \(error.operatorMessage)\n".utf8))
            throw ExitCode(3)
        }
    }
}

/// `kioskctl idcard sim`: the module simulator on a pty, by hand.
struct IDModuleSim: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sim",
        abstract: "Run the ID-card module simulator on a pseudo-terminal until Ctrl-C.",
        discussion: """
            The pty is reached through --link (a symbolic link, like /dev/serial/by-id). Put a document on it with
            --fixture (JSON; see Tests/Fixtures/idcard). Then: kioskctl idcard read --device LINK
            """)

    @Option(help: "Where to put the link to the pty.") var link = "/tmp/cardkiosk-idmodule"
    @Option(help: "A document fixture (JSON) to place on the reader.") var fixture: String?
    @Flag(help: "Find the card again after it was read while it stays (some modules do).") var refind = false
    @Flag(help: "Write answers in small pieces.") var split = false
    @Option(help: "Delay before every answer, in milliseconds.") var delay = 0

    func run() async throws {
        let simulator = IDModuleSimulator(linkPath: self.link)
        var faults = IDModuleSimulator.Faults()
        faults.refindsPresentCard = self.refind
        faults.splitWrites = self.split
        faults.delay = .milliseconds(self.delay)
        simulator.faults = faults
        if let fixture = self.fixture { simulator.place(try IDCardFixture.load(path: fixture)) }
        try simulator.plug()
        emitLine("ID-card module simulator at \(self.link) (\((try? FileManager.default.destinationOfSymbolicLink(atPath: self.link)) ?? "?"))")
        var seen = 0
        while true {
            let requests = simulator.requests
            for request in requests.dropFirst(seen) { emitLine("← \(request)") }
            seen = requests.count
            try await Task.sleep(for: .milliseconds(200))
        }
    }
}
