import APDU
import BankGateway
import BankSimulator
import Bytes
import Foundation
import KioskCrypto
import Messages
import TestSupport
import Testing

@Suite struct GatewayVocabularyTests {
    @Test func idempotencyKeys() {
        #expect(IdempotencyKey("ck-0123456789abcdef") != nil)
        #expect(IdempotencyKey("short") == nil)
        #expect(IdempotencyKey("has space in it!") == nil)
        #expect(IdempotencyKey(String(repeating: "a", count: 65)) == nil)
        #expect(IdempotencyKey.random() != IdempotencyKey.random())
    }

    @Test func pinBlocksAndPersonalDataNeverPrint() throws {
        let r = try request()
        var dumped = ""
        dump(r, to: &dumped)
        for text in ["\(r)", "\(r.pinBlock)", String(reflecting: r.pinBlock), dumped] {
            #expect(!text.contains(Hex.encode(r.pinBlock.bytes)))
            #expect(!text.contains(r.card.pan))
            #expect(!text.contains(r.cardholder.idNumber))
        }
    }

    @Test func everyOutcomeSpeaksBothLanguages() {
        let reasons: [DeclineReason] = [
            .notEnabledByBureau, .alreadyActivated, .lostStolenOrFrozen, .notPermitted, .invalidCard, .expiredCard,
            .weakPIN(.birthday), .pinTriesExceeded, .identityMismatch, .other,
        ]
        var keys = Set<String>()
        for outcome in reasons.map({ ActivationOutcome.declined($0, bankCode: "X") }) + [
            .approved(bankReference: "R"), .pinError(triesLeft: 2, bankCode: "55"), .unavailable(detail: "d"), .unknown(detail: "d"),
        ] {
            let message = outcome.customerMessage
            keys.insert(message.key)
            #expect(message.zhHans.unicodeScalars.contains { $0.value >= 0x4E00 && $0.value <= 0x9FFF })
            let ascii = message.en.unicodeScalars.allSatisfy { $0.isASCII }
            #expect(ascii && !message.en.isEmpty)
            #expect(!outcome.operatorMessage.isEmpty)
        }
        #expect(keys.count == 14, "each outcome has its own key")
        for reason in reasons { #expect(DeclineReason(code: reason.code) == reason) }
        #expect(ActivationOutcome.unknown(detail: "x").customerMessage.key == "bank.pending")
    }

    @Test func resultCodeTables() throws {
        let table = ResultCodeTable.unionPay
        #expect(table.classify("00") == .approved)
        #expect(table.classify("41") == .declined(.lostStolenOrFrozen))
        #expect(table.classify("77") == .resignOn)
        #expect(table.classify("XX") == .unknown)
        #expect(table.activationOutcome(code: "55", bankReference: nil, triesLeft: 2) == .pinError(triesLeft: 2, bankCode: "55"))
        #expect(table.activationOutcome(code: "96", bankReference: nil) == .unavailable(detail: "bank code 96"))
        if case .unknown = table.activationOutcome(code: "Z9", bankReference: nil) {} else { Issue.record("an unmapped code is unknown, never declined") }
        #expect(throws: GatewayConfigurationError(key: "resultCodes.77", problem: "")) { try ResultCodeTable(["77": "reboot"]) }
    }

    @Test func profilesAndRegistry() throws {
        let json = """
            {"name": "Test bank", "kind": "simulator", "bankCode": "SIM", "terminalID": "T1",
             "timeouts": {"connectMilliseconds": 100, "responseMilliseconds": 300},
             "resultCodes": {"00": "approved", "N1": "declined.notEnabledByBureau"}, "settings": {}}
            """
        let profile = try JSONDecoder().decode(BankProfile.self, from: Data(json.utf8))
        #expect(profile.timeouts.response == .milliseconds(300))
        #expect(try profile.resultCodeTable().classify("N1") == .declined(.notEnabledByBureau))
        #expect(throws: GatewayConfigurationError(key: "settings.signingKey", problem: "")) { try profile.setting("signingKey") }
        var registry = GatewayRegistry()
        let bank = SimulatedBank()
        registry.register(kind: "simulator") { profile throws(GatewayConfigurationError) in try SimulatorGateway(profile: profile, bank: bank) }
        let gateway = try registry.makeGateway(for: profile)
        #expect(gateway.capabilities.supportsQuery && gateway.capabilities.supportsReversal)
        var other = profile
        other.kind = "carrier-pigeon"
        #expect(throws: GatewayConfigurationError(key: "kind", problem: "")) { try registry.makeGateway(for: other) }
    }
}

@Suite struct ShippedProfilesTests {
    /// The profiles in Config/bank-profiles decode, and their result codes are all known classes.
    @Test(arguments: ["simulator", "http-json.example"])
    func shippedProfilesAreValid(_ name: String) throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Config/bank-profiles/\(name).json").path
        let profile = try BankProfile.load(path: path)
        _ = try profile.resultCodeTable()
        #expect(["simulator", "http-json"].contains(profile.kind))
    }
}
