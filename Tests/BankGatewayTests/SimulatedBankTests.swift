import BankGateway
import BankSimulator
import TestSupport
import Testing

@Suite struct SimulatedBankTests {
    func gateway(_ fixture: SimulatedBank.Fixture = .init(), responseMilliseconds: Int = 300) throws -> SimulatorGateway {
        try SimulatorGateway(profile: SimulatorGateway.profile(responseMilliseconds: responseMilliseconds), bank: SimulatedBank(fixture: fixture))
    }

    @Test func approvesAndAnswersDuplicatesFromTheLedger() async throws {
        let gateway = try self.gateway()
        let r = try request()
        guard case .approved(let reference) = await gateway.activate(r) else { Issue.record("approved"); return }
        #expect(reference.hasPrefix("SIM"))
        #expect(await gateway.activate(r) == .approved(bankReference: reference))
        let ledger = await gateway.bank.ledger()
        #expect(ledger.count == 1 && ledger[0].effects == 1 && ledger[0].requests == 2)
        #expect(ledger[0].maskedPAN == "card 622823*********5274")
        #expect(await gateway.queryStatus(r.key) == .applied(bankReference: reference))
    }

    @Test func sameKeyDifferentRequestIsRefused() async throws {
        let gateway = try self.gateway()
        let key = IdempotencyKey.random()
        _ = await gateway.activate(try request(key: key))
        guard case .unknown(let detail) = await gateway.activate(try request(pan: "6217000010002345678", key: key)) else {
            Issue.record("422 must not look like a decline"); return
        }
        #expect(detail.contains("422"))
        #expect(await gateway.bank.ledger().map(\.effects) == [1])
    }

    @Test func inFlightDuplicateIsRefusedWhileProcessing() async throws {
        var fixture = SimulatedBank.Fixture()
        fixture.processingMilliseconds = 200
        let gateway = try self.gateway(fixture, responseMilliseconds: 1000)
        let r = try request()
        async let first = gateway.activate(r)
        try await Task.sleep(for: .milliseconds(50))
        let second = await gateway.activate(r)
        guard case .unknown(let detail) = second, detail.contains("409") else { Issue.record("409 while in flight: \(second)"); return }
        if case .approved = await first {} else { Issue.record("the first is approved") }
        #expect(await gateway.bank.ledger().map(\.effects) == [1])
    }

    @Test func outcomesFromFixtureRules() async throws {
        var fixture = SimulatedBank.Fixture()
        fixture.rules = [
            .init(pan: "6228230029000005274", idNumber: nil, code: "41", triesLeft: nil),
            .init(pan: nil, idNumber: "11010819750612008X", code: "N1", triesLeft: nil),
            .init(pan: "6217000010002345678", idNumber: nil, code: "55", triesLeft: 2),
            .init(pan: "6230580000123456789", idNumber: nil, code: "A1", triesLeft: nil),
            .init(pan: "6214830100001111", idNumber: nil, code: "96", triesLeft: nil),
        ]
        let gateway = try self.gateway(fixture)
        #expect(await gateway.activate(try request()) == .declined(.lostStolenOrFrozen, bankCode: "41"))
        #expect(await gateway.activate(try request(pan: "6228480402564890018", id: "11010819750612008X")) == .declined(.notEnabledByBureau, bankCode: "N1"))
        #expect(await gateway.activate(try request(pan: "6217000010002345678")) == .pinError(triesLeft: 2, bankCode: "55"))
        #expect(await gateway.activate(try request(pan: "6230580000123456789")) == .declined(.alreadyActivated, bankCode: "A1"))
        #expect(await gateway.activate(try request(pan: "6214830100001111")) == .unavailable(detail: "bank code 96"))
        #expect(await gateway.bank.ledger().allSatisfy { $0.effects == 0 })
        #expect(await gateway.verifyCardholder(card: CardReference(pan: "6228230029000005274"), cardholder: Cardholder(idNumber: "x", name: "y"), key: .random())
            == .mismatch(.lostStolenOrFrozen, bankCode: "41"))
    }

    @Test(arguments: [
        ("19810101", DeclineReason.WeakPIN.birthday), ("810101", .birthday), ("011117", .idDigits), ("888888", .repeatedDigits),
        ("123456", .sequentialDigits), ("654321", .sequentialDigits),
    ])
    func weakPINsAreRefusedByOpeningTheBlock(_ pin: String, _ kind: DeclineReason.WeakPIN) async throws {
        let gateway = try self.gateway()
        let outcome = await gateway.activate(try request(pin: pin))
        guard case .declined(.weakPIN(let found), _) = outcome else { Issue.record("\(pin): \(outcome)"); return }
        #expect(found == kind)
    }

    @Test("a PIN block that does not open under the PIN key (another key, another card) is a PIN error, not an approval")
    func blockUnderAnotherKeyIsAPINError() async throws {
        let gateway = try self.gateway()
        var wrongKey = try request()
        wrongKey.pinBlock = EncryptedPINBlock(format: .iso0TripleDES, keyName: "PIK-OTHER", bytes: wrongKey.pinBlock.bytes.map { $0 ^ 0x5A })
        #expect(await gateway.activate(wrongKey) == .pinError(triesLeft: nil, bankCode: "55"))
        var otherCard = try request(pan: "6217000010002345678")
        otherCard.pinBlock = try request().pinBlock  // bound to 6228230029000005274
        #expect(await gateway.activate(otherCard) == .pinError(triesLeft: nil, bankCode: "55"))
        #expect(await gateway.bank.ledger().allSatisfy { $0.effects == 0 })
    }

    @Test func queryAndReversal() async throws {
        let gateway = try self.gateway()
        let r = try request()
        #expect(await gateway.queryStatus(r.key) == .notFound)
        #expect(await gateway.reverse(r.key, reason: .timeout) == .notFound)
        _ = await gateway.activate(r)
        #expect(await gateway.reverse(r.key, reason: .unknownOutcome) == .reversed)
        #expect(await gateway.queryStatus(r.key) == .notFound)
        // A repeated reversal (the first answer lost) gets the first one's answer; still one effect.
        #expect(await gateway.reverse(r.key, reason: .unknownOutcome) == .reversed)
        #expect(await gateway.bank.ledger().first?.effects == 1)
    }

    @Test(arguments: [
        (BankFault.serverError, false, 0), (.noAnswer, false, 0), (.connectionReset, false, 0), (.dropAfterApplying, false, 1),
        (.answerAfterTimeout, false, 1), (.malformedBody, false, 1), (.badSignature, false, 1), (.unsignedAnswer, false, 1), (.delay, true, 1),
        (.duplicateAnswer, true, 1),
    ])
    func everyFaultEndsInTheRightOutcome(_ fault: BankFault, _ final: Bool, _ effects: Int) async throws {
        let gateway = try self.gateway(responseMilliseconds: 150)
        await gateway.bank.inject(fault)
        let r = try request()
        let outcome = await gateway.activate(r)
        #expect(outcome.isFinal == final, "\(fault): \(outcome)")
        if fault == .serverError {
            guard case .unavailable = outcome else { Issue.record("5xx before applying is unavailable"); return }
        } else if !final {
            guard case .unknown = outcome else { Issue.record("\(fault) after sending is unknown, never declined"); return }
        }
        #expect(await gateway.bank.ledger().reduce(0) { $0 + $1.effects } == effects)
        // Resolution: the inquiry tells what happened, and a retry with the same key never applies twice.
        let status = await gateway.queryStatus(r.key)
        #expect((status == .notFound) == (effects == 0))
        if case .approved = await gateway.activate(r) {} else { Issue.record("the retry with the same key is approved") }
        #expect(await gateway.bank.ledger().reduce(0) { $0 + $1.effects } == 1)
    }

    @Test func randomFaultsNeverApplyTwice() async throws {
        let gateway = try self.gateway(responseMilliseconds: 20)
        var plan = FaultPlan(seed: 7)
        plan.rate = (.dropAfterApplying, 0.3)
        await gateway.bank.setFaults(plan)
        var unknown = 0
        for _ in 0..<200 {
            let r = try request()
            var outcome = await gateway.activate(r)
            while !outcome.isFinal {
                unknown += 1
                outcome = await gateway.activate(r)
            }
            guard case .approved = outcome else { Issue.record("\(outcome)"); return }
        }
        let ledger = await gateway.bank.ledger()
        #expect(ledger.count == 200)
        #expect(ledger.allSatisfy { $0.effects == 1 })
        #expect(unknown > 30 && unknown < 120, "about 30 % of first attempts hit the fault: \(unknown)")
    }
}
