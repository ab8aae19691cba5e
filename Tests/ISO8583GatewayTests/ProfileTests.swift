import APDU
import BankGateway
import BankSimulator
import BankSimulatorServer
import Bytes
import Foundation
import ISO8583
import ISO8583Gateway
import KioskCrypto
import TestSupport
import Testing

@Suite("iso8583 gateway: profiles and variants")
struct ProfileTests {
    @Test("the registry builds the iso8583 kind; a bad setting names its key", arguments: [
        ("masterKey", "12345", "settings.masterKey"), ("mac", "md5", "settings.mac"), ("lengthPrefix", "ascii", "settings.lengthPrefix"),
        ("tpdu", "60", "settings.tpdu"), ("merchantID", "123", "settings.merchantID"), ("keyAlgorithm", "aes", "settings.keyAlgorithm"),
        ("spec", "/nonexistent.json", "settings.spec"), ("activationProcessingCode", "99", "settings.activationProcessingCode"),
        ("reversal", "maybe", "settings.reversal"),
    ])
    func badSetting(name: String, value: String, key: String) async throws {
        let harness = try await Harness.start()
        var registry = GatewayRegistry()
        registry.registerISO8583()
        let gateway = try registry.makeGateway(for: harness.profile())
        #expect(gateway.capabilities.macAlgorithm == "unionpay-ecb" && gateway.capabilities.supportsReversal)
        await (gateway as? ISO8583Gateway)?.shutdown()
        #expect(throws: GatewayConfigurationError(key: key, problem: "")) { try registry.makeGateway(for: harness.profile(settings: [name: value])) }
        var http = harness.profile()
        http.endpoint = "http://127.0.0.1:1"
        #expect(throws: GatewayConfigurationError(key: "endpoint", problem: "")) { try registry.makeGateway(for: http) }
        #expect(throws: GatewayConfigurationError(key: "terminalID", problem: "")) { try registry.makeGateway(for: harness.profile(terminalID: "KIOSK")) }
        await harness.stop()
    }

    @Test("Config/bank-profiles/iso8583.example.json is a valid profile once its files exist")
    func exampleProfile() throws {
        let path = URL(fileURLWithPath: Harness.specPath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("bank-profiles/iso8583.example.json").path
        var profile = try BankProfile.load(path: path)
        #expect(throws: GatewayConfigurationError(key: "settings.spec", problem: "")) { try ISOSettings(profile: profile) }
        profile.settings["spec"] = Harness.specPath
        profile.settings["masterKeyFile"] = nil
        profile.settings["masterKey"] = Harness.masterKey
        let settings = try ISOSettings(profile: profile)
        #expect(settings.host == "10.20.30.40" && settings.port == 5000 && settings.mac == .unionPayECB && settings.reversalAttempts == 3)
        #expect(settings.frame == .unionPay && settings.inquiryProcessingCode == "990001")
        #expect(settings.fieldKey?.count == 16, "the example seals field 62")
    }

    @Test("variants from the profile alone: SM4 keys with the SM4 POS MAC, X9.19 with a double-length MAK, BCD length prefix")
    func variants() async throws {
        let variants: [(BlockCipher.Algorithm, MACAlgorithm, [String: String])] = [
            (.sm4, .sm4POS, ["keyAlgorithm": "sm4", "mac": "sm4-pos"]),
            (.tripleDES, .x919, ["mac": "x9.19"]),
            (.tripleDES, .x99, ["mac": "x9.9"]),
        ]
        for (algorithm, mac, settings) in variants {
            try await withGateway(settings: settings, keyAlgorithm: algorithm, mac: mac) { harness, gateway in
                #expect(await gateway.prepare() == .ready, "\(mac)")
                let request = try request()
                let outcome = await gateway.activate(request)
                let entry = try #require(await harness.entry(request.key), "\(mac)")
                #expect(outcome == .approved(bankReference: entry.bankReference ?? "-"), "\(mac)")
                #expect(harness.server.counters.badMACs == 0, "\(mac)")
            }
        }
    }

    @Test("the gateway's frames decode with the spec and carry our TPDU, header and a MAC that verifies")
    func frames() throws {
        let harness = try Harness.makeSettings()
        let wire = ISOWire(settings: harness)
        let request = try request()
        let original = OriginalRecord(key: request.key.value, mti: "0100", processingCode: "990000", stan: "000123", date: "1129", time: "101500", batch: "000001", maskedPAN: "x", day: "20261129")
        let macKey: [UInt8] = [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88]
        let bytes = try wire.frame(try wire.encode(try wire.activation(request, original: original), macKey: macKey))
        var reader = FrameReader(format: .unionPay)
        reader.append(bytes)
        let frame = try #require(try reader.next())
        #expect(frame.tpdu == [0x60, 0x00, 0x03, 0x00, 0x00])
        let message = try wire.decode(frame.message, macKey: macKey)
        #expect(message.mti == "0100" && message[2] == request.card.pan && message[11] == "000123" && message[41] == "KIOSK001")
        #expect(message[52] == Hex.encode(request.pinBlock.bytes))
        let data = try PrivateData(decoding: try Hex.decode(message[62] ?? ""))
        #expect(data.text(.key) == request.key.value && data.text(.idNumber) == request.cardholder.idNumber)
        var tampered = frame.message
        tampered[20] ^= 0x01
        #expect(throws: ISO8583GatewayError.self) { try wire.decode(tampered, macKey: macKey) }
        #expect(!message.description.contains(request.card.pan))
    }
}

extension Harness {
    /// Settings without a running server (pure wire tests).
    static func makeSettings() throws -> ISOSettings {
        try ISOSettings(profile: BankProfile(
            name: "wire", kind: "iso8583", bankCode: "SIM", terminalID: "KIOSK001", endpoint: "tcp://127.0.0.1:9",
            settings: ["spec": specPath, "masterKey": masterKey, "merchantID": "898440358120001", "stateFile": "/dev/null"]))
    }
}

/// The gateway's own messages (sign-on, activation, inquiry, reversal) decoded by pyiso8583, field by field.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["KIOSK_PYISO8583"] != nil, "needs scripts/test.sh (pyiso8583)"))
struct GatewayMessagesThroughPyISO8583 {
    @Test func everyMessageKindDecodes() async throws {
        let wire = ISOWire(settings: try Harness.makeSettings())
        let request = try request()
        let original = OriginalRecord(key: request.key.value, mti: "0100", processingCode: "990000", stan: "000123", date: "1129", time: "101500", batch: "000001", maskedPAN: "x", day: "20261129")
        let macKey: [UInt8] = [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88]
        let messages = [
            wire.signOn(stan: "000122", batch: "000001"), try wire.activation(request, original: original),
            wire.inquiry(original: original, stan: "000124", date: "1129", time: "101530", processingCode: "990001"),
            wire.reversal(original: original, reason: .unknownOutcome),
        ]
        var expected: [ISO8583Message] = []
        var lines: [String] = []
        for (index, message) in messages.enumerated() {
            let bytes = try wire.encode(message, macKey: index == 0 ? nil : macKey)
            expected.append(try wire.decode(bytes, macKey: index == 0 ? nil : macKey))
            lines.append(Hex.encode(bytes))
        }
        let repository = URL(fileURLWithPath: Harness.specPath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let run = try await runProcess("/usr/bin/env", [
            "python3", repository.appendingPathComponent("scripts/lib/pyiso8583_check.py").path, Harness.specPath, "decode",
        ], input: Data((lines.joined(separator: "\n") + "\n").utf8))
        #expect(run.status == 0, "\(run.error)")
        let decoded = run.output.split(separator: "\n")
        try #require(decoded.count == messages.count)
        for (ours, line) in zip(expected, decoded) {
            let theirs = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])
            #expect(theirs["t"] == ours.mti)
            #expect(theirs.count == ours.fields.count + 1)
            for (number, value) in ours.fields {
                #expect(theirs[String(number)]?.uppercased() == value.uppercased(), "\(ours.mti) field \(number)")
            }
        }
    }
}

@Suite struct PrivateDataTests {
    @Test func roundTripAndHostileInput() throws {
        var data = PrivateData()
        data.set(.key, text: "ck-0123456789abcdef")
        data[.name] = [0xD5, 0xC5, 0xC8, 0xFD]
        let decoded = try PrivateData(decoding: data.encoded())
        #expect(decoded == data)
        #expect(throws: ISO8583GatewayError.self) { try PrivateData(decoding: Array("IK01".utf8)) }
        #expect(throws: ISO8583GatewayError.self) { try PrivateData(decoding: Array("IK009abc".utf8)) }
        #expect(throws: ISO8583GatewayError.self) { try PrivateData(decoding: Array("IKx01a".utf8)) }
        var rng = SeededGenerator(seed: 62)
        for _ in 0..<5000 {
            let bytes = rng.bytes(Int.random(in: 0...40, using: &rng))
            _ = try? PrivateData(decoding: bytes)  // never traps
        }
    }
}
