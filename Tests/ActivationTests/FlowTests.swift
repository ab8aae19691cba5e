import Activation
import ActivationSimulators
import BankGateway
import BankSimulator
import Foundation
import Identity
import Journal
import Messages
import ResidentIDCard
import SocialSecurityCard
import TestSupport
import Testing

@Suite("activation flow: the state machine with the mock reader, virtual cards and the simulated PIN pad")
struct FlowTests {
    @Test("the whole flow: cards, checks, masked details, PIN twice as dots, the bank once, result, take cards")
    func happyPath() async throws {
        let harness = try FlowHarness()
        try await harness.present()
        #expect(await harness.waitForStage(.confirming))
        let details = try #require(harness.events.compactMap { if case .details(let d) = $0 { d } else { nil } }.first)
        #expect(details.name == Masking.name("张三") && details.idNumber == "440***********1117")
        #expect(!details.bankCardNumber.contains("0029000005"))
        await harness.flow.send(.confirm)
        #expect(await harness.waitForStage(.enteringPIN))
        await harness.type("802461")
        #expect(await harness.waitForStage(.confirmingPIN))
        await harness.type("802461")
        #expect(await harness.waitForStage(.takeCards))
        let result = harness.events.compactMap { if case .result(let state, let message, _) = $0 { (state, message.key) } else { nil } }
        #expect(result.first?.0 == "approved" && result.first?.1 == "bank.approved")
        let progress = harness.events.compactMap { if case .pinProgress(let n) = $0 { n } else { nil } }
        #expect(progress == [1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6])
        await harness.takeCards()
        #expect(await harness.waitForEnd() == .completed)
        let ledger = await harness.bank.ledger()
        #expect(ledger.count == 1 && ledger[0].effects == 1)
        #expect(try await harness.journal.recent().first?.state == .approved)
        // Nothing the screen got carries the PIN, the full PAN or the full ID number.
        let everything = harness.events.map { "\($0)" }.joined(separator: "\n")
        #expect(!everything.contains("802461") && !everything.contains("440303198101011117"))
        // Every transition is in the audit trail, under the flow's id.
        let audited = try await harness.journal.audit().filter {
            $0.event == "flow" && $0.detail.hasPrefix(harness.flow.id) && ($0.detail.contains(" stage ") || $0.detail.contains(" ended "))
        }
        #expect(audited.count == 9 && audited.contains { $0.detail.contains("ended completed") })
        let stages = harness.events.compactMap { if case .stage(let stage, _) = $0 { stage } else { nil } }
        #expect(stages == [.waitingForCards, .reading, .confirming, .enteringPIN, .confirmingPIN, .processing, .result, .takeCards])
    }

    @Test("an outcome the bank has not confirmed (unknown, or manual for a bank with neither inquiry nor reversal) ends pending, with the reference, never refused")
    func pendingEnds() async throws {
        let silent = try FlowHarness(gateway: { ScriptedGateway(inner: $0, inquiry: .unknown(detail: "no answer"), reversal: .unknown(detail: "no answer")) })
        let neither = GatewayCapabilities(supportsVerify: false, supportsQuery: false, supportsReversal: false, pinBlockFormat: .iso0TripleDES, macAlgorithm: nil)
        let manual = try FlowHarness(gateway: { LimitedGateway(inner: $0, capabilities: neither) })
        await manual.bank.inject(.dropAfterApplying)
        for (harness, state) in [(silent, "unknown"), (manual, "manual")] {
            try await harness.present()
            #expect(await harness.waitForStage(.confirming))
            await harness.flow.send(.confirm)
            #expect(await harness.waitForStage(.enteringPIN))
            await harness.type("802461")
            #expect(await harness.waitForStage(.confirmingPIN))
            await harness.type("802461")
            #expect(await harness.waitForStage(.takeCards), "\(state)")
            let key = try #require(try await harness.journal.recent().first?.key)
            #expect(try await harness.journal.recent().first?.state.rawValue == state)
            let result = harness.events.compactMap { if case .result(let state, let message, _) = $0 { (state, message) } else { nil } }.first
            #expect(result?.0 == state && result?.1.key == "bank.pending", "\(state): \(String(describing: result))")
            #expect(result?.1.arguments["reference"] == key && result?.1.zhHans.contains(key) == true && result?.1.en.contains(key) == true)
            await harness.takeCards()
            #expect(await harness.waitForEnd() == .pending, "\(state)")
            #expect(FlowEnd.pending.customerMessage.key == "flow.pending" && FlowEnd.pending.customerMessage.zhHans.contains("请勿重复办理"))
        }
    }

    @Test("either card may come first")
    func socialSecurityCardFirst() async throws {
        let harness = try FlowHarness()
        await harness.flow.start()
        await harness.flow.send(.cardInserted)
        await harness.flow.send(.cardRead(try await FlowHarness.reading("v2-common")))
        await harness.flow.send(.idCardRead(try FlowHarness.idCard("resident-common")))
        #expect(await harness.waitForStage(.confirming))
    }

    @Test("check refusals end the flow before the bank: different person, expired ID, expired or locked card, no bank application, verifier says no")
    func refusals() async throws {
        var expiredID = try await FlowHarness.reading("v2-common")
        expiredID.identity?.socialSecurityNumber = try PersonalIDNumber("450102196511110519")
        expiredID.identity?.name = "韦国强"
        let cases: [(String, String, SocialSecurityCardReading?, String)] = [
            ("resident-common", "v2-t0-x", nil, "check.differentPerson"),
            ("resident-expired", "v2-common", expiredID, "check.idCardExpired"),
            ("resident-common", "expired", nil, "check.sscExpired"),
            ("resident-common", "no-bank", nil, "check.noBankApplication"),
        ]
        for (id, card, reading, key) in cases {
            let harness = try FlowHarness()
            await harness.flow.start()
            await harness.flow.send(.idCardRead(try FlowHarness.idCard(id)))
            await harness.flow.send(.cardInserted)
            let read: SocialSecurityCardReading
            if let reading { read = reading } else { read = try await FlowHarness.reading(card) }
            await harness.flow.send(.cardRead(read))
            #expect(await harness.waitForStage(.takeCards))  // cards still in: take-cards stage first
            #expect(harness.events.contains { $0.notice == key }, "\(key): \(harness.events)")
            await harness.takeCards()
            #expect(await harness.waitForEnd() == .refused)
            #expect(await harness.bank.ledger().isEmpty)
            #expect(try await harness.journal.recent().isEmpty)
        }
        // A locked card fails while it is read: the reader's typed error reaches the screen.
        let locked = try FlowHarness()
        await locked.flow.start()
        await locked.flow.send(.cardInserted)
        do {
            _ = try await FlowHarness.reading("card-locked")
            Issue.record("the locked card was read")
        } catch let error as CardReadError {
            await locked.flow.send(.cardReadFailed(error))
        }
        #expect(await locked.waitFor { $0.contains { $0.notice == "card.ssc.cardLocked" || $0.notice?.hasPrefix("card.") == true } })
        // The verifier's no.
        let rejected = try FlowHarness(verifier: SimulatedIdentityVerifier(answer: .rejected("face does not match")))
        try await rejected.present()
        #expect(await rejected.waitFor { $0.contains { $0.notice == "check.identityNotVerified" } })
    }

    /// Social security cards issued to foreign permanent residents and to Hong Kong, Macao and Taiwan residents:
    /// the card's number is the document's, and the names are compared by the document's rules.
    @Test("foreign permanent residents (2017, 2023) and HK/Macao/Taiwan residents activate with their own document", arguments: [
        ("hmt-permit", "hmt-permit", "hmtResidencePermit", 5),
        ("foreign-2017", "foreign-2017", "foreignPermanentResident2017", 5),
        ("foreign-2023", "foreign-2023", "foreignPermanentResident2023", 5),
        ("foreign-2017-english", "foreign-2017-english", "foreignPermanentResident2017", 5),
        ("resident-common", "v2-common", "residentIDCard", 0),
    ])
    func otherDocumentsActivate(_ id: String, _ card: String, _ type: String, _ idType: Int) async throws {
        let harness = try FlowHarness()
        try await harness.present(id: id, card: card)
        #expect(await harness.waitForStage(.confirming), "\(id): \(harness.events)")
        let details = try #require(harness.events.compactMap { if case .details(let d) = $0 { d } else { nil } }.first)
        #expect(details.documentType == type && details.document.key == "document.\(type)")
        #expect(!details.document.zhHans.isEmpty && !details.document.en.isEmpty)
        let document = try FlowHarness.idCard(id)
        #expect(details.idNumber == Masking.citizenID(document.idNumber) && !details.idNumber.contains(document.idNumber.dropFirst(3).prefix(8)))
        await harness.flow.send(.confirm)
        await harness.type("802461")
        await harness.type("802461")
        #expect(await harness.waitForStage(.takeCards))
        let ledger = await harness.bank.ledger()
        #expect(ledger.count == 1 && ledger.first?.effects == 1)
        #expect(ledger.first?.maskedHolderID == Masking.citizenID(document.idNumber) && ledger.first?.holderIDType == idType)
        #expect(harness.events.contains { if case .result("approved", _, _) = $0 { true } else { false } })
    }

    @Test("a foreign card whose name cannot be compared goes to staff with its own message; a different person is refused")
    func otherDocumentsRefused() async throws {
        // The bank application's holder name is the English name cut at 26 characters: staff compare.
        let cut = try FlowHarness()
        try await cut.present(id: "foreign-2023-english", card: "foreign-2023-english")
        #expect(await cut.waitFor { $0.contains { $0.notice == "check.documentNeedsStaff" } }, "\(cut.events)")
        // No holder name at all on the bank application: staff compare.
        var bare = try await FlowHarness.reading("foreign-2017-english")
        bare.bank?.holderName = nil
        let none = try FlowHarness()
        await none.flow.start()
        await none.flow.send(.idCardRead(try FlowHarness.idCard("foreign-2017-english")))
        await none.flow.send(.cardInserted)
        await none.flow.send(.cardRead(bare))
        #expect(await none.waitFor { $0.contains { $0.notice == "check.documentNeedsStaff" } }, "\(none.events)")
        // Another English name on the bank application: a name mismatch.
        var other = try await FlowHarness.reading("foreign-2017-english")
        other.bank?.holderName = "SMITH/JANE"
        let mismatch = try FlowHarness()
        await mismatch.flow.start()
        await mismatch.flow.send(.idCardRead(try FlowHarness.idCard("foreign-2017-english")))
        await mismatch.flow.send(.cardInserted)
        await mismatch.flow.send(.cardRead(other))
        #expect(await mismatch.waitFor { $0.contains { $0.notice == "check.nameMismatch" } }, "\(mismatch.events)")
        // A foreign card with a resident's social security card: different person.
        let different = try FlowHarness()
        try await different.present(id: "foreign-2017", card: "v2-common")
        #expect(await different.waitFor { $0.contains { $0.notice == "check.differentPerson" } })
        // An HK permit's Chinese name against another name on the card: name mismatch.
        var renamed = try await FlowHarness.reading("hmt-permit")
        renamed.identity?.name = "陈小文"
        let hmt = try FlowHarness()
        await hmt.flow.start()
        await hmt.flow.send(.idCardRead(try FlowHarness.idCard("hmt-permit")))
        await hmt.flow.send(.cardInserted)
        await hmt.flow.send(.cardRead(renamed))
        #expect(await hmt.waitFor { $0.contains { $0.notice == "check.nameMismatch" } })
        for harness in [cut, none, mismatch, different, hmt] { #expect(await harness.bank.ledger().isEmpty) }
    }

    @Test("English names: case, spacing and separators normalised; a cut-short bank name goes to staff")
    func englishNames() {
        #expect(IdentityChecks.compareEnglishNames(document: "SMITH, JOHN PETER", bank: "smith/john  peter") == .same)
        #expect(IdentityChecks.compareEnglishNames(document: "Maria  Schmidt", bank: "MARIA SCHMIDT") == .same)
        #expect(IdentityChecks.compareEnglishNames(document: "SMITH, JOHN", bank: "JOHN/SMITH") == .different)
        #expect(IdentityChecks.compareEnglishNames(document: "SMITH, JOHN", bank: "SMITH/JANE") == .different)
        #expect(IdentityChecks.compareEnglishNames(document: "JONATHAN CHRISTOPHER EDWARD WILLIA ALEXANDER", bank: "JONATHAN CHRISTOPHER EDWAR") == .needsStaff)
        #expect(IdentityChecks.compareEnglishNames(document: "SMITH, JOHN PETER", bank: "SMITH") == .different)
        #expect(IdentityChecks.sameCitizenID("usa310080101001", "USA310080101001 "))
    }

    @Test("a rare character the card cannot hold goes to staff, never passes silently")
    func rareCharacter() async throws {
        var reading = try await FlowHarness.reading("v2-common")
        reading.identity?.socialSecurityNumber = try PersonalIDNumber("440304199003070026")
        reading.identity?.name = "王吉"  // the issuer's GBK substitute
        reading.bank?.holderID = "440304199003070026"
        let harness = try FlowHarness()
        await harness.flow.start()
        await harness.flow.send(.idCardRead(try FlowHarness.idCard("resident-rare")))
        await harness.flow.send(.cardInserted)
        await harness.flow.send(.cardRead(reading))
        #expect(await harness.waitFor { $0.contains { $0.notice == "check.rareCharacter" } })
        #expect(await harness.bank.ledger().isEmpty)
        #expect(IdentityChecks.compareNames(idCard: "王𠮷", card: "王𠮷") == .same)
        #expect(IdentityChecks.compareNames(idCard: "王𠮷", card: "李吉") == .different)
        #expect(IdentityChecks.sameCitizenID("11010819750612008x", "11010819750612008X"))
    }

    @Test("cancel from the screen or the PIN pad at every stage before the bank: nothing sent")
    func cancel() async throws {
        for stage in [FlowStage.waitingForCards, .confirming, .enteringPIN, .confirmingPIN] {
            let harness = try FlowHarness()
            if stage == .waitingForCards {
                await harness.flow.start()
                await harness.flow.send(.idCardRead(try FlowHarness.idCard("resident-common")))
            } else {
                try await harness.present()
                #expect(await harness.waitForStage(.confirming))
            }
            if stage == .enteringPIN || stage == .confirmingPIN {
                await harness.flow.send(.confirm)
                if stage == .confirmingPIN {
                    await harness.type("802461")
                    #expect(await harness.waitForStage(.confirmingPIN))
                }
                await harness.type("")  // wait for the pad
                harness.pad.press(.cancel)
            } else {
                await harness.flow.send(.cancel)
            }
            if stage != .waitingForCards {  // only the ID card was on the reader: nothing to take back
                #expect(await harness.waitForStage(.takeCards))
            }
            await harness.takeCards()
            #expect(await harness.waitForEnd() == .cancelled, "\(stage)")
            #expect(await harness.bank.ledger().isEmpty, "\(stage)")
            #expect(!harness.pad.isEntering)
        }
    }

    @Test("a cancel during the bank call is too late: the bank's answer is journaled and shown")
    func cancelDuringProcessing() async throws {
        var fixture = SimulatedBank.Fixture()
        fixture.processingMilliseconds = 400
        let harness = try FlowHarness(fixture: fixture)
        try await harness.present()
        #expect(await harness.waitForStage(.confirming))
        await harness.flow.send(.confirm)
        await harness.type("802461")
        await harness.type("802461")
        #expect(await harness.waitForStage(.processing))
        await harness.flow.send(.cancel)
        await harness.flow.send(.cardRemoved)  // and the card pulled out
        #expect(await harness.waitForEnd() == .completed)
        #expect(harness.events.contains { if case .result("approved", _, _) = $0 { true } else { false } })
    }

    @Test("a card taken out, a reader or ID-module failure before the bank call: ended, nothing sent")
    func removalAndFaults() async throws {
        let inputs: [(FlowInput, FlowEnd)] = [
            (.cardRemoved, .cardRemoved), (.readerFailed("pcscd stopped answering"), .deviceFailed),
            (.idModuleFailed("no answer"), .deviceFailed),
        ]
        for (input, expected) in inputs {
            for atPIN in [false, true] {
                let harness = try FlowHarness()
                try await harness.present()
                #expect(await harness.waitForStage(.confirming))
                if atPIN {
                    await harness.flow.send(.confirm)
                    #expect(await harness.waitForStage(.enteringPIN))
                    harness.pad.press(.digit(1))
                }
                await harness.flow.send(input)
                await harness.takeCards()
                #expect(await harness.waitForEnd() == expected, "\(input) at PIN \(atPIN)")
                #expect(await harness.bank.ledger().isEmpty)
                #expect(!harness.pad.isEntering)
                #expect(try await harness.journal.recent().isEmpty)
            }
        }
    }

    @Test("an ID card that could not be read asks for it again and keeps waiting; the next read goes on")
    func idCardReadFailureAsksAgain() async throws {
        let harness = try FlowHarness()
        await harness.flow.start()
        await harness.flow.send(.cardInserted)
        await harness.flow.send(.cardRead(try await FlowHarness.reading("v2-common")))
        await harness.flow.send(.idCardReadFailed(IDModuleError(.malformedFrame, detail: "read text and photo: CHK 1, expected 2")))
        #expect(await harness.waitFor { $0.contains { $0.notice == "idcard.readFailed" } })
        #expect(await harness.flow.currentStage != .ended && harness.events.allSatisfy { if case .ended = $0 { false } else { true } })
        await harness.flow.send(.idCardRead(try FlowHarness.idCard("resident-common")))
        #expect(await harness.waitForStage(.confirming))
        // Once the ID card is read, a later failed read (the module re-finding it) changes nothing.
        await harness.flow.send(.idCardReadFailed(IDModuleError(.moduleStatus(.readFailed), detail: "read")))
        await harness.flow.send(.confirm)
        await harness.type("802461")
        await harness.type("802461")
        #expect(await harness.waitForStage(.takeCards))
        #expect(await harness.bank.ledger().count == 1)
    }

    @Test("an ID card no longer found after it was read does not end the flow (modules stop finding a read card)")
    func idCardLeftIsNotRemoval() async throws {
        let harness = try FlowHarness()
        await harness.flow.start()
        await harness.flow.send(.idCardRead(try FlowHarness.idCard("resident-common")))
        await harness.flow.send(.idCardLeft)  // before the social security card arrives
        await harness.flow.send(.cardInserted)
        await harness.flow.send(.cardRead(try await FlowHarness.reading("v2-common")))
        #expect(await harness.waitForStage(.confirming))
        await harness.flow.send(.confirm)
        await harness.flow.send(.idCardLeft)  // and during PIN entry
        await harness.type("802461")
        await harness.type("802461")
        #expect(await harness.waitForStage(.takeCards))
        await harness.flow.send(.cardRemoved)
        #expect(await harness.waitForEnd() == .completed)
        #expect(await harness.bank.ledger().count == 1)
    }

    @Test("a stage times out after a warning; asking for more time once extends it (on a manual clock)")
    func timeouts() async throws {
        let short = FlowTimeouts(cards: .seconds(30), confirm: .milliseconds(800), pinEntry: .seconds(30), takeCards: .milliseconds(600), warning: .milliseconds(300), extensionTime: .milliseconds(900))
        func warnings(_ events: [FlowEvent]) -> Int { events.filter { if case .timeoutWarning(.confirming, _) = $0 { true } else { false } }.count }
        let clock = ManualClock()
        let harness = try FlowHarness(timeouts: short, clock: clock)
        try await harness.present()
        #expect(await harness.waitForStage(.confirming))
        clock.advance(by: .milliseconds(499))  // the warning is due at 500 ms (800 − 300)
        #expect(warnings(harness.events) == 0)
        clock.advance(by: .milliseconds(1))
        #expect(await harness.waitFor { warnings($0) == 1 })
        #expect(await harness.flow.currentStage == .confirming)
        clock.advance(by: .milliseconds(300))
        #expect(await harness.waitForStage(.takeCards))  // timed out; the cards are still in
        #expect(await harness.flow.end == .timedOut)
        clock.advance(by: .milliseconds(600))  // nobody took the cards either: take-cards expires too
        #expect(await harness.waitForEnd() == .timedOut)
        #expect(await harness.bank.ledger().isEmpty)

        let extendedClock = ManualClock()
        let extended = try FlowHarness(timeouts: short, clock: extendedClock)
        try await extended.present()
        #expect(await extended.waitForStage(.confirming))
        extendedClock.advance(by: .milliseconds(500))
        #expect(await extended.waitFor { warnings($0) == 1 })
        await extended.flow.send(.moreTime)  // 900 ms from 500: a new warning at 1,100, the end at 1,400
        extendedClock.advance(by: .milliseconds(600))  // past the first deadline (800): it no longer counts
        #expect(await extended.waitFor { warnings($0) == 2 })
        #expect(await extended.flow.currentStage == .confirming)
        #expect(!extended.events.contains { if case .stage(.takeCards, _) = $0 { true } else { false } })
        await extended.flow.send(.moreTime)  // once per stage: this one is ignored
        extendedClock.advance(by: .milliseconds(300))
        #expect(await extended.waitForStage(.takeCards))
        extendedClock.advance(by: .milliseconds(600))
        #expect(await extended.waitForEnd() == .timedOut)
    }

    @Test("PINs that differ, and a weak PIN the bank refuses, go back to PIN entry; then the activation goes through once")
    func pinRetries() async throws {
        let harness = try FlowHarness()
        try await harness.present()
        #expect(await harness.waitForStage(.confirming))
        await harness.flow.send(.confirm)
        await harness.type("802461")
        await harness.type("802462")
        #expect(await harness.waitFor { $0.contains { $0.notice == "flow.pinMismatch" } })
        await harness.type("111111")
        await harness.type("111111")
        #expect(await harness.waitFor { $0.contains { $0.notice == "bank.declined.weakPIN" } })
        await harness.type("802461")
        await harness.type("802461")
        #expect(await harness.waitForStage(.takeCards))
        let ledger = await harness.bank.ledger()
        #expect(ledger.filter { $0.effects == 1 }.count == 1)
        #expect(try await harness.journal.recent().map(\.state).sorted { $0.rawValue < $1.rawValue } == [.approved, .declined])
    }

    @Test("a card with an unresolved activation is refused until the resolver settles it")
    func unresolvedCard() async throws {
        let first = try FlowHarness()
        let reading = try await FlowHarness.reading("v2-common")
        let pan = try #require(reading.bank?.pan)
        try await first.journal.begin(key: "left-open-1", pan: pan, maskedPAN: "x", idNumber: "440303198101011117", maskedID: "y", gateway: "sim")
        try await first.present()
        #expect(await first.waitForStage(.confirming))
        await first.flow.send(.confirm)
        await first.type("802461")
        await first.type("802461")
        #expect(await first.waitFor { $0.contains { $0.notice == "activation.pendingResult" } })
        #expect(await first.bank.ledger().isEmpty)
    }
}

