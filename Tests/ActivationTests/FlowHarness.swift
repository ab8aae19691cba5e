import APDU
import Activation
import ActivationSimulators
import BankGateway
import BankSimulator
import Bytes
import CardCore
import CardSimulator
import Foundation
import IDModuleSimulator
import Identity
import Journal
import Messages
import ResidentIDCard
import SocialSecurityCard
import Synchronization
import TestSupport
import VirtualCards

/// A flow wired to the in-process simulated bank, a simulated PIN pad and a fresh journal; cards come from
/// the fixtures, read through the mock reader (social security card, with the virtual PSAM) and decoded
/// from the ID-module text block.
final class FlowHarness: Sendable {
    let bank: SimulatedBank
    let journal: Journal
    let executor: ActivationExecutor
    let pad: SimulatedPINPad
    let flow: ActivationFlow
    let collected = EventBox()
    /// What the flow's stage timers run on.
    let clock: ManualClock?
    private let collector: Task<Void, Never>
    /// Runs the flow (its timers, PIN entries and bank calls are this task's children).
    let runner: Task<FlowEnd, Never>

    init(
        fixture: SimulatedBank.Fixture = .init(), timeouts: FlowTimeouts = FlowTimeouts(),
        verifier: any IdentityVerifier = SimulatedIdentityVerifier(), journal: Journal? = nil,
        gateway makeGateway: ((SimulatorGateway) -> any BankGateway)? = nil, clock: ManualClock? = nil
    ) throws {
        self.bank = SimulatedBank(fixture: fixture)
        let simulator = try SimulatorGateway(profile: SimulatorGateway.profile(responseMilliseconds: makeGateway == nil ? 2000 : 300), bank: self.bank)
        let gateway = makeGateway?(simulator) ?? simulator
        self.journal = try journal ?? Journal(path: FileManager.default.temporaryDirectory.appendingPathComponent("flow-\(UUID().uuidString).sqlite").path)
        self.executor = ActivationExecutor(
            journal: self.journal, gateway: gateway, policy: ResolverPolicy(firstDelay: .milliseconds(10), maximumDelay: .milliseconds(40), inquiries: 2, reversals: 2))
        self.pad = try SimulatedPINPad(pinKey: Hex.decode(SimulatedBank.Fixture().pinKey))
        let configuration = FlowConfiguration(
            terminalID: gateway.profile.terminalID, pinBlockFormat: gateway.capabilities.pinBlockFormat, timeouts: timeouts,
            today: CalendarDate(year: 2026, month: 11, day: 29)!)
        self.clock = clock
        if let clock {
            self.flow = ActivationFlow(executor: self.executor, pinPad: self.pad, verifier: verifier, configuration: configuration, clock: clock)
        } else {
            self.flow = ActivationFlow(executor: self.executor, pinPad: self.pad, verifier: verifier, configuration: configuration)
        }
        let flow = self.flow
        self.runner = Task { await flow.run() }
        let events = self.flow.events
        let collected = self.collected
        self.collector = Task {
            for await event in events { collected.append(event) }
        }
    }

    var events: [FlowEvent] { self.collected.all }

    /// Waits until `predicate` holds for the events so far (or 10 s pass).
    @discardableResult
    func waitFor(_ what: String = "", _ predicate: ([FlowEvent]) -> Bool) async -> Bool {
        await waitUntil(timeout: .seconds(10)) { predicate(self.events) }
    }

    func waitForStage(_ stage: FlowStage) async -> Bool {
        await self.waitFor { $0.contains { if case .stage(stage, _) = $0 { return true } else { return false } } }
    }

    func waitForEnd() async -> FlowEnd? {
        _ = await self.waitFor { $0.contains { if case .ended = $0 { return true } else { return false } } }
        for event in self.events { if case .ended(let end) = event { return end } }
        return nil
    }

    /// Types `pin` once the pad is waiting for it.
    func type(_ pin: String) async {
        await self.pad.typeWhenAsked(pin)
    }

    /// Presents both cards (the ID card first).
    func present(id: String = "resident-common", card: String = "v2-common") async throws {
        await self.flow.start()
        await self.flow.send(.idCardRead(try Self.idCard(id)))
        await self.flow.send(.cardInserted)
        await self.flow.send(.cardRead(try await Self.reading(card)))
    }

    /// Takes both cards away.
    func takeCards() async {
        await self.flow.send(.cardRemoved)
        await self.flow.send(.idCardLeft)
    }

    static func idCard(_ name: String) throws -> IDCardData {
        try IDCardFixture.load(path: "\(fixturesDirectory)/idcard/\(name).json").card
    }

    /// The fixture card read through the mock reader (3.00 cards through the virtual PSAM).
    static func reading(_ name: String) async throws -> SocialSecurityCardReading {
        let system = MockCardSystem(readers: ["Mock Card 00 00", "Mock PSAM 00 01"])
        system.insert(try VirtualSocialSecurityCard.make(try SocialSecurityCardFixture.load(path: sscFixturePath(name))), into: "Mock Card 00 00")
        system.insert(VirtualPSAM(), into: "Mock PSAM 00 01")
        let connection = try await system.connect(reader: "Mock Card 00 00")
        defer { Task { await connection.disconnect() } }
        return try await SocialSecurityCardReader.read(
            connection: connection, options: CardReadOptions(securityModule: PSAMSecurityModule(system: system, reader: "Mock PSAM 00 01")))
    }
}

extension FlowEvent {
    var notice: String? {
        if case .notice(let message, _) = self { return message.key }
        return nil
    }
}

/// Events as they arrive, readable from any task.
final class EventBox: Sendable {
    private let events = Mutex<[FlowEvent]>([])
    func append(_ event: FlowEvent) { self.events.withLock { $0.append(event) } }
    var all: [FlowEvent] { self.events.withLock { $0 } }
}
