import BankGateway
import BankSimulator
import BankSimulatorServer
import Foundation
import ISO8583Gateway
import TestSupport
import Testing

@Suite("iso8583 gateway: inquiry and reversal")
struct ReversalTests {
    @Test("inquiry: applied with its reference; no original on this terminal → unknown without a message (never notFound); sent but not applied → notFound (RC 25)")
    func inquiry() async throws {
        try await withGateway(responseMilliseconds: 2000) { harness, gateway in
            let applied = try request()
            guard case .approved(let reference) = await gateway.activate(applied) else { Issue.record("not approved"); return }
            #expect(await gateway.queryStatus(applied.key) == .applied(bankReference: reference))

            let inquiries = harness.server.counters.inquiries
            // Without its original the terminal cannot tell "never sent" from "state file lost": unknown.
            guard case .unknown(let detail) = await gateway.queryStatus(.random()) else { Issue.record("no original was not unknown"); return }
            #expect(detail.contains("no original"))
            #expect(harness.server.counters.inquiries == inquiries)

            await harness.bank.inject(.noAnswer)
            let lost = try request()
            guard case .unknown = await gateway.activate(lost) else { Issue.record("no answer was not unknown"); return }
            #expect(await gateway.queryStatus(lost.key) == .notFound)
        }
    }

    @Test("reversal with the original's identifiers: applied → reversed; not applied → RC 25 → notFound")
    func reversal() async throws {
        try await withGateway(responseMilliseconds: 2000) { harness, gateway in
            let applied = try request()
            guard case .approved = await gateway.activate(applied) else { Issue.record("not approved"); return }
            #expect(await gateway.reverse(applied.key, reason: .unknownOutcome) == .reversed)
            #expect(await harness.entry(applied.key)?.state == .reversed)
            #expect(await harness.entry(applied.key)?.effects == 1)

            await harness.bank.inject(.noAnswer)
            let lost = try request()
            _ = await gateway.activate(lost)
            #expect(await gateway.reverse(lost.key, reason: .timeout) == .notFound)
            // A key without an original here is not reversed over the wire, and not called absent either.
            let reversals = harness.server.counters.reversals
            guard case .unknown = await gateway.reverse(.random(), reason: .customerCancelled) else { Issue.record("no original was not unknown"); return }
            #expect(harness.server.counters.reversals == reversals)
        }
    }

    @Test("a reversal is repeated until the host answers")
    func repeatedUntilAnswered() async throws {
        try await withGateway(responseMilliseconds: 2000) { harness, gateway in
            #expect(await gateway.prepare() == .ready)
            await harness.bank.inject(.dropAfterApplying)
            let request = try request()
            guard case .unknown = await gateway.activate(request) else { Issue.record("drop was not unknown"); return }
            await harness.bank.inject(.noAnswer)
            await harness.bank.inject(.noAnswer)
            let before = harness.server.counters.reversals
            #expect(await gateway.reverse(request.key, reason: .unknownOutcome) == .reversed)
            #expect(harness.server.counters.reversals - before == 3)
            #expect(await harness.entry(request.key)?.state == .reversed)

            // Never answered within the attempts: unknown (the resolver tries again later), never "reversed".
            let other = try TestSupport.request()
            guard case .approved = await gateway.activate(other) else { Issue.record("not approved"); return }
            for _ in 0..<4 { await harness.bank.inject(.noAnswer) }
            guard case .unknown = await gateway.reverse(other.key, reason: .unknownOutcome) else { Issue.record("unanswered reversal not unknown"); return }
            #expect(await harness.entry(other.key)?.state == .applied)
        }
    }

    @Test("after a restart the gateway still finds the original to ask about and to reverse")
    func afterRestart() async throws {
        let harness = try await Harness.start()
        let first = try harness.gateway()
        let request = try request()
        guard case .approved(let reference) = await first.activate(request) else { Issue.record("not approved"); return }
        await first.shutdown()
        let second = try harness.gateway()
        #expect(await second.queryStatus(request.key) == .applied(bankReference: reference))
        #expect(await second.reverse(request.key, reason: .unknownOutcome) == .reversed)
        await second.shutdown()
        await harness.stop()
    }
}
