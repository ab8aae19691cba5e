import APDU
import BankGateway
import BankHTTP
import BankSimulator
import BankSimulatorServer
import Foundation
import KioskCrypto
import TestSupport
import Testing

/// Test key pairs from `Tests/Fixtures/bank/keys` (generating RSA keys in a debug build takes seconds
/// of CPU that the other tests need).
enum TestKeys {
    static func pair(_ name: String) -> (privateKey: String, publicKey: String) {
        let base = "\(fixturesDirectory)/bank/keys/\(name)"
        return (try! String(contentsOfFile: base + ".key", encoding: .utf8), try! String(contentsOfFile: base + ".pub", encoding: .utf8))
    }
    static let bank = pair("bank")
    static let terminal = pair("terminal")
    static let stranger = pair("stranger")
    static let otherBank = pair("other-bank")
}

/// A simulated bank on a loopback port and an http-json gateway pointed at it; each test has its own.
struct HTTPBench {
    let bank: SimulatedBank
    let server: SimulatedBankServer
    let gateway: HTTPGateway
    let port: Int

    init(
        responseMilliseconds: Int = 8000, fixture: SimulatedBank.Fixture = .init(), terminalSigner: (any MessageSigner)? = nil,
        bankVerifier: (any SignatureVerifier)? = nil, fieldKey: [UInt8]? = nil
    ) async throws {
        self.bank = SimulatedBank(fixture: fixture)
        self.server = SimulatedBankServer(
            bank: self.bank,
            configuration: .init(
                signer: try RSASigner(pem: TestKeys.bank.privateKey), terminalVerifier: try RSAVerifier(pem: TestKeys.terminal.publicKey),
                fieldKey: fieldKey, lateAnswerDelay: .milliseconds(Int64(responseMilliseconds * 2))))
        self.port = try await self.server.start()
        var profile = SimulatorGateway.profile(responseMilliseconds: responseMilliseconds)
        profile.kind = "http-json"
        profile.endpoint = "http://127.0.0.1:\(self.port)"
        self.gateway = try HTTPGateway(
            profile: profile,
            credentials: .init(
                signer: try terminalSigner ?? RSASigner(pem: TestKeys.terminal.privateKey),
                bankVerifier: try bankVerifier ?? RSAVerifier(pem: TestKeys.bank.publicKey), serial: "TERM-1", fieldKey: fieldKey))
    }

    func finish() async {
        await self.gateway.shutdown()
        await self.server.stop()
    }

    var effects: Int { get async { await self.bank.ledger().reduce(0) { $0 + $1.effects } } }
}

@Suite(.timeLimit(.minutes(2))) struct HTTPGatewayTests {
    @Test func approvesOverRealHTTP() async throws {
        let bench = try await HTTPBench(fieldKey: [UInt8](repeating: 9, count: 16))
        #expect(await bench.gateway.prepare() == .ready)
        let r = try request()
        guard case .approved(let reference) = await bench.gateway.activate(r) else { Issue.record("approved"); await bench.finish(); return }
        #expect(await bench.gateway.activate(r) == .approved(bankReference: reference), "a duplicate is answered from the ledger")
        #expect(await bench.gateway.queryStatus(r.key) == .applied(bankReference: reference))
        #expect(await bench.gateway.reverse(r.key, reason: .customerCancelled) == .reversed)
        #expect(await bench.gateway.queryStatus(r.key) == .notFound)
        let ledger = await bench.bank.ledger()
        #expect(ledger.count == 1 && ledger[0].effects == 1 && ledger[0].requests == 2)
        await bench.finish()
    }

    @Test func declinesAndWeakPINsCrossTheWire() async throws {
        var fixture = SimulatedBank.Fixture()
        fixture.rules = [.init(pan: "6217000010002345678", code: "N1")]
        let bench = try await HTTPBench(fixture: fixture)
        #expect(await bench.gateway.activate(try request(pan: "6217000010002345678")) == .declined(.notEnabledByBureau, bankCode: "N1"))
        #expect(await bench.gateway.activate(try request(pin: "888888")) == .declined(.weakPIN(.repeatedDigits), bankCode: "W3"))
        #expect(await bench.effects == 0)
        await bench.finish()
    }

    @Test(arguments: [
        (BankFault.serverError, "unknown", 0), (.noAnswer, "unknown", 0), (.connectionReset, "unknown", 0),
        (.dropAfterApplying, "unknown", 1), (.answerAfterTimeout, "unknown", 1), (.malformedBody, "unknown", 1),
        (.badSignature, "unknown", 1), (.unsignedAnswer, "unknown", 1), (.delay, "approved", 1), (.duplicateAnswer, "approved", 1),
    ])
    func everyFaultKnobOverHTTP(_ fault: BankFault, _ expected: String, _ effects: Int) async throws {
        // Faults that end in a client timeout get a short one; the others a generous one (CI machines are busy).
        let bench = try await HTTPBench(responseMilliseconds: [.noAnswer, .answerAfterTimeout].contains(fault) ? 1500 : 8000)
        await bench.bank.inject(fault)
        let r = try request()
        let outcome = await bench.gateway.activate(r)
        let kind: String
        switch outcome {
        case .approved: kind = "approved"
        case .unknown: kind = "unknown"
        case .unavailable: kind = "unavailable"
        default: kind = "\(outcome)"
        }
        #expect(kind == expected, "\(fault): \(outcome)")
        #expect(await bench.effects == effects, "\(fault)")
        // Resolution by inquiry, then a retry with the same key: at most one effect, ever.
        let status = await bench.gateway.queryStatus(r.key)
        #expect((status == .notFound) == (effects == 0), "\(fault): \(status)")
        if case .approved = await bench.gateway.activate(r) {} else { Issue.record("\(fault): the retry is approved") }
        #expect(await bench.effects == 1)
        await bench.finish()
    }

    @Test func inFlightAndReusedKeys() async throws {
        var fixture = SimulatedBank.Fixture()
        fixture.processingMilliseconds = 1500
        let bench = try await HTTPBench(responseMilliseconds: 8000, fixture: fixture)
        let r = try request()
        async let first = bench.gateway.activate(r)
        try await Task.sleep(for: .milliseconds(500))
        let second = await bench.gateway.activate(r)
        guard case .unknown(let detail) = second, detail.contains("409") else { Issue.record("409: \(second)"); await bench.finish(); return }
        if case .approved = await first {} else { Issue.record("first approved") }
        guard case .unknown(let reused) = await bench.gateway.activate(try request(pan: "6217000010002345678", key: r.key)), reused.contains("422") else {
            Issue.record("422"); return
        }
        #expect(await bench.effects == 1)
        await bench.finish()
    }

    @Test func forgedAndUnsignedAnswersAreNeverTrusted() async throws {
        // The gateway expects another bank key: every answer's signature fails.
        let bench = try await HTTPBench(bankVerifier: try RSAVerifier(pem: TestKeys.otherBank.publicKey))
        guard case .unknown(let detail) = await bench.gateway.activate(try request()) else { Issue.record("forged answer"); await bench.finish(); return }
        #expect(detail.contains("signature"))
        #expect(await bench.effects == 1, "the bank applied it: the flow must resolve, not retry blindly")
        await bench.finish()
    }

    @Test func badRequestSignatureIsRefusedAndNothingApplied() async throws {
        let bench = try await HTTPBench(terminalSigner: try RSASigner(pem: TestKeys.stranger.privateKey))
        guard case .unavailable(let detail) = await bench.gateway.activate(try request()) else { Issue.record("401"); await bench.finish(); return }
        #expect(detail.contains("401"))
        #expect(await bench.bank.ledger().isEmpty)
        await bench.finish()
    }

    @Test func nobodyListeningIsUnavailable() async throws {
        let bench = try await HTTPBench()
        await bench.server.stop()
        let refused = await bench.gateway.activate(try request())
        if case .unavailable = refused {} else { Issue.record("refused connection: nothing sent: \(refused)") }
        #expect(await bench.gateway.prepare() != .ready)
        await bench.gateway.shutdown()
    }

    @Test func sm2SignaturesBothWays() async throws {
        let bankKey = try SM2.Key.generate()
        let terminalKey = try SM2.Key.generate()
        let distid = Array("1234567812345678".utf8)
        let bank = SimulatedBank()
        let server = SimulatedBankServer(
            bank: bank,
            configuration: .init(signer: SM2Signer(key: bankKey, distinguishingID: distid), terminalVerifier: SM2Verifier(key: terminalKey, distinguishingID: distid)))
        let port = try await server.start()
        var profile = SimulatorGateway.profile(responseMilliseconds: 8000)
        profile.kind = "http-json"
        profile.endpoint = "http://127.0.0.1:\(port)"
        let gateway = try HTTPGateway(
            profile: profile,
            credentials: .init(signer: SM2Signer(key: terminalKey, distinguishingID: distid), bankVerifier: SM2Verifier(key: bankKey, distinguishingID: distid), serial: "T"))
        let outcome = await gateway.activate(try request())
        if case .approved = outcome {} else { Issue.record("SM2 both ways: \(outcome)") }
        #expect(gateway.capabilities.macAlgorithm == "SM2-WITH-SM3")
        await gateway.shutdown()
        await server.stop()
    }
}
