import APDU
import BankGateway
import BankSimulator
import BankSimulatorServer
import Bytes
import Foundation
import Identity
import ISO8583
import ISO8583Gateway
import KioskCrypto
import TestSupport
import Testing

@Suite("iso8583 gateway over TCP against the simulated bank")
struct GatewayTests {
    @Test("sign-on loads working keys whose check values verify; a wrong master key refuses them")
    func signOn() async throws {
        try await withGateway { harness, gateway in
            #expect(await gateway.prepare() == .ready)
            let testPINKey = try Hex.decode(SimulatedBank.Fixture().pinKey)
            #expect(gateway.workingKeys?.pinKey == testPINKey)
            #expect(gateway.workingKeys?.macKey.count == 8)
            #expect(harness.server.counters.signOns == 1)

            let wrong = try ISO8583Gateway(profile: harness.profile(settings: [
                "masterKey": "11111111111111112222222222222222", "stateFile": harness.directory.appendingPathComponent("other.json").path,
            ]))
            guard case .unavailable(let detail) = await wrong.prepare() else { Issue.record("wrong TMK accepted"); return }
            #expect(detail.contains("check value does not match"))
            #expect(wrong.workingKeys == nil)
            await wrong.shutdown()
        }
    }

    @Test("an activation is approved once, with the bank's reference; the state file keeps no PAN and no PIN block")
    func approved() async throws {
        try await withGateway { harness, gateway in
            let request = try request()
            guard case .approved(let reference) = await gateway.activate(request) else { Issue.record("not approved"); return }
            #expect(reference.hasPrefix("SIM"))
            let entry = try #require(await harness.entry(request.key))
            #expect(entry.effects == 1 && entry.state == .applied)
            let file = try String(contentsOfFile: harness.stateFile, encoding: .utf8)
            #expect(!file.contains(request.card.pan))
            #expect(!file.contains(Hex.encode(request.pinBlock.bytes)))
            #expect(file.contains(request.key.value))
            #expect(harness.server.counters.signOns == 1)  // signed on by the first activation
        }
    }

    @Test("with sm4FieldKey, field 62 carries the ID number and name sealed: nothing of them in clear on the wire; the bank opens them and approves")
    func sealedIDAndName() async throws {
        let fieldKey = "8F3A0C11D2E94B7765A1C0FFEE123457"
        let harness = try await Harness.start(fieldKey: try Hex.decode(fieldKey))
        let gateway = try harness.gateway(settings: ["sm4FieldKey": fieldKey])
        let request = try request()
        // The message as it goes out (pure): no ID digits, no GB18030 name, an SE element that opens under the key.
        let settings = try ISOSettings(profile: harness.profile(settings: ["sm4FieldKey": fieldKey]))
        let stamp = TerminalState.stamp(Date())
        let message = try ISOWire(settings: settings).activation(
            request,
            original: OriginalRecord(
                key: request.key.value, mti: "0100", processingCode: "990000", stan: "000001", date: stamp.date, time: stamp.time, batch: "000001",
                maskedPAN: "x", day: stamp.day))
        let field62 = try Hex.decode(try #require(message[62]))
        let name = try #require(GB18030.encode(request.cardholder.name) as [UInt8]?)
        #expect(field62.firstRange(of: Array(request.cardholder.idNumber.utf8)) == nil, "the ID number went in clear")
        #expect(field62.firstRange(of: name) == nil, "the name went in clear")
        let data = try PrivateData(decoding: field62)
        #expect(data[.sealed] != nil && data[.idNumber] == nil && data[.name] == nil && data.text(.key) == request.key.value)
        let opened = try data.openingSealed(key: try Hex.decode(fieldKey))
        #expect(opened.text(.idNumber) == request.cardholder.idNumber && opened[.name] == name)
        #expect(throws: ISO8583GatewayError.self) { try data.openingSealed(key: try Hex.decode("00112233445566778899AABBCCDDEEF0")) }

        // Over the wire: the simulated bank opens it (the ledger has the holder's number, masked) and approves.
        guard case .approved = await gateway.activate(request) else { Issue.record("not approved"); await gateway.shutdown(); await harness.stop(); return }
        #expect(harness.server.counters.sealedActivations == 1)
        #expect(await harness.entry(request.key)?.maskedHolderID == Masking.citizenID(request.cardholder.idNumber))
        await gateway.shutdown()
        await harness.stop()
    }

    @Test("declines, PIN errors and weak PINs come back through the result-code table")
    func declines() async throws {
        var fixture = SimulatedBank.Fixture()
        fixture.rules = [
            .init(pan: "6228230029000009999", code: "N1"), .init(pan: "6228230029000008888", code: "55", triesLeft: 2),
            .init(pan: "6228230029000007777", code: "41"),
        ]
        try await withGateway(fixture: fixture) { _, gateway in
            let cases: [(ActivationRequest, ActivationOutcome)] = [
                (try request(pan: "6228230029000009999"), .declined(.notEnabledByBureau, bankCode: "N1")),
                (try request(pan: "6228230029000008888"), .pinError(triesLeft: 2, bankCode: "55")),
                (try request(pan: "6228230029000007777"), .declined(.lostStolenOrFrozen, bankCode: "41")),
                (try request(pin: "111111"), .declined(.weakPIN(.repeatedDigits), bankCode: "W3")),
            ]
            for (request, expected) in cases {
                #expect(await gateway.activate(request) == expected)
            }
        }
    }

    @Test("a duplicate in-flight key is refused before anything is sent")
    func duplicateInFlight() async throws {
        var fixture = SimulatedBank.Fixture()
        fixture.processingMilliseconds = 600
        try await withGateway(fixture: fixture) { harness, gateway in
            #expect(await gateway.prepare() == .ready)
            let request = try request()
            async let first = gateway.activate(request)
            try await Task.sleep(for: .milliseconds(150))
            let second = await gateway.activate(request)
            guard case .unknown(let detail) = second else { Issue.record("duplicate was \(second)"); return }
            #expect(detail.contains("already in flight"))
            #expect(await first == .approved(bankReference: "SIM100001"))
            #expect(harness.server.counters.activations == 1)
            #expect(await harness.entry(request.key)?.requests == 1)
        }
    }

    @Test("RC 77: sign on again and retry once with the same key; applied once")
    func resignOnAfter77() async throws {
        try await withGateway { harness, gateway in
            #expect(await gateway.prepare() == .ready)
            let firstMAK = gateway.workingKeys?.macKey
            await harness.bank.inject(.resignOnRequired)
            let request = try request()
            guard case .approved = await gateway.activate(request) else { Issue.record("not approved after re-sign-on"); return }
            #expect(harness.server.counters.signOns == 2)
            #expect(harness.server.counters.activations == 2)
            #expect(gateway.workingKeys?.macKey != firstMAK)
            #expect(await harness.entry(request.key)?.effects == 1)
        }
    }

    @Test("a reply with a bad or missing MAC: re-sign-on, the same key again, the bank answers from its ledger")
    func resignOnAfterBadMAC() async throws {
        try await withGateway { harness, gateway in
            for fault in [BankFault.badSignature, .unsignedAnswer] {
                await harness.bank.inject(fault)
                let request = try request()
                let outcome = await gateway.activate(request)
                let entry = try #require(await harness.entry(request.key))
                #expect(outcome == .approved(bankReference: entry.bankReference ?? "-"), "\(fault)")
                #expect(entry.effects == 1 && entry.requests == 2, "\(fault)")
            }
            // Twice in a row: the retry is not trusted either, and the outcome is unknown, not declined.
            await harness.bank.inject(.badSignature)
            await harness.bank.inject(.badSignature)
            let request = try request()
            guard case .unknown = await gateway.activate(request) else { Issue.record("two bad MACs were trusted"); return }
            #expect(await harness.entry(request.key)?.effects == 1)
        }
    }

    @Test("nothing listening: unavailable, nothing applied")
    func connectRefused() async throws {
        let harness = try await Harness.start()
        await harness.server.stop()
        let gateway = try harness.gateway()
        guard case .unavailable = await gateway.activate(try request()) else { Issue.record("connect refused was not unavailable"); return }
        #expect(await harness.bank.ledger().isEmpty)
        await gateway.shutdown()
        await harness.stop()
    }
}
