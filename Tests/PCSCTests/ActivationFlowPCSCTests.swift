import APDU
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
import KioskDevices
import PCSC
import ResidentIDCard
import SocialSecurityCard
import Synchronization
import TestSupport
import Testing
import VirtualCards

extension PCSCIntegrationTests {
    /// The whole activation through the real parts: a 3.00 card behind pcscd + vpcd (the PSAM in a second
    /// slot), the ID card through the module simulator's pty, the simulated bank over real HTTP with signed
    /// messages, the SQLite journal, the simulated PIN pad.
    @Suite("activation flow through pcscd, the ID-module pty and the bank over HTTP")
    struct ActivationFlowPCSC {
        static let cardSlot = VPCDSlot.all[4]
        static let psamSlot = VPCDSlot.all[5]

        final class Rig: Sendable {
            let card: VPCDCard
            let psam: VPCDCard
            let directory: String
            let simulator: IDModuleSimulator
            let module: IDCardModule
            let bank: SimulatedBank
            let server: SimulatedBankServer
            let gateway: HTTPGateway
            let journal: Journal
            let pad: SimulatedPINPad
            let flow: ActivationFlow
            let system = PCSCSystem()
            /// The PSAM session, as kioskd keeps one for its life.
            let psamSession: PSAMSecurityModule
            let events = Mutex<[FlowEvent]>([])

            init() async throws {
                self.card = VPCDCard(card: try VirtualSocialSecurityCard.make(try SocialSecurityCardFixture.load(path: sscFixturePath("v3-sm4-rare"))), port: ActivationFlowPCSC.cardSlot.port)
                self.psam = VPCDCard(card: VirtualPSAM(), port: ActivationFlowPCSC.psamSlot.port)
                self.psamSession = PSAMSecurityModule(system: self.system, reader: ActivationFlowPCSC.psamSlot.readerName)
                self.directory = FileManager.default.temporaryDirectory.appendingPathComponent("e2e-\(UUID().uuidString)").path
                try FileManager.default.createDirectory(atPath: self.directory, withIntermediateDirectories: true)
                self.simulator = IDModuleSimulator(linkPath: self.directory + "/ttyID")
                try self.simulator.plug()
                self.module = IDCardModule(device: self.directory + "/ttyID")
                self.bank = SimulatedBank()
                let keys = "\(fixturesDirectory)/bank/keys/"
                self.server = SimulatedBankServer(
                    bank: self.bank,
                    configuration: .init(
                        signer: try RSASigner(pem: String(contentsOfFile: keys + "bank.key", encoding: .utf8)),
                        terminalVerifier: try RSAVerifier(pem: String(contentsOfFile: keys + "terminal.pub", encoding: .utf8))))
                let port = try await self.server.start()
                var profile = SimulatorGateway.profile(responseMilliseconds: 8000)
                profile.kind = "http-json"
                profile.endpoint = "http://127.0.0.1:\(port)"
                self.gateway = try HTTPGateway(
                    profile: profile,
                    credentials: .init(
                        signer: try RSASigner(pem: String(contentsOfFile: keys + "terminal.key", encoding: .utf8)),
                        bankVerifier: try RSAVerifier(pem: String(contentsOfFile: keys + "bank.pub", encoding: .utf8)), serial: "TERM-1"))
                self.journal = try Journal(path: self.directory + "/journal.sqlite")
                self.pad = try SimulatedPINPad(pinKey: Hex.decode(SimulatedBank.Fixture().pinKey))
                self.flow = ActivationFlow(
                    executor: ActivationExecutor(journal: self.journal, gateway: self.gateway), pinPad: self.pad, verifier: SimulatedIdentityVerifier(),
                    configuration: FlowConfiguration(
                        terminalID: self.gateway.profile.terminalID, pinBlockFormat: self.gateway.capabilities.pinBlockFormat,
                        today: CalendarDate(year: 2026, month: 11, day: 29)!))
            }

            func start() async -> Task<Void, Never> {
                let devices = FlowDevices(
                    system: self.system, cardReader: ActivationFlowPCSC.cardSlot.readerName, securityModule: self.psamSession,
                    idWatcher: IDCardWatcher(module: self.module))
                let stream = self.flow.events
                Task { for await event in stream { self.events.withLock { $0.append(event) } } }
                let flow = self.flow
                return Task {
                    await withDiscardingTaskGroup { group in
                        group.addTask { await flow.run() }
                        group.addTask { await devices.drive(flow) }
                    }
                }
            }

            func waitFor(_ stage: FlowStage) async -> Bool {
                await waitUntil(timeout: .seconds(20), every: .milliseconds(20)) {
                    self.events.withLock { $0.contains { if case .stage(stage, _) = $0 { true } else { false } } }
                }
            }

            func type(_ pin: String) async {
                await self.pad.typeWhenAsked(pin)
            }

            func finish() async {
                await self.psamSession.close()
                self.card.remove()
                self.psam.remove()
                // The next test must not see these cards as still present.
                _ = try? await TestPCSCD.waitForCard(in: ActivationFlowPCSC.cardSlot.readerName, present: false, system: self.system)
                _ = try? await TestPCSCD.waitForCard(in: ActivationFlowPCSC.psamSlot.readerName, present: false, system: self.system)
                await self.module.close()
                self.simulator.stop()
                await self.gateway.shutdown()
                await self.server.stop()
                try? FileManager.default.removeItem(atPath: self.directory)
            }
        }

        @Test("a full activation: both cards read at once, confirmed, PIN twice, approved once at the bank, cards taken")
        func fullActivation() async throws {
            let rig = try await Rig()
            rig.psam.insert()
            _ = try await TestPCSCD.waitForCard(in: ActivationFlowPCSC.psamSlot.readerName, present: true, system: rig.system)
            let driver = await rig.start()
            rig.card.insert()
            rig.simulator.place(try IDCardFixture.load(path: "\(fixturesDirectory)/idcard/resident-rare.json"))
            #expect(await rig.waitFor(.confirming))
            await rig.flow.send(.confirm)
            await rig.type("802461")
            await rig.type("802461")
            #expect(await rig.waitFor(.takeCards))
            rig.card.remove()
            rig.simulator.removeCard()
            let end = await rig.flow.ended()
            driver.cancel()
            #expect(end == .completed)
            let ledger = await rig.bank.ledger()
            #expect(ledger.count == 1 && ledger.first?.effects == 1)
            #expect(try await rig.journal.recent().first?.state == .approved)
            #expect(rig.events.withLock { $0.contains { if case .result("approved", _, _) = $0 { true } else { false } } })
            await rig.finish()
        }

        @Test("the card pulled out of the real reader at confirmation: the flow ends, nothing reaches the bank")
        func removalThroughPCSC() async throws {
            let rig = try await Rig()
            rig.psam.insert()
            _ = try await TestPCSCD.waitForCard(in: ActivationFlowPCSC.psamSlot.readerName, present: true, system: rig.system)
            let driver = await rig.start()
            rig.card.insert()
            rig.simulator.place(try IDCardFixture.load(path: "\(fixturesDirectory)/idcard/resident-rare.json"))
            #expect(await rig.waitFor(.confirming))
            rig.card.remove()
            let end = await rig.flow.ended()
            rig.simulator.removeCard()
            driver.cancel()
            #expect(end == .cardRemoved, "\(rig.events.withLock { $0 })")
            #expect(await rig.bank.ledger().isEmpty)
            #expect(try await rig.journal.recent().isEmpty)
            await rig.finish()
        }
    }
}
