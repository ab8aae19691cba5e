import APDU
import BankGateway
import BankSimulator
import BankSimulatorServer
import Bytes
import Foundation
import ISO8583
import ISO8583Gateway
import KioskCrypto
import TestSupport

/// A simulated bank on a real loopback TCP port and an `iso8583` gateway pointed at it.
struct Harness {
    static let masterKey = "0123456789ABCDEFFEDCBA9876543210"  // test TMK, never a real one
    /// The repository's UnionPay spec file (`Tests/Fixtures/../../Config/iso8583/cups-pos.json`).
    static let specPath = URL(fileURLWithPath: fixturesDirectory).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Config/iso8583/cups-pos.json").path
    static var spec: MessageSpec {
        get throws { try JSONDecoder().decode(MessageSpec.self, from: Data(contentsOf: URL(fileURLWithPath: specPath))) }
    }

    let bank: SimulatedBank
    let server: SimulatedISO8583Server
    let port: Int
    let directory: URL

    /// A bank-side configuration; `keyAlgorithm`/`mac` must match the gateway's profile.
    static func start(
        fixture: SimulatedBank.Fixture = SimulatedBank.Fixture(), keyAlgorithm: BlockCipher.Algorithm = .tripleDES,
        mac: MACAlgorithm = .unionPayECB, lateAnswerDelay: Duration = .milliseconds(3500), fieldKey: [UInt8]? = nil
    ) async throws -> Harness {
        let bank = SimulatedBank(fixture: fixture)
        var configuration = SimulatedISO8583Server.Configuration(
            spec: try spec, masterKey: try Hex.decode(masterKey), keyAlgorithm: keyAlgorithm, mac: mac, lateAnswerDelay: lateAnswerDelay)
        configuration.fieldKey = fieldKey
        let server = SimulatedISO8583Server(bank: bank, configuration: configuration)
        let port = try await server.start()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("iso-gw-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return Harness(bank: bank, server: server, port: port, directory: directory)
    }

    var stateFile: String { self.directory.appendingPathComponent("terminal.json").path }

    func profile(
        responseMilliseconds: Int = 3000, settings extra: [String: String] = [:], terminalID: String = "KIOSK001", port: Int? = nil
    ) -> BankProfile {
        var settings = [
            "spec": Self.specPath, "masterKey": Self.masterKey, "merchantID": "898440358120001", "stateFile": self.stateFile,
            "mac": "unionpay-ecb", "reversalAttempts": "4",
        ]
        settings.merge(extra) { $1 }
        return BankProfile(
            name: "Simulated ISO 8583 bank", kind: "iso8583", bankCode: "SIM", terminalID: terminalID,
            endpoint: "tcp://127.0.0.1:\(port ?? self.port)",
            timeouts: .init(connectMilliseconds: 2000, responseMilliseconds: responseMilliseconds),
            resultCodes: SimulatedBank.resultCodes, settings: settings)
    }

    func gateway(responseMilliseconds: Int = 3000, settings: [String: String] = [:]) throws -> ISO8583Gateway {
        try ISO8583Gateway(profile: self.profile(responseMilliseconds: responseMilliseconds, settings: settings))
    }

    func stop() async {
        await self.server.stop()
        try? FileManager.default.removeItem(at: self.directory)
    }

    func entry(_ key: IdempotencyKey) async -> SimulatedBank.LedgerEntry? {
        await self.bank.ledger().first { $0.key == key.value }
    }
}

/// Runs `body` with a harness and a gateway, and always shuts both down.
func withGateway(
    fixture: SimulatedBank.Fixture = SimulatedBank.Fixture(), responseMilliseconds: Int = 3000, settings: [String: String] = [:],
    keyAlgorithm: BlockCipher.Algorithm = .tripleDES, mac: MACAlgorithm = .unionPayECB,
    _ body: (Harness, ISO8583Gateway) async throws -> Void
) async throws {
    let harness = try await Harness.start(fixture: fixture, keyAlgorithm: keyAlgorithm, mac: mac)
    let gateway: ISO8583Gateway
    do {
        gateway = try harness.gateway(responseMilliseconds: responseMilliseconds, settings: settings)
    } catch {
        await harness.stop()
        throw error
    }
    do {
        try await body(harness, gateway)
    } catch {
        await gateway.shutdown()
        await harness.stop()
        throw error
    }
    await gateway.shutdown()
    await harness.stop()
}
