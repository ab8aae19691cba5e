import ArgumentParser
import AsyncHTTPClient
import BankGateway
import BankHTTP
import BankSimulator
import BankSimulatorServer
import Bytes
import Foundation
import ISO8583
import KioskCrypto
import NIOCore
import NIOSSL

/// `kiosk-bank-sim`: the simulated bank as a standalone server (demo, kiosk-UI development, acceptance
/// tests at an outlet), and its ledger.
@main
struct BankSim: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kiosk-bank-sim",
        abstract: "The simulated bank: HTTP/JSON and ISO 8583 bank servers with one ledger and fault injection.",
        subcommands: [Serve.self, Ledger.self]
    )
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the simulated bank until Ctrl-C.",
        discussion: """
            --keys DIR holds the bank's and the terminal's TEST keys (created when missing) and gets a bank profile,
            DIR/profile.json, that points an http-json gateway at this server. The first line printed is
            `listening on http://HOST:PORT` once the port is bound.
            --iso-port also serves ISO 8583 (UnionPay framing) on that port, with the same ledger and faults, and
            writes DIR/iso8583-profile.json for an iso8583 gateway (test terminal master key in DIR/tmk.hex); it
            prints `iso8583 on tcp://HOST:PORT`.
            Faults: \(BankFault.allCases.map(\.rawValue).joined(separator: ", ")).
            """)

    @Option(help: "Outcome rules (JSON: defaultCode, rules [{pan|idNumber, code, triesLeft}], pinKey, processingMilliseconds).")
    var fixture: String?

    @Option(help: "Address to bind.") var host = "127.0.0.1"
    @Option(help: "Port (0 = any free port).") var port = 8089
    @Option(help: "Directory of the test keys and the generated profile.") var keys: String
    @Option(help: "Signing scheme: rsa or sm2.") var scheme = "rsa"
    @Option(help: "Queue a fault for the next request (repeatable).") var fault: [String] = []
    @Option(help: "Apply a fault to a share of requests: NAME:PROBABILITY.") var faultRate: String?
    @Option(help: "SM4 key (32 hex digits) the kiosk seals ID numbers with.") var sm4FieldKey: String?
    @Option(help: "Seconds before a late answer.") var lateAnswerSeconds = 3
    @Option(help: "Also serve ISO 8583 on this port (0 = any free port).") var isoPort: Int?
    @Option(help: "The ISO 8583 field-spec file.") var spec = "Config/iso8583/cups-pos.json"
    @Option(help: "ISO 8583 MAC: x9.9, x9.19, unionpay-ecb or sm4-pos.") var isoMac = "unionpay-ecb"
    @Option(help: "ISO 8583 key algorithm: 3des or sm4.") var isoKeys = "3des"

    func run() async throws {
        let fixture = try self.fixture.map(SimulatedBank.Fixture.load(path:)) ?? SimulatedBank.Fixture()
        let bank = SimulatedBank(fixture: fixture)
        var plan = FaultPlan(queue: try self.fault.map(Self.fault))
        if let rate = self.faultRate {
            let parts = rate.split(separator: ":")
            guard parts.count == 2, let probability = Double(parts[1]), (0...1).contains(probability) else {
                throw ValidationError("--fault-rate takes NAME:PROBABILITY, e.g. dropAfterApplying:0.2")
            }
            plan.rate = (try Self.fault(String(parts[0])), probability)
        }
        await bank.setFaults(plan)
        let keys = try TestKeyFiles(directory: self.keys, scheme: self.scheme)
        let fieldKey = try self.sm4FieldKey.map { try Hex.decode($0) }
        let server = SimulatedBankServer(
            bank: bank,
            configuration: .init(
                host: self.host, port: self.port, signer: try keys.bankSigner(), terminalVerifier: try keys.terminalVerifier(), fieldKey: fieldKey,
                lateAnswerDelay: .seconds(self.lateAnswerSeconds)))
        let port = try await server.start()
        try keys.writeProfile(endpoint: "http://\(self.host):\(port)", sm4FieldKey: self.sm4FieldKey, fixture: fixture)
        // Unbuffered: a script or test waits for this line.
        FileHandle.standardOutput.write(Data("listening on http://\(self.host):\(port)\n".utf8))
        if let isoPort = self.isoPort {
            let bound = try await self.serveISO(bank: bank, port: isoPort, keys: keys)
            FileHandle.standardOutput.write(Data("iso8583 on tcp://\(self.host):\(bound)\n".utf8))
        }
        FileHandle.standardOutput.write(Data("test keys and profile in \(self.keys) (TEST keys: never use them with a real bank)\n".utf8))
        while true { try await Task.sleep(for: .seconds(3600)) }
    }

    /// Starts the ISO 8583 side on the same bank and writes its profile; returns the bound port.
    func serveISO(bank: SimulatedBank, port: Int, keys: TestKeyFiles) async throws -> Int {
        guard let mac = MACAlgorithm(rawValue: self.isoMac) else { throw ValidationError("--iso-mac: one of \(MACAlgorithm.allCases.map(\.rawValue).joined(separator: ", "))") }
        guard ["3des", "sm4"].contains(self.isoKeys) else { throw ValidationError("--iso-keys is 3des or sm4") }
        let specPath = URL(fileURLWithPath: self.spec).standardizedFileURL.path
        let spec: MessageSpec
        do {
            spec = try JSONDecoder().decode(MessageSpec.self, from: Data(contentsOf: URL(fileURLWithPath: specPath)))
        } catch {
            throw ValidationError("--spec \(specPath): \(error)")
        }
        let masterKey = try keys.terminalMasterKey()
        let fieldKey = try keys.isoFieldKey()
        var configuration = SimulatedISO8583Server.Configuration(
            host: self.host, port: port, spec: spec, masterKey: masterKey, keyAlgorithm: self.isoKeys == "sm4" ? .sm4 : .tripleDES, mac: mac,
            lateAnswerDelay: .seconds(self.lateAnswerSeconds))
        configuration.fieldKey = fieldKey
        let server = SimulatedISO8583Server(bank: bank, configuration: configuration)
        let bound = try await server.start()
        try keys.writeISOProfile(endpoint: "tcp://\(self.host):\(bound)", spec: specPath, mac: mac.rawValue, keyAlgorithm: self.isoKeys, fieldKey: fieldKey)
        return bound
    }

    static func fault(_ name: String) throws -> BankFault {
        guard let fault = BankFault(rawValue: name) else {
            throw ValidationError("unknown fault \(name); choose one of \(BankFault.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return fault
    }
}

struct Ledger: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the simulated bank's ledger.")

    @Option(help: "The simulated bank's base URL.") var url = "http://127.0.0.1:8089"
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let request = HTTPClientRequest(url: self.url + "/sim/ledger")
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 16 << 20)
        let data = Data(body.readableBytesView)
        if self.json {
            print(String(decoding: data, as: UTF8.self))
            return
        }
        let entries = try JSONDecoder().decode([SimulatedBank.LedgerEntry].self, from: data)
        print("\(entries.count) keys")
        for entry in entries {
            print("\(entry.key)  \(entry.state.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0)) code \(entry.code)  effects \(entry.effects)  requests \(entry.requests)  \(entry.bankReference ?? "-")  \(entry.maskedPAN)")
        }
    }
}

/// The bank's and the terminal's test key pairs in a directory, created when missing.
struct TestKeyFiles {
    let directory: String
    let scheme: String

    init(directory: String, scheme: String) throws {
        guard scheme == "rsa" || scheme == "sm2" else { throw ValidationError("--scheme is rsa or sm2") }
        self.directory = directory
        self.scheme = scheme
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for party in ["bank", "terminal"] where !FileManager.default.fileExists(atPath: self.path("\(party).key")) {
            let (privateKey, publicKey): (String, String)
            if scheme == "rsa" {
                (privateKey, publicKey) = try RSASigner.generatePEM()
            } else {
                let key = try SM2.Key.generate()
                (privateKey, publicKey) = (key.privateKeyPEM, key.publicKeyPEM)
            }
            try privateKey.write(toFile: self.path("\(party).key"), atomically: true, encoding: .utf8)
            try publicKey.write(toFile: self.path("\(party).pub"), atomically: true, encoding: .utf8)
        }
    }

    func path(_ name: String) -> String { self.directory + "/" + name }

    func bankSigner() throws -> any MessageSigner {
        let pem = try String(contentsOfFile: self.path("bank.key"), encoding: .utf8)
        return self.scheme == "rsa" ? try RSASigner(pem: pem) : SM2Signer(key: try SM2.Key(privateKeyPEM: pem))
    }

    func terminalVerifier() throws -> any SignatureVerifier {
        let pem = try String(contentsOfFile: self.path("terminal.pub"), encoding: .utf8)
        return self.scheme == "rsa" ? try RSAVerifier(pem: pem) : SM2Verifier(key: try SM2.Key(publicKeyPEM: pem))
    }

    /// The terminal master key the ISO side delivers working keys under: a random TEST key in
    /// DIR/tmk.hex, created when missing.
    func terminalMasterKey() throws -> [UInt8] { try self.testKey(file: "tmk.hex") }

    /// The SM4 key field 62's ID number and name are sealed under: a random TEST key in DIR/iso-field-key.hex,
    /// created when missing.
    func isoFieldKey() throws -> [UInt8] { try self.testKey(file: "iso-field-key.hex") }

    /// A 16-byte random TEST key kept as hex in DIR/`file`, created when missing.
    private func testKey(file: String) throws -> [UInt8] {
        let path = self.path(file)
        if let text = try? String(contentsOfFile: path, encoding: .utf8) { return try Hex.decode(text.trimmingCharacters(in: .whitespacesAndNewlines)) }
        var generator = SystemRandomNumberGenerator()
        let key = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
        try (Hex.encode(key) + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return key
    }

    /// An iso8583 profile for a kiosk that talks to the ISO side.
    func writeISOProfile(endpoint: String, spec: String, mac: String, keyAlgorithm: String, fieldKey: [UInt8]) throws {
        let profile = BankProfile(
            name: "Simulated bank (ISO 8583)", kind: "iso8583", bankCode: "SIM", terminalID: "KIOSK001", endpoint: endpoint,
            timeouts: .init(connectMilliseconds: 2000, responseMilliseconds: 10_000), resultCodes: SimulatedBank.resultCodes,
            settings: [
                "spec": spec, "masterKeyFile": self.path("tmk.hex"), "keyAlgorithm": keyAlgorithm, "mac": mac, "merchantID": "898440358120001",
                "stateFile": self.path("terminal-state.json"), "sm4FieldKey": Hex.encode(fieldKey), "testOnly": "true",
            ])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try encoder.encode(profile).write(to: URL(fileURLWithPath: self.path("iso8583-profile.json")))
    }

    /// An http-json profile for a kiosk that talks to this server.
    func writeProfile(endpoint: String, sm4FieldKey: String?, fixture: SimulatedBank.Fixture) throws {
        var settings = [
            "signingScheme": self.scheme, "signingKeyFile": self.path("terminal.key"), "bankPublicKeyFile": self.path("bank.pub"),
            "serial": "SIM-TERMINAL-1", "testOnly": "true",
        ]
        if let key = sm4FieldKey { settings["sm4FieldKey"] = key }
        // The bank's PIN key for the EPP, under this directory's TEST terminal master key (kiosk-epp-sim --keys DIR).
        settings.merge(fixture.pinKeySettings(masterKey: try self.terminalMasterKey())) { $1 }
        let profile = BankProfile(
            name: "Simulated bank (HTTP)", kind: "http-json", bankCode: "SIM", terminalID: "KIOSK001", endpoint: endpoint,
            timeouts: .init(connectMilliseconds: 2000, responseMilliseconds: 10_000), resultCodes: SimulatedBank.resultCodes, settings: settings)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try encoder.encode(profile).write(to: URL(fileURLWithPath: self.path("profile.json")))
    }
}
