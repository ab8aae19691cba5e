import APDU
import Bytes
import CardCore
import CardSimulator
import Identity
import Messages
import SocialSecurityCard
import TestSupport
import Testing
import VirtualCards

/// A mock reader with a social security card in slot 0 and the virtual PSAM in slot 1.
struct Bench {
    let system = MockCardSystem(readers: ["Mock Card 00 00", "Mock PSAM 00 01"])
    let fixture: SocialSecurityCardFixture
    let card: RecordingCard

    init(_ name: String, psam: VirtualPSAM? = VirtualPSAM()) throws {
        try self.init(fixture: try SocialSecurityCardFixture.load(path: sscFixturePath(name)), psam: psam)
    }

    init(fixture: SocialSecurityCardFixture, psam: VirtualPSAM? = VirtualPSAM()) throws {
        self.fixture = fixture
        self.card = RecordingCard(try VirtualSocialSecurityCard.make(self.fixture))
        self.system.insert(self.card, into: "Mock Card 00 00")
        if let psam { self.system.insert(psam, into: "Mock PSAM 00 01") }
    }

    var module: PSAMSecurityModule { PSAMSecurityModule(system: self.system, reader: "Mock PSAM 00 01") }

    func read(module: (any SecurityModule)? = nil, bank: Bool = true, trace: APDUTraceRecorder? = nil, scope: CardReadOptions.Scope = .everything) async throws(CardReadError)
        -> SocialSecurityCardReading
    {
        let connection: any CardConnection
        do {
            connection = try await self.system.connect(reader: "Mock Card 00 00")
        } catch {
            throw CardReadError(error, step: "connect")
        }
        var options = CardReadOptions(readsBank: bank, securityModule: module ?? self.module)
        options.trace = trace
        options.scope = scope
        options.terminal = TerminalData(date: [0x26, 0x11, 0x29], time: [0x12, 0, 0], unpredictableNumber: [1, 2, 3, 4])
        let reading = try await SocialSecurityCardReader.read(connection: connection, options: options)
        await connection.disconnect()
        return reading
    }
}

let allReadableFixtures = [
    "v2-common", "v2-t0-x", "v3-sm4-rare", "v3-3des-t0", "v1-record-number", "sfi-only", "long-name", "p1-zero", "expired",
    "ppse-missing", "pin-last-try",
]

@Suite struct SocialSecurityCardReaderTests {
    @Test(arguments: allReadableFixtures)
    func readsEveryFixtureAsWritten(_ name: String) async throws {
        let bench = try Bench(name)
        let reading = try await bench.read()
        let identity = try #require(reading.identity)
        let fixture = bench.fixture
        #expect(identity.socialSecurityNumber.value == fixture.citizenId)
        #expect(identity.name == fixture.name)
        #expect(identity.cardNumber == fixture.cardNumber)
        #expect(identity.specVersion.text == fixture.specVersion)
        #expect(identity.birthDate?.description == fixture.birthDate)
        #expect(identity.expiryDate?.description == fixture.expiryDate)
        #expect(identity.issueDate?.description == fixture.issueDate)
        #expect(identity.region?.code == fixture.region)
        #expect(identity.nation == Nation(code: fixture.nation))
        #expect(identity.gender == Gender(code: Character(fixture.gender)))
        #expect(identity.birthplace == fixture.birthplace)
        let bank = try #require(reading.bank)
        #expect(bank.pan == fixture.bank?.pan)
        #expect(bank.expiry?.description == fixture.bank?.expiry)
        #expect(bank.holderID == fixture.bank?.holderId)
        #expect(bank.holderName == fixture.bank?.holderName)
        #expect(bank.panSequenceNumber == fixture.bank?.panSequence)
        #expect(reading.apduCount == bench.card.received.count)
    }

    @Test func fewestAPDUsOnACommonCard() async throws {
        let bench = try Bench("v2-common")
        let reading = try await bench.read()
        // SSSE: SELECT, SELECT EF05, 6 items, SELECT EF06, 8 items (4E absent) = 17 − the unread EF05/04 = 16.
        // Bank: PPSE (absent), PSE, PSE record 1, SELECT AID, GPO, 2 of the 4 AFL records = 7.
        #expect(reading.apduCount == 23)
        let received = bench.card.received
        #expect(received.filter { $0.hasPrefix("00A404000F") }.count == 1, "SSSE selected once")
        #expect(received.filter { $0 == "00A4020002EF05" }.count == 1)
        #expect(received.filter { $0 == "00A4020002EF06" }.count == 1)
        #expect(!received.contains("00B2040006"), "EF05/04 (initialising institution) is not used")
        #expect(!received.contains { $0.hasPrefix("00B2011C") }, "the offline-authentication records are not read")
        let selects = received.filter { $0.hasPrefix("00A4") }
        #expect(Set(selects).count == selects.count, "nothing selected twice")
    }

    @Test func t0CardUsesGetResponseAndLengthCorrection() async throws {
        let bench = try Bench("v2-t0-x")
        let reading = try await bench.read()
        #expect(reading.identity?.socialSecurityNumber.value == "11010819750612008X")
        #expect(bench.card.received.contains { $0.hasPrefix("00C00000") })
        #expect(reading.bank?.pan == "6217000010002345678")
        // PPSE answered, so the PSE is never selected.
        #expect(!bench.card.received.contains { $0.hasPrefix("00A404000E315041") })
    }

    @Test func addressingFallbacks() async throws {
        #expect(try await Bench("v1-record-number").read().addressing == .recordNumber)
        #expect(try await Bench("sfi-only").read().addressing == .shortFileID)
        #expect(try await Bench("p1-zero").read().addressing == .tag)
        #expect(try await Bench("v2-common").read().addressing == .tag)
    }

    @Test func nameExtensionIsAppended() async throws {
        let reading = try await Bench("long-name").read()
        #expect(reading.identity?.name == "阿卜杜热合曼·买买提依明·艾合买提")
    }

    @Test func expiredCardStillReadsAndSaysSo() async throws {
        let identity = try #require(try await Bench("expired").read().identity)
        #expect(identity.isExpired(on: CalendarDate(year: 2026, month: 11, day: 29)!))
        #expect(!identity.isExpired(on: CalendarDate(year: 2019, month: 12, day: 31)!))
    }

    @Test func thirdGenerationCardNeedsAuthentication() async throws {
        let bench = try Bench("v3-sm4-rare")
        let reading = try await bench.read()
        #expect(reading.identity?.name == "王𠮷")
        let received = bench.card.received
        let internalAuth = try #require(received.firstIndex { $0.hasPrefix("0088") })
        let external = try #require(received.firstIndex { $0.hasPrefix("0082000A10") })
        let nameRead = try #require(received.firstIndex { $0.hasPrefix("00B20900") })
        #expect(internalAuth < external && external < nameRead)
    }

    @Test func refusals() async throws {
        func reason(_ name: String, psam: VirtualPSAM? = VirtualPSAM(), module: (any SecurityModule)? = nil) async -> CardReadError.Reason? {
            do {
                let bench = try Bench(name, psam: psam)
                _ = try await bench.read(module: module)
                return nil
            } catch let error as CardReadError {
                return error.reason
            } catch {
                return nil
            }
        }
        #expect(await reason("application-locked") == .applicationLocked)
        #expect(await reason("card-locked") == .cardLocked)
        #expect(await reason("counterfeit-v3") == .cardNotGenuine)
        #expect(await reason("invalid-id") == .invalidData)
        #expect(await reason("file-missing") == .fileNotFound)
        #expect(await reason("record-missing") == .recordNotFound)
        #expect(await reason("v3-sm4-rare", psam: nil) == .securityModuleMissing)
        #expect(await reason("v3-sm4-rare", psam: VirtualPSAM(keyUsages: [TestKeyScheme.internalAuthenticationUsage])) == .securityModuleKeyMissing)
        #expect(await reason("v3-sm4-rare", psam: VirtualPSAM(algorithms: [0x01])) == .securityModuleUnsupportedAlgorithm(0x03))
        #expect(await reason("v3-sm4-rare", module: WrongExternalModule()) == .externalAuthenticationFailed(triesLeft: 2))
    }

    @Test("one PSAM session serves read after read; a PSAM taken out is missing, put back it is found again; closed, it is missing")
    func longLivedPSAMSession() async throws {
        let bench = try Bench("v3-sm4-rare")
        let session = bench.module
        #expect(!session.isConnected, "nothing is connected before the first read")
        for _ in 0..<3 { #expect(try await bench.read(module: session).identity?.name == "王𠮷") }
        #expect(session.isConnected)
        // Taken out: the read in progress finds it missing (and drops the connection); back in, the next
        // read's prepare() connects again.
        bench.system.remove(from: "Mock PSAM 00 01")
        await #expect(throws: CardReadError(.securityModuleMissing, step: "")) { try await bench.read(module: session) }
        #expect(!session.isConnected)
        bench.system.insert(VirtualPSAM(), into: "Mock PSAM 00 01")
        #expect(try await bench.read(module: session).identity != nil)
        await session.close()
        #expect(!session.isConnected)
        await #expect(throws: CardReadError(.securityModuleMissing, step: "")) { try await bench.read(module: session) }
    }

    @Test("an activation's read reads what the flow uses (≤ 16 APDUs for a 2.00 card over T=1); a diagnosis read reads everything", arguments: ["v2-common", "v2-t0-x", "v3-sm4-rare", "long-name"])
    func activationScope(_ name: String) async throws {
        let full = try await Bench(name).read()
        let flow = try await Bench(name).read(scope: .activation)
        let (whole, used) = (try #require(full.identity), try #require(flow.identity))
        #expect(used.name == whole.name && used.socialSecurityNumber == whole.socialSecurityNumber)
        #expect(used.expiryDate == whole.expiryDate && used.cardNumber == whole.cardNumber && used.cardIdentifier == whole.cardIdentifier)
        #expect(used.gender == nil && used.birthDate == nil && used.issueDate == nil, "not read for an activation")
        #expect(whole.gender != nil || whole.birthDate != nil || whole.issueDate != nil, "read for a diagnosis")
        #expect(flow.bank?.pan == full.bank?.pan && flow.bank?.expiry == full.bank?.expiry && flow.bank?.holderID == full.bank?.holderID)
        #expect(flow.apduCount < full.apduCount)
        if name == "v2-common" {
            #expect(flow.apduCount <= 16, "\(name): \(flow.apduCount) APDUs for an activation (a diagnosis read: \(full.apduCount))")
        }
    }

    @Test func missingModuleIsItsOwnError() async throws {
        let bench = try Bench("v3-3des-t0")
        var options = CardReadOptions(securityModule: nil)
        options.terminal = TerminalData(date: [0x26, 0x11, 0x29], time: [0, 0, 0], unpredictableNumber: [0, 0, 0, 0])
        let connection = try await bench.system.connect(reader: "Mock Card 00 00")
        await #expect(throws: CardReadError(.securityModuleMissing, step: "")) {
            try await SocialSecurityCardReader.read(connection: connection, options: options)
        }
    }

    @Test(arguments: [CardReadOptions.Scope.everything, .activation])
    func bankProblemsKeepTheIdentity(_ scope: CardReadOptions.Scope) async throws {
        let noBank = try await Bench("no-bank").read(scope: scope)
        #expect(noBank.identity != nil)
        #expect(noBank.bank == nil)
        #expect(noBank.bankError?.reason == .noBankApplication)
        let blocked = try await Bench("bank-blocked").read(scope: scope)
        #expect(blocked.bankError?.reason == .bankApplicationBlocked)
        #expect(blocked.bankError?.statusWord == StatusWord(rawValue: 0x6283))
    }

    @Test("an activation selects the UnionPay debit AID straight away: no PPSE, no PSE, nothing selected twice")
    func activationSelectsTheDebitAIDDirectly() async throws {
        let bench = try Bench("v2-common")
        let reading = try await bench.read(scope: .activation)
        #expect(reading.bank?.pan == bench.fixture.bank?.pan)
        let received = bench.card.received
        let bankSelects = received.filter { $0.hasPrefix("00A40400") && !$0.hasPrefix("00A404000F") }
        #expect(bankSelects == ["00A4040008A00000033301010100"])
        let selects = received.filter { $0.hasPrefix("00A4") }
        #expect(Set(selects).count == selects.count)
        // SSSE 9 (as in fewestAPDUsOnACommonCard's count, less the 3 items an activation does not use) + SELECT AID, GPO, 2 records.
        #expect(reading.apduCount == 13)
    }

    @Test("an activation on a card whose bank application is not the debit AID finds it through the directories", arguments: ["pse", "ppse", "none"])
    func activationFallsBackToTheDirectories(_ directory: String) async throws {
        var fixture = try SocialSecurityCardFixture.load(path: sscFixturePath("v2-common"))
        fixture.bank?.aid = "A000000333010103"
        fixture.bank?.directory = directory
        let bench = try Bench(fixture: fixture)
        let reading = try await bench.read(scope: .activation)
        #expect(reading.bank?.aid == [0xA0, 0x00, 0x00, 0x03, 0x33, 0x01, 0x01, 0x03])
        #expect(reading.bank?.pan == fixture.bank?.pan)
        let received = bench.card.received
        #expect(received.filter { $0 == "00A4040008A00000033301010100" }.count == 1, "the debit AID is tried once")
        let selects = received.filter { $0.hasPrefix("00A4") }
        #expect(Set(selects).count == selects.count, "nothing selected twice")
    }

    @Test func removedCardEndsTheReadWithATypedError() async throws {
        let bench = try Bench("v2-common")
        let system = bench.system
        bench.system.insert(TriggerCard(bench.card, after: 5) { system.remove(from: "Mock Card 00 00") }, into: "Mock Card 00 00")
        do {
            _ = try await bench.read()
            Issue.record("the read should fail")
        } catch {
            #expect(error.reason == .reader(.cardRemoved) || error.reason == .reader(.noCard))
            #expect(error.customerMessage.key == "card.removed")
        }
    }
}

/// Answers internal authentication correctly (test scheme) but sends a wrong external cryptogram.
struct WrongExternalModule: SecurityModule {
    var name: String { "wrong-external test module" }
    func internalAuthenticationResponse(challenge: [UInt8], card: CardAuthenticationContext) throws(SecurityModuleError) -> [UInt8] {
        let key = TestKeyScheme.cardKey(usage: TestKeyScheme.internalAuthenticationUsage, algorithm: card.algorithm, factor: Array(card.cardIdentifier.suffix(8)))!
        return TestKeyScheme.encrypt(challenge, key: key, algorithm: card.algorithm)!
    }
    func externalAuthenticationData(cardChallenge: [UInt8], card: CardAuthenticationContext) throws(SecurityModuleError) -> [UInt8] {
        [UInt8](repeating: 0x55, count: 16)
    }
}

@Suite struct PINAndStatusWordTests {
    func withSSSE<R>(_ name: String, _ body: @escaping @Sendable (inout SSSEApplication) throws -> R) async throws -> R where R: Sendable {
        let bench = try Bench(name)
        let connection = try await bench.system.connect(reader: "Mock Card 00 00")
        return try await connection.withTransaction { channel in
            var ssse = SSSEApplication(channel: channel)
            try ssse.select()
            return try body(&ssse)
        }
    }

    @Test func verifyCountsTriesDown() async throws {
        try await self.withSSSE("v2-common") { ssse in
            #expect(throws: CardReadError(.pinIncorrect(triesLeft: 2), step: "")) { try ssse.verifyPIN(digits: "000000") }
            #expect(throws: CardReadError(.pinIncorrect(triesLeft: 1), step: "")) { try ssse.verifyPIN(digits: "111111") }
            try ssse.verifyPIN(digits: "123456")
            #expect(throws: CardReadError(.pinIncorrect(triesLeft: 2), step: "")) { try ssse.verifyPIN(digits: "000000") }
        }
    }

    @Test func lastWrongTryBlocks() async throws {
        try await self.withSSSE("pin-last-try") { ssse in
            #expect(throws: CardReadError(.pinBlocked, step: "")) { try ssse.verifyPIN(digits: "123456") }
            #expect(throws: CardReadError(.pinBlocked, step: "")) { try ssse.verifyPIN(digits: "654321") }
        }
    }

    @Test func badPINIsRefusedBeforeTheCard() async throws {
        try await self.withSSSE("v2-common") { ssse in
            #expect(throws: CardReadError(.invalidData, step: "")) { try ssse.verifyPIN(digits: "12a4") }
            #expect(throws: CardReadError(.invalidData, step: "")) { try ssse.verifyPIN(digits: "123") }
        }
    }

    @Test func protectedDataBeforeAuthenticationIsSecurityStatus() async throws {
        try await self.withSSSE("v3-sm4-rare") { ssse in
            _ = try ssse.read(.specVersion)
            #expect(throws: CardReadError(.securityStatusNotSatisfied, step: "")) { try ssse.read(.name) }
        }
    }

    @Test(arguments: [
        (0x63C2, CardReadError.Reason.pinIncorrect(triesLeft: 2)), (0x6983, .pinBlocked), (0x6A81, .applicationLocked),
        (0x9303, .cardLocked), (0x6A82, .fileNotFound), (0x6A83, .recordNotFound), (0x6982, .securityStatusNotSatisfied),
        (0x6985, .conditionsNotSatisfied), (0x6F00, .unexpectedStatus), (0x6283, .applicationLocked),
    ])
    func everyStatusWordHasATypedReason(_ sw: Int, _ reason: CardReadError.Reason) {
        let error = CardReadError.from(StatusWord(rawValue: UInt16(sw)), step: "TEST")
        #expect(error.reason == reason)
        #expect(error.operatorMessage.contains("TEST"))
        #expect(error.operatorMessage.contains(Hex.encode([UInt8(sw >> 8), UInt8(sw & 0xFF)])))
        #expect(!error.customerMessage.zhHans.isEmpty && !error.customerMessage.en.isEmpty)
    }

    @Test func bankStatusWordsSayBank() {
        #expect(CardReadError.from(StatusWord(rawValue: 0x6A81), step: "x", inBankApplication: true).reason == .bankApplicationBlocked)
    }

    @Test func customerMessagesAreBilingualWithStableKeys() {
        let reasons: [CardReadError.Reason] = [
            .notSocialSecurityCard, .pinIncorrect(triesLeft: 1), .pinBlocked, .applicationLocked, .cardLocked, .fileNotFound,
            .recordNotFound, .securityStatusNotSatisfied, .conditionsNotSatisfied, .cardNotGenuine, .externalAuthenticationFailed(triesLeft: 1),
            .securityModuleMissing, .securityModuleKeyMissing, .securityModuleUnsupportedAlgorithm(2), .securityModuleFailed,
            .invalidData, .noBankApplication, .bankApplicationBlocked, .unexpectedStatus, .reader(.cardRemoved), .reader(.timeout),
        ]
        for reason in reasons {
            let message = CardReadError(reason, step: "s").customerMessage
            #expect(message.key.contains("."))
            #expect(message.zhHans.unicodeScalars.contains { $0.value >= 0x4E00 && $0.value <= 0x9FFF }, "\(message.key) has Chinese text")
            let ascii = message.en.unicodeScalars.allSatisfy { $0.isASCII }
            #expect(ascii, "\(message.key) English text is ASCII")
        }
        #expect(CardReadError(.pinIncorrect(triesLeft: 2), step: "").customerMessage.arguments["triesLeft"] == "2")
    }
}

/// Runs `action` once, when the card has received `after` commands (a customer pulling the card).
final class TriggerCard: VirtualCard, @unchecked Sendable {
    let inner: any VirtualCard
    let after: Int
    let action: @Sendable () -> Void
    private let counter = Counter()
    init(_ inner: any VirtualCard, after: Int, action: @escaping @Sendable () -> Void) {
        self.inner = inner
        self.after = after
        self.action = action
    }
    var atr: [UInt8] { self.inner.atr }
    func reset() { self.inner.reset() }
    func process(_ command: [UInt8]) -> [UInt8]? {
        if self.counter.increment() == self.after { self.action() }
        return self.inner.process(command)
    }
}

@Suite struct PersonalDataTests {
    @Test func descriptionsAndDumpsAreMasked() async throws {
        let bench = try Bench("v2-common")
        let reading = try await bench.read()
        let identity = try #require(reading.identity)
        let bank = try #require(reading.bank)
        var dumped = ""
        dump(reading, to: &dumped)
        for text in ["\(identity)", String(reflecting: identity), "\(bank)", String(reflecting: bank), dumped, "\(reading)"] {
            #expect(!text.contains("440303198101011117"), "citizen ID in \(text)")
            #expect(!text.contains("6228230029000005274"), "PAN in \(text)")
            #expect(!text.contains("张三"), "name in \(text)")
        }
        #expect("\(bank)".contains("622823*********5274"))
        #expect("\(identity)".contains("440***********1117"))
    }

    @Test func pinPadStructureCarriesTheVerifyTemplate() {
        let structure = SSSEApplication.pinVerifyStructure()
        #expect(structure.apduTemplate == [0x00, 0x20, 0x00, 0x00, 0x03, 0xFF, 0xFF, 0xFF])
        #expect(structure.minimumDigits == 6 && structure.maximumDigits == 6)
        #expect(structure.formatString & 0x03 == 0x01, "BCD")
        #expect(SSSEApplication.pinVerifyStructure(length: 4).apduTemplate == [0x00, 0x20, 0x00, 0x00, 0x02, 0xFF, 0xFF])
    }
}
