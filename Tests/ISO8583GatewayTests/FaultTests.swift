import BankGateway
import BankSimulator
import BankSimulatorServer
import Foundation
import ISO8583Gateway
import TestSupport
import Testing

@Suite("iso8583 gateway: every bank fault on the wire ends in the right outcome")
struct FaultTests {
    enum Expect: Sendable { case approved, unknown, unavailable }

    static let cases: [(BankFault, Expect)] = [
        (.delay, .approved), (.noAnswer, .unknown), (.answerAfterTimeout, .unknown), (.dropAfterApplying, .unknown),
        (.duplicateAnswer, .approved), (.malformedBody, .unknown), (.badSignature, .approved), (.unsignedAnswer, .approved),
        (.serverError, .unavailable), (.connectionReset, .unknown), (.wrongSTAN, .unknown), (.partialLengthPrefix, .unknown),
        (.resetMidFrame, .unknown), (.resignOnRequired, .approved),
    ]

    @Test("every fault kind is covered") func covered() {
        #expect(Set(Self.cases.map(\.0)) == Set(BankFault.allCases))
    }

    @Test("fault → outcome; at most one effect; the next activation on the same gateway is answered correctly", arguments: Self.cases)
    func fault(_ fault: BankFault, expected: Expect) async throws {
        try await withGateway(responseMilliseconds: 2000) { harness, gateway in
            #expect(await gateway.prepare() == .ready)
            await harness.bank.inject(fault)
            let request = try request()
            let outcome = await gateway.activate(request)
            switch (expected, outcome) {
            case (.approved, .approved), (.unknown, .unknown), (.unavailable, .unavailable): break
            default: Issue.record("\(fault): expected \(expected), got \(outcome)")
            }
            #expect((await harness.entry(request.key)?.effects ?? 0) <= 1)
            // The connection recovers and no stray reply answers the next request.
            let next = try TestSupport.request()
            let answer = await gateway.activate(next)
            let entry = try #require(await harness.entry(next.key), "\(fault): next request never reached the bank")
            #expect(answer == .approved(bankReference: entry.bankReference ?? "-"), "\(fault): next answer \(answer)")
            #expect(entry.effects == 1)
        }
    }

    @Test("a late answer is consumed, reported with its key, and never taken for the next request's; inquiry uses it")
    func lateAnswer() async throws {
        try await withGateway(responseMilliseconds: 2000) { harness, gateway in
            let reports = Task { () -> LateReply? in
                for await reply in gateway.lateReplies { return reply }
                return nil
            }
            await harness.bank.inject(.answerAfterTimeout)  // answered 2.5 s later, after our 0.8 s
            let late = try request()
            guard case .unknown = await gateway.activate(late) else { Issue.record("late answer not unknown"); return }
            // The next request is sent while the late answer is still on its way.
            let next = try request()
            let answer = await gateway.activate(next)
            let nextEntry = try #require(await harness.entry(next.key))
            #expect(answer == .approved(bankReference: nextEntry.bankReference ?? "-"))
            let report = try #require(await value(of: reports, timeout: .seconds(5)))
            #expect(report.key == late.key.value)
            #expect(report.responseCode == "00")
            let lateEntry = try #require(await harness.entry(late.key))
            #expect(report.bankReference == lateEntry.bankReference)
            // The inquiry answers from the consumed late reply.
            #expect(await gateway.queryStatus(late.key) == .applied(bankReference: lateEntry.bankReference ?? "-"))
        }
    }

    @Test("a duplicate answer is reported as a stray, not delivered twice")
    func duplicateAnswerReported() async throws {
        try await withGateway { harness, gateway in
            let reports = Task { () -> LateReply? in
                for await reply in gateway.lateReplies { return reply }
                return nil
            }
            await harness.bank.inject(.duplicateAnswer)
            let request = try request()
            guard case .approved = await gateway.activate(request) else { Issue.record("not approved"); return }
            let report = try #require(await value(of: reports, timeout: .seconds(5)))
            #expect(report.key == request.key.value && report.responseCode == "00")
        }
    }

    @Test("a reply to the wrong STAN is reported and the request it did not answer ends unknown")
    func wrongSTAN() async throws {
        try await withGateway(responseMilliseconds: 2000) { harness, gateway in
            let reports = Task { () -> LateReply? in
                for await reply in gateway.lateReplies { return reply }
                return nil
            }
            #expect(await gateway.prepare() == .ready)
            await harness.bank.inject(.wrongSTAN)
            let request = try request()
            guard case .unknown = await gateway.activate(request) else { Issue.record("wrong-STAN reply accepted"); return }
            let original = try #require(gateway.state.original(for: request.key.value))
            let report = try #require(await value(of: reports, timeout: .seconds(5)))
            #expect(report.stan == String(format: "%06d", Int(original.stan)! + 1))
        }
    }
}

/// The value of `task`, or `nil` after `timeout` (the task is cancelled then: a stream loop ends).
func value<T: Sendable>(of task: Task<T?, Never>, timeout: Duration) async -> T? {
    let timer = Task {
        try? await Task.sleep(for: timeout)
        task.cancel()
    }
    defer { timer.cancel() }
    return await task.value
}

@Suite("iso8583 gateway: money-grade under random faults")
struct ExactlyOnceTests {
    @Test("120 activations, a third of the answers lost after applying: each resolved by inquiry or reversal, none applied twice")
    func exactlyOnce() async throws {
        try await withGateway(responseMilliseconds: 2000) { harness, gateway in
            await harness.bank.setFaults({
                var plan = FaultPlan(seed: 7)
                plan.rate = (.dropAfterApplying, 0.33)
                return plan
            }())
            var approved = 0
            var unknown = 0
            var reversed = 0
            for _ in 0..<120 {
                let request = try request()
                switch await gateway.activate(request) {
                case .approved: approved += 1
                case .unknown:
                    unknown += 1
                    // The resolver's two paths: ask (confirm what was applied), or reverse without asking.
                    if unknown.isMultiple(of: 2), case .applied = await gateway.queryStatus(request.key) {
                        approved += 1
                    } else if await gateway.reverse(request.key, reason: .unknownOutcome) == .reversed {
                        reversed += 1
                    }
                default: Issue.record("unexpected outcome")
                }
            }
            let ledger = await harness.bank.ledger()
            print("iso8583 exactly-once: 120 activations, \(unknown) unknown first, \(approved) approved, \(reversed) reversed; ledger \(ledger.count) keys, max effects \(ledger.map(\.effects).max() ?? 0)")
            #expect(ledger.count == 120)
            #expect(ledger.allSatisfy { $0.effects == 1 })
            #expect(unknown > 20 && reversed > 5)
            #expect(approved + reversed == 120)
            #expect(ledger.filter { $0.state == .applied }.count == approved)
            #expect(ledger.filter { $0.state == .reversed }.count == reversed)
        }
    }
}
