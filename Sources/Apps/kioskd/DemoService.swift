import Activation
import ActivationSimulators
import BankGateway
import BankHTTP
import BankSimulator
import BankSimulatorServer
import Bytes
import CardCore
import CardSimulator
import Foundation
import IDModuleSimulator
import Identity
import Journal
import KioskCrypto
import KioskDevices
import Logging
import Messages
import ResidentIDCard
import ServiceLifecycle
import SocialSecurityCard
import Synchronization
import VirtualCards

/// The demo: one whole activation a person can watch, with every part real but the hardware. A resident
/// ID card lies on the ID-card module (the simulator on a pseudo-terminal, read through the real tty
/// code); a virtual 3.00 social security card goes into the mock reader with the virtual PSAM in a second
/// slot; the simulated bank runs over real HTTP on loopback with SM2-signed messages; the journal is real
/// SQLite. A scripted customer confirms the details and types a new PIN twice on the simulated PIN pad
/// (from outside the flow, key by key); the bank applies the activation once; the customer takes the
/// cards. Each screen message is logged in Chinese and English, personal data masked.
struct DemoService: Service {
    static let reader = "Mock Reader 00 00"
    static let psamReader = "Mock PSAM 00 01"
    let system: MockCardSystem
    let logger: Logger

    func run() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cardkiosk-demo-\(getpid())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }

        // The bank: HTTP on loopback, SM2 keys made for this run (test keys, never a real bank's).
        let bankKey = try SM2.Key.generate()
        let terminalKey = try SM2.Key.generate()
        let bank = SimulatedBank()
        let server = SimulatedBankServer(
            bank: bank, configuration: .init(signer: SM2Signer(key: bankKey), terminalVerifier: SM2Verifier(key: terminalKey)))
        let port = try await server.start()
        var profile = SimulatorGateway.profile(responseMilliseconds: 10_000)
        profile.name = "Simulated bank (HTTP, SM2)"
        profile.kind = "http-json"
        profile.endpoint = "http://127.0.0.1:\(port)"
        let gateway = try HTTPGateway(
            profile: profile, credentials: .init(signer: SM2Signer(key: terminalKey), bankVerifier: SM2Verifier(key: bankKey), serial: "DEMO-1"))
        self.logger.info("demo: simulated bank listening on http://127.0.0.1:\(port) (SM2-with-SM3 signatures)")
        guard case .ready = await gateway.prepare() else { throw DemoError("the simulated bank did not answer") }

        let journal = try Journal(path: directory + "/journal.sqlite")
        let executor = ActivationExecutor(journal: journal, gateway: gateway)
        let open = try await executor.resolveAll()
        self.logger.info("demo: journal \(journal.path) ready; start-up resolver settled \(open.count) open activations")

        // The ID-card module on a pty, and the card system with the PSAM.
        let simulator = IDModuleSimulator(linkPath: directory + "/ttyID")
        try simulator.plug()
        defer { simulator.stop() }
        let module = IDCardModule(device: simulator.linkPath)
        self.system.insert(VirtualPSAM(), into: Self.psamReader)
        let pad = try SimulatedPINPad(pinKey: Hex.decode(SimulatedBank.Fixture().pinKey))
        let flow = ActivationFlow(
            executor: executor, pinPad: pad, verifier: SimulatedIdentityVerifier(),
            configuration: FlowConfiguration(terminalID: gateway.profile.terminalID, pinBlockFormat: gateway.capabilities.pinBlockFormat))
        let psam = PSAMSecurityModule(system: self.system, reader: Self.psamReader)
        let devices = FlowDevices(system: self.system, cardReader: Self.reader, securityModule: psam, idWatcher: IDCardWatcher(module: module))

        let seen = EventLog()
        // The screen, the devices and the flow run side by side until the flow ends.
        let end = try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for await event in flow.events {
                    seen.append(event)
                    self.show(event)
                }
            }
            group.addTask { await devices.drive(flow) }
            group.addTask { await flow.run() }
            try await self.customer(flow: flow, pad: pad, simulator: simulator, seen: seen)
            let end = await flow.ended()
            try await group.waitForAll()
            return end
        }
        await module.close()
        await psam.close()

        for entry in await bank.ledger() {
            self.logger.info("demo: bank ledger: \(entry.key) \(entry.state.rawValue) effects \(entry.effects) ref \(entry.bankReference ?? "-") \(entry.maskedPAN)")
        }
        for record in try await journal.recent(limit: 5) {
            self.logger.info("demo: journal: \(record.key) \(record.state.rawValue) \(record.maskedPAN) \(record.maskedID) ref \(record.bankReference ?? "-")")
        }
        let chain = try await journal.verifyChain()
        self.logger.info("demo: \(chain); flow ended: \(end.rawValue)")
        await gateway.shutdown()
        await server.stop()
        guard end == .completed else { throw DemoError("the activation did not complete: \(end.rawValue)") }
    }

    /// What the customer does, step by step, at a pace a person can follow.
    private func customer(flow: ActivationFlow, pad: SimulatedPINPad, simulator: IDModuleSimulator, seen: EventLog) async throws {
        try await Task.sleep(for: .milliseconds(600))
        let card = SimulatorControl.demoIDCard
        self.logger.info("demo: [customer] places the resident ID card on the ID reader (module simulator on \(simulator.linkPath))")
        simulator.place(card)
        try await Task.sleep(for: .milliseconds(600))
        self.logger.info("demo: [customer] inserts the social security card (virtual 3.00 card, SM4, synthetic holder)")
        guard let ssc = VirtualCardCatalog.card(named: "ssc-demo-v3") else { throw DemoError("no demo card") }
        self.system.insert(ssc, into: Self.reader)
        try await seen.wait { if case .stage(.confirming, _) = $0 { true } else { false } }
        try await Task.sleep(for: .milliseconds(800))
        self.logger.info("demo: [customer] checks the details and presses Confirm")
        await flow.send(.confirm)
        for stage in [FlowStage.enteringPIN, .confirmingPIN] {
            try await seen.wait { if case .stage(stage, _) = $0 { true } else { false } }
            guard await pad.waitForEntry(timeout: .seconds(30)) else { throw DemoError("the PIN pad did not ask for a PIN") }
            self.logger.info("demo: [customer] types a new 6-digit PIN on the PIN pad (the clear PIN stays in the pad)")
            for digit in [8, 0, 2, 4, 6, 1] {
                try await Task.sleep(for: .milliseconds(150))
                pad.press(.digit(digit))
            }
            pad.press(.enter)
        }
        try await seen.wait { if case .stage(.takeCards, _) = $0 { true } else { false } }
        try await Task.sleep(for: .milliseconds(800))
        self.logger.info("demo: [customer] takes both cards")
        simulator.removeCard()
        self.system.remove(from: Self.reader)
    }

    private func show(_ event: FlowEvent) {
        switch event {
        case .stage(let stage, let message):
            self.logger.info("screen [\(stage.rawValue)] \(message.zhHans) / \(message.en)")
        case .details(let details):
            self.logger.info("screen [details] 证件 \(details.document.zhHans)  姓名 \(details.name)  身份证 \(details.idNumber)  社保卡号 \(details.cardNumber)  银行卡号 \(details.bankCardNumber)  有效期 \(details.cardExpiry ?? "-")")
        case .pinProgress(let digits):
            self.logger.info("screen [PIN] \(String(repeating: "●", count: digits))\(String(repeating: "○", count: max(0, 6 - digits)))")
        case .timeoutWarning(let stage, let seconds):
            self.logger.info("screen [\(stage.rawValue)] \(seconds) s left")
        case .notice(let message, let operatorMessage):
            self.logger.notice("screen [notice] \(message.zhHans) / \(message.en)", metadata: ["operator": "\(operatorMessage)"])
        case .result(let state, let message, let operatorMessage):
            self.logger.notice("screen [result] \(message.zhHans) / \(message.en)", metadata: ["journal.state": "\(state)", "operator": "\(operatorMessage)"])
        case .ended(let end):
            self.logger.info("screen [end] \(end.customerMessage.zhHans) / \(end.customerMessage.en)")
        }
    }
}

struct DemoError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The flow's events as the demo saw them, so the customer script can wait for a screen.
final class EventLog: Sendable {
    private let events = Mutex<[FlowEvent]>([])
    func append(_ event: FlowEvent) { self.events.withLock { $0.append(event) } }

    func wait(timeout: Duration = .seconds(30), _ predicate: (FlowEvent) -> Bool) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while clock.now < deadline {
            if self.events.withLock({ $0.contains(where: predicate) }) { return }
            if self.events.withLock({ $0.contains { if case .ended = $0 { true } else { false } } }) { throw DemoError("the flow ended early") }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw DemoError("the screen did not get there within \(timeout)")
    }
}
