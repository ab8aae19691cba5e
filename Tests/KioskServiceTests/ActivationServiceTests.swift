import Activation
import ActivationSimulators
import BankSimulator
import Journal
import KioskService
import Logging
import Synchronization
import TestSupport
import Testing

/// The activation service alone: one owner, its inputs, its timeout, and the drain at shutdown.
@Suite("ActivationService: one activation, its owner, its timeout, its drain")
struct ActivationServiceTests {
    /// The service running, with what each owner heard.
    final class Rig: Sendable {
        let host: TestHost
        let service: ActivationService
        let task: Task<Void, any Error>
        let heard = Mutex<[Int: [ActivationService.Update]]>([:])

        init(bank: SimulatedBank.Fixture = .init(), drain: Duration = .seconds(30)) throws {
            let host = try TestHost(bank: bank)
            self.host = host
            self.service = ActivationService(logger: Logger(label: "test"), drain: drain) { host.makeActivation(language: $0) }
            let service = self.service
            self.task = Task { try await service.run() }
        }

        func start(_ connection: Int, requestId: Int, language: String? = nil, timeout: Duration? = nil) async throws(ActivationService.StartRefusal) -> ActivationFlow {
            try await self.service.start(language: language, owner: .init(connection: connection, requestId: requestId), timeout: timeout) { update in
                self.heard.withLock { $0[connection, default: []].append(update) }
            }
        }

        func end(of connection: Int) async -> (FlowEnd, Bool)? {
            await poll(timeout: .seconds(10)) {
                self.heard.withLock { $0[connection] ?? [] }.compactMap { if case .ended(let end, let timedOut) = $0 { (end, timedOut) } else { nil } }.first
            }
        }

        func events(of connection: Int) -> [FlowEvent] {
            self.heard.withLock { $0[connection] ?? [] }.compactMap { if case .event(let event) = $0 { event } else { nil } }
        }

        /// Both cards in, details confirmed, the PIN typed twice: the request goes to the bank.
        func toTheBank(_ flow: ActivationFlow) async throws {
            await flow.send(.idCardRead(try Cards.idCard("resident-common")))
            await flow.send(.cardInserted)
            await flow.send(.cardRead(try await Cards.reading("v2-common")))
            #expect(await waitUntil(timeout: .seconds(10)) { await flow.currentStage == .confirming })
            await flow.send(.confirm)
            #expect(await self.host.pad.typeWhenAsked("802461"))
            #expect(await waitUntil(timeout: .seconds(10)) { await flow.currentStage == .confirmingPIN })
            #expect(await self.host.pad.typeWhenAsked("802461"))
            #expect(await waitUntil(timeout: .seconds(10)) { await flow.isWithBank })
        }

        /// A rig whose activation (connection 1, request 10) is at a bank taking `bankMilliseconds`, drained
        /// within `limit`; and how long the drain took.
        static func drained(bankMilliseconds: Int, within limit: Duration) async throws -> (Rig, Duration) {
            var fixture = SimulatedBank.Fixture()
            fixture.processingMilliseconds = bankMilliseconds
            let rig = try Rig(bank: fixture)
            try await rig.toTheBank(try await rig.start(1, requestId: 10))
            let clock = ContinuousClock()
            let started = clock.now
            await rig.service.drain(within: limit)
            return (rig, clock.now - started)
        }

        func stop() async {
            self.task.cancel()
            _ = await self.task.result
        }
    }

    @Test("one at a time: a second start is busy; only the owner's connection (and its start request) confirms or cancels; the kiosk is free once the owner heard the end")
    func ownership() async throws {
        let rig = try Rig()
        let flow = try await rig.start(1, requestId: 10)
        #expect(rig.service.isRunning)
        await #expect(throws: ActivationService.StartRefusal.busy) { try await rig.start(2, requestId: 20) }
        #expect(await rig.service.send(.confirm, from: 2) == false)
        #expect(await rig.service.cancel(connection: 2, requestIds: nil) == false)
        #expect(await rig.service.cancel(connection: 1, requestIds: [99]) == false)
        #expect(await flow.currentStage == .waitingForCards)
        #expect(await rig.service.cancel(connection: 1, requestIds: [10]))
        let end = try #require(await rig.end(of: 1))
        #expect(end.0 == .cancelled && end.1 == false)
        #expect(!rig.service.isRunning)
        // Free at once: the next customer's start is not refused.
        _ = try await rig.start(2, requestId: 21)
        #expect(await rig.service.cancel(connection: 2, requestIds: nil))
        #expect(await rig.end(of: 2)?.0 == .cancelled)
        await rig.stop()
    }

    @Test("the start's own timeout cancels the activation and says so; the language is kept, unknown tags are Chinese")
    func timeoutAndLanguage() async throws {
        let rig = try Rig()
        _ = try await rig.start(1, requestId: 10, language: "en-GB", timeout: .milliseconds(200))
        #expect(rig.service.running?.language == .en)
        let end = try #require(await rig.end(of: 1))
        #expect(end.0 == .cancelled && end.1 == true)
        _ = try await rig.start(2, requestId: 11, language: "fr")
        #expect(rig.service.running?.language == .zhHans)
        #expect(rig.host.languages.withLock { $0 } == [.en, .zhHans])
        await rig.service.cancel(connection: 2, requestIds: nil)
        #expect(CustomerLanguage(tag: nil) == .zhHans && CustomerLanguage(tag: "zh-CN") == .zhHans && CustomerLanguage(tag: "EN") == .en)
        await rig.stop()
    }

    @Test("drain with a request at the bank: waits for the answer; the result and the end reach the owner before drain returns; new starts are refused")
    func drainWaitsForTheBank() async throws {
        let (rig, took) = try await Rig.drained(bankMilliseconds: 700, within: .seconds(10))
        #expect(took > .milliseconds(300), "drain returned after \(took), before the bank answered")
        #expect(rig.events(of: 1).contains { if case .result(state: "approved", _, _) = $0 { true } else { false } })
        let end = rig.heard.withLock { $0[1] ?? [] }.last
        guard case .ended(.completed, false)? = end else {
            Issue.record("the owner's last update was \(String(describing: end))")
            return
        }
        #expect(await rig.host.bank.ledger().filter { $0.effects == 1 }.count == 1)
        #expect(try await rig.host.journal.recent(limit: 5).map(\.state) == [.approved])
        await #expect(throws: ActivationService.StartRefusal.unavailable) { try await rig.start(2, requestId: 20) }
        await rig.stop()
    }

    @Test("drain past its limit: returns at the limit, the owner hears the end; the bank applied it at most once and the journal never calls it refused")
    func drainPastTheLimit() async throws {
        let (rig, took) = try await Rig.drained(bankMilliseconds: 1500, within: .milliseconds(200))
        #expect(took < .milliseconds(1200), "drain took \(took) with a 200 ms limit")
        let end = rig.heard.withLock { $0[1] ?? [] }.last
        guard case .ended? = end else {
            Issue.record("the owner's last update was \(String(describing: end))")
            return
        }
        await rig.stop()
        let applied = await rig.host.bank.ledger().filter { $0.effects == 1 }.count
        #expect(applied <= 1)
        let states = try await rig.host.journal.recent(limit: 5).map(\.state)
        #expect(states.count == 1)
        #expect(states.allSatisfy { [.pending, .unknown, .approved].contains($0) }, "\(states)")
        if applied == 0 { #expect(!states.contains(.approved)) }
    }
}
