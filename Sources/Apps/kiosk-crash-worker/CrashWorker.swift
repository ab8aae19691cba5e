import Activation
import ArgumentParser
import BankGateway
import BankHTTP
import BankSimulator
import Bytes
import Foundation
import Glibc
import Identity
import Journal
import KioskCrypto

/// `kiosk-crash-worker`: the activation executor run as its own process for the crash test. It settles
/// what the journal left open (the start-up resolver), then activates cards `--from`..<`--to` that the
/// journal does not hold yet, against the bank in `--profile`. `--crash-at STEP:INDEX` makes it SIGKILL
/// itself at that step boundary of that activation; the test also kills it at random moments.
@main
struct CrashWorker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kiosk-crash-worker", abstract: "Runs activations against a bank profile; a test kills it and starts it again.")

    @Option(help: "The journal (SQLite).") var journal: String
    @Option(help: "A bank profile (http-json or iso8583).") var profile: String
    @Option(help: "First activation index.") var from = 0
    @Option(help: "End of the activation indices (exclusive).") var to = 1
    @Option(help: "STEP:INDEX: SIGKILL at that step boundary of that activation (\(ActivationStep.allCases.map(\.rawValue).joined(separator: ", "))).")
    var crashAt: String?

    func run() async throws {
        let profile = try BankProfile.load(path: self.profile)
        var registry = GatewayRegistry()
        registry.registerHTTPJSON()
        let gateway = try registry.makeGateway(for: profile)
        let journal = try Journal(path: self.journal)
        var crash: (ActivationStep, String)?
        if let text = self.crashAt {
            let parts = text.split(separator: ":")
            guard parts.count == 2, let step = ActivationStep(rawValue: String(parts[0])), let index = Int(parts[1]) else {
                throw ValidationError("--crash-at STEP:INDEX")
            }
            crash = (step, Self.key(index))
        }
        let target = crash
        let executor = ActivationExecutor(
            journal: journal, gateway: gateway, policy: ResolverPolicy(firstDelay: .milliseconds(50), maximumDelay: .milliseconds(400)),
            observer: { step, key in
                if let target, target.0 == step, target.1 == key { kill(getpid(), SIGKILL) }
            })
        let settled = try await executor.resolveAll()
        if !settled.isEmpty { print("resolved at start: \(settled.count)") }
        for index in self.from..<self.to {
            guard try await journal.activation(Self.key(index)) == nil else { continue }
            let result = try await executor.execute(try Self.request(index))
            print("\(Self.key(index)) \(result.state.rawValue)")
        }
        await (gateway as? HTTPGateway)?.shutdown()
    }

    static func key(_ index: Int) -> String { String(format: "crash-%06d", index) }

    /// The card of activation `index`: `62282300` + the index + the Luhn digit.
    static func pan(_ index: Int) -> String {
        let body = "62282300" + String(format: "%010d", index)
        return body + String(Luhn.checkDigit(for: body)!)
    }

    /// Activation `index`: its own card (a PAN with a valid Luhn digit), a real ISO-0 PIN block under the
    /// simulator's test PIN key.
    static func request(_ index: Int) throws -> ActivationRequest {
        let pan = self.pan(index)
        let clear = try ISO0PINBlock.clearBlock(pin: "802461", pan: pan)
        let cipher = try BlockCipher(.tripleDES, key: Hex.decode(SimulatedBank.Fixture().pinKey))
        return ActivationRequest(
            key: IdempotencyKey(key(index))!, card: CardReference(pan: pan, panSequenceNumber: 1),
            cardholder: Cardholder(idNumber: "440303198101011117", name: "张三"),
            pinBlock: EncryptedPINBlock(format: .iso0TripleDES, keyName: "PIK-TEST", bytes: try cipher.encrypt(clear)), terminalID: "KIOSK001")
    }
}
