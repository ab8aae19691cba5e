import AsyncHTTPClient
import BankGateway
import BankHTTP
import BankSimulator
import BankSimulatorServer
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import TestSupport
import Testing

/// A private CA, a server certificate for 127.0.0.1 and a client certificate, made with the openssl CLI.
struct TestPKI {
    let directory: String

    /// Makes the PKI; the openssl runs (RSA key generation) wait on their own threads.
    static func make() async throws -> TestPKI {
        let pki = TestPKI(directory: FileManager.default.temporaryDirectory.appendingPathComponent("pki-\(UUID().uuidString)").path)
        try await pki.generate()
        return pki
    }

    private init(directory: String) { self.directory = directory }

    private func generate() async throws {
        try FileManager.default.createDirectory(atPath: self.directory, withIntermediateDirectories: true)
        try "subjectAltName=IP:127.0.0.1\n".write(toFile: self.path("server.ext"), atomically: true, encoding: .utf8)
        try "extendedKeyUsage=clientAuth\n".write(toFile: self.path("client.ext"), atomically: true, encoding: .utf8)
        for name in ["ca", "other-ca"] {
            try await self.openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(name).key", "-out", "\(name).pem", "-days", "2", "-subj", "/CN=CardKiosk test \(name)"])
        }
        for (name, cn) in [("server", "127.0.0.1"), ("client", "KIOSK001")] {
            try await self.openssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(name).key", "-out", "\(name).csr", "-subj", "/CN=\(cn)"])
            try await self.openssl([
                "x509", "-req", "-in", "\(name).csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "\(name).pem", "-days", "2",
                "-extfile", "\(name).ext",
            ])
        }
        try TestKeys.terminal.privateKey.write(toFile: self.path("terminal.key"), atomically: true, encoding: .utf8)
        try TestKeys.bank.publicKey.write(toFile: self.path("bank.pub"), atomically: true, encoding: .utf8)
    }

    func path(_ name: String) -> String { self.directory + "/" + name }

    private func openssl(_ arguments: [String]) async throws {
        let run = try await runProcess("/usr/bin/env", ["sh", "-c", "cd \"$0\" && exec openssl \"$@\"", self.directory] + arguments)
        guard run.status == 0 else { throw CocoaError(.fileWriteUnknown) }
    }

    /// The bank server's TLS: its certificate, and client certificates required, chained to the CA.
    func serverTLS() throws -> TLSConfiguration {
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(self.path("server.pem")).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: self.path("server.key"), format: .pem)))
        tls.certificateVerification = .noHostnameVerification
        tls.trustRoots = .file(self.path("ca.pem"))
        return tls
    }

    func profile(port: Int, settings extra: [String: String]) -> BankProfile {
        var profile = SimulatorGateway.profile(responseMilliseconds: 8000)
        profile.kind = "http-json"
        profile.endpoint = "https://127.0.0.1:\(port)"
        profile.settings = [
            "signingScheme": "rsa", "signingKeyFile": self.path("terminal.key"), "bankPublicKeyFile": self.path("bank.pub"), "serial": "TERM-1",
            "trustRootsFile": self.path("ca.pem"), "clientCertificateFile": self.path("client.pem"), "clientKeyFile": self.path("client.key"),
            "sm4FieldKey": "00112233445566778899AABBCCDDEEFF",
        ].merging(extra) { $1 }
        return profile
    }
}

@Suite(.timeLimit(.minutes(2))) struct MutualTLSTests {
    @Test func mutualTLSFromAProfile() async throws {
        let pki = try await TestPKI.make()
        let bank = SimulatedBank()
        let server = SimulatedBankServer(
            bank: bank,
            configuration: .init(
                signer: try RSASigner(pem: TestKeys.bank.privateKey), terminalVerifier: try RSAVerifier(pem: TestKeys.terminal.publicKey),
                tls: try pki.serverTLS(), fieldKey: Array([0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0xFF])))
        let port = try await server.start()

        // With the client certificate: approved, the ID number sealed on the way.
        let gateway = try HTTPGateway(profile: pki.profile(port: port, settings: [:]))
        let outcome = await gateway.activate(try request())
        await gateway.shutdown()
        if case .approved = outcome {} else { Issue.record("approved over mutual TLS: \(outcome)") }

        // Without a client certificate the handshake fails: nothing was sent.
        var noCertificate = pki.profile(port: port, settings: [:])
        noCertificate.settings["clientCertificateFile"] = nil
        noCertificate.settings["clientKeyFile"] = nil
        let anonymous = try HTTPGateway(profile: noCertificate)
        let anonymousOutcome = await anonymous.activate(try request())
        await anonymous.shutdown()
        if case .unavailable = anonymousOutcome {} else { Issue.record("no client certificate: \(anonymousOutcome)") }

        // A server certificate from another CA is not trusted.
        let distrustful = try HTTPGateway(profile: pki.profile(port: port, settings: ["trustRootsFile": pki.path("other-ca.pem")]))
        let distrustfulOutcome = await distrustful.activate(try request())
        await distrustful.shutdown()
        if case .unavailable = distrustfulOutcome {} else { Issue.record("untrusted server: \(distrustfulOutcome)") }

        #expect(await bank.ledger().count == 1)
        await server.stop()
    }

    @Test func profileMistakesNameTheSetting() async throws {
        let pki = try await TestPKI.make()
        func key(_ settings: [String: String], endpoint: String? = nil) async -> String? {
            var profile = pki.profile(port: 1, settings: settings)
            if let endpoint { profile.endpoint = endpoint }
            do {
                await (try HTTPGateway(profile: profile)).shutdown()
                return nil
            } catch {
                return error.key
            }
        }
        #expect(await key(["signingScheme": "md5"]) == "settings.signingScheme")
        #expect(await key(["signingString": "icbc-sorted-params"]) == "settings.signingString")
        #expect(await key(["signingKeyFile": "/nonexistent.pem"]) == "settings.signingKeyFile")
        #expect(await key(["signingKeyFile": pki.path("ca.pem")]) == "settings.signingKeyFile")
        #expect(await key(["sm4FieldKey": "1234"]) == "settings.sm4FieldKey")
        #expect(await key([:], endpoint: "tcp://127.0.0.1:1") == "endpoint")
        // Plain http:// only to this machine: a bank simulator on loopback.
        for remote in ["http://bank.example:8080", "http://10.0.0.5:8080", "http://128.0.0.1", "http://[2001:db8::1]:80", "http://127.0.0.1.example.com"] {
            #expect(await key([:], endpoint: remote) == "endpoint", "\(remote)")
        }
        for loopback in ["http://127.0.0.1:1", "http://127.8.9.10:1/", "http://localhost:1", "http://[::1]:1"] {
            #expect(await key([:], endpoint: loopback) == nil, "\(loopback)")
        }
        var halfTLS = pki.profile(port: 1, settings: [:])
        halfTLS.settings["clientKeyFile"] = nil
        #expect(throws: GatewayConfigurationError(key: "settings.clientKeyFile", problem: "")) { try HTTPGateway(profile: halfTLS) }
    }
}

@Suite(.timeLimit(.minutes(2))) struct RegistryAndReplayTests {
    @Test func theProfileKindPicksTheImplementation() async throws {
        let pki = try await TestPKI.make()
        var registry = GatewayRegistry()
        registry.registerHTTPJSON()
        registry.registerSimulator(bank: SimulatedBank())
        #expect(registry.kinds == ["http-json", "simulator"])
        let http = try registry.makeGateway(for: pki.profile(port: 1, settings: [:]))
        #expect(http is HTTPGateway)
        await (http as? HTTPGateway)?.shutdown()
        #expect(try registry.makeGateway(for: SimulatorGateway.profile()) is SimulatorGateway)
    }

    @Test func aReplayedRequestIsRefusedByTheBank() async throws {
        let bench = try await HTTPBench()
        // Sign one request by hand and send it twice, byte for byte.
        let signer = try RSASigner(pem: TestKeys.terminal.privateKey)
        let timestamp = Int(Date().timeIntervalSince1970)
        let nonce = BankWire.nonce()
        let path = "\(BankWire.activationsPath)/ck-replay-test-key"
        let signature = try signer.sign(SigningString.request(method: "GET", pathAndQuery: path, timestamp: timestamp, nonce: nonce, body: []))
        let header = BankWire.Authorization(
            algorithm: signer.algorithm, terminal: "KIOSK001", nonce: nonce, timestamp: timestamp, serial: "T", signature: Data(signature).base64EncodedString()
        ).header
        var statuses: [Int] = []
        for _ in 0..<2 {
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(bench.port)\(path)")
            request.headers.add(name: "Authorization", value: header)
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
            statuses.append(Int(response.status.code))
        }
        #expect(statuses == [200, 401])
        await bench.finish()
    }
}
