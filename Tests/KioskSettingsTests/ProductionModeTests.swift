import Foundation
import TestSupport
import Testing

/// Production fails closed: kioskd refuses to start on anything simulated, any published test key or the
/// simulated devices' control socket, exits 78 and names each setting; test mode starts and says so.
@Suite("kioskd production mode refuses simulated parts and test keys; test mode says TEST")
struct ProductionModeTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// A directory with a configuration (card reader, ID device and the given bank profile), removed at the end.
    struct Site {
        let directory: String
        init() throws {
            self.directory = FileManager.default.temporaryDirectory.appendingPathComponent("prod-\(UUID().uuidString.prefix(8))").path
            try FileManager.default.createDirectory(atPath: self.directory, withIntermediateDirectories: true)
        }
        func file(_ name: String, _ text: String) throws -> String {
            let path = self.directory + "/" + name
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        /// kioskd.yaml; `extra` is appended as is.
        func config(profile: String?, extra: String = "") throws -> String {
            var text = "readers:\n  card: \"Reader 00 00\"\nidModule:\n  device: /dev/null\n"
            if let profile { text += "bank:\n  profile: \(profile)\n" }
            return try self.file("kioskd.yaml", text + extra)
        }
        /// An http-json profile with these settings.
        func httpProfile(_ settings: [String: String], kind: String = "http-json") throws -> String {
            let body = try JSONSerialization.data(withJSONObject: [
                "name": "Bank", "kind": kind, "bankCode": "B", "terminalID": "T1", "endpoint": "https://bank.example:8443",
                "timeouts": ["connectMilliseconds": 3000, "responseMilliseconds": 30000], "resultCodes": [:], "settings": settings,
            ])
            return try self.file("profile-\(UUID().uuidString.prefix(6)).json", String(decoding: body, as: UTF8.self))
        }
        /// A key file of fresh random bytes (no published key), with permission bits `mode`.
        func randomKeyFile(mode: mode_t = 0o600) throws -> String {
            let path = try self.file("own-\(UUID().uuidString.prefix(6)).hex", (0..<16).map { _ in String(format: "%02X", UInt8.random(in: 0...255)) }.joined() + "\n")
            chmod(path, mode)
            return path
        }
        func remove() { try? FileManager.default.removeItem(atPath: self.directory) }
    }

    /// `kioskd --check-config` and a real start, both refused with exit 78; returns the refused keys' text.
    func refused(_ arguments: [String], environment: [String] = []) async throws -> String {
        let check = try await runProcess("/usr/bin/env", environment + [productPath("kioskd"), "--check-config"] + arguments)
        #expect(check.status == 78, "check-config: \(check.output)\(check.error)")
        #expect(check.output.contains("effective mode: production"))
        let start = try await runProcess("/usr/bin/env", environment + [productPath("kioskd"), "--socket", "/nonexistent-dir/kiosk.sock"] + arguments)
        #expect(start.status == 78, "start: \(start.error)")
        #expect(start.error.contains("production mode refuses to start"), "\(start.error)")
        return check.output + "\n" + start.error
    }

    @Test("everything simulated: the identity verifier and the missing bank profile are each named; the EPP on this machine is not")
    func simulatedPartsAreNamed() async throws {
        let site = try Site()
        defer { site.remove() }
        let text = try await self.refused(["--config", try site.config(profile: nil)])
        #expect(!text.contains("configuration pinPad"), "the default PIN pad is the EPP service on this machine")
        #expect(text.contains("configuration identityVerifier: simulated-accept"))
        #expect(text.contains("configuration bank.profile: no bank profile is configured"))
        #expect(!text.contains("configuration (file)"), "the file was read")
        #expect(!text.contains("--sim-control"))
    }

    @Test("the PIN pad: no simulated kind exists any more (78, in every mode); plain ws:// to another machine is refused in production, wss:// is not")
    func pinPadSettings() async throws {
        let site = try Site()
        defer { site.remove() }
        for mode in [[], ["--test"]] {
            let simulated = try await runProduct("kioskd", ["--check-config", "--config", try site.config(profile: nil, extra: "pinPad:\n  kind: simulated\n")] + mode)
            #expect(simulated.status == 78 && simulated.error.contains("configuration pinPad.kind:") && simulated.error.contains("use xfs4iot"), "\(simulated.error)")
        }
        let remote = try await self.refused(["--config", try site.config(profile: nil, extra: "pinPad:\n  url: ws://10.1.2.3:5846/xfs4iot/v1.0/PinPad1/\n")])
        #expect(remote.contains("configuration pinPad.url: ws://10.1.2.3:5846/xfs4iot/v1.0/PinPad1/ is plain ws:// to another machine"), "\(remote)")
        let tls = try await self.refused(["--config", try site.config(profile: nil, extra: "pinPad:\n  url: wss://epp.kiosk.local:5846/xfs4iot/v1.0/PinPad1/\n")])
        #expect(!tls.contains("configuration pinPad"), "\(tls)")
        let discovery = try await self.refused(["--config", try site.config(profile: nil, extra: "pinPad:\n  discoverHost: 10.1.2.3\n")])
        #expect(discovery.contains("configuration pinPad.discoverHost: 10.1.2.3 is another machine"), "\(discovery)")
        let localDiscovery = try await self.refused(["--config", try site.config(profile: nil, extra: "pinPad:\n  discoverHost: 127.0.0.1\n")])
        #expect(!localDiscovery.contains("configuration pinPad") && localDiscovery.contains("pinPad.discoverHost: 127.0.0.1"), "\(localDiscovery)")
        let names = try await runProduct("kioskd", ["--check-config", "--test", "--config", try site.config(profile: nil, extra: "pinPad:\n  rotation: alternate\n")])
        #expect(names.status == 78 && names.error.contains("configuration pinPad.pinKeyNames:"), "\(names.error)")
    }

    @Test("no configuration file at all is refused (the default path, when this machine has none)")
    func missingConfigurationFile() async throws {
        try #require(!FileManager.default.fileExists(atPath: "/etc/cardkiosk/kioskd.yaml"), "this machine has a kioskd.yaml")
        let text = try await self.refused([])
        #expect(text.contains("configuration (file): no configuration file was read"))
    }

    @Test("the simulated bank, a kiosk-bank-sim profile, published keys inline and in key files are named; the bank's own keys are not")
    func bankProfiles() async throws {
        let site = try Site()
        defer { site.remove() }
        let own = try site.randomKeyFile()
        let simulated = try await self.refused(["--config", try site.config(profile: Self.repository.appendingPathComponent("Config/bank-profiles/simulator.json").path)])
        #expect(simulated.contains("bank.profile:") && simulated.contains("is the simulated bank (kind simulator)"))

        let unbound = try await self.refused(["--config", try site.config(profile: try site.httpProfile(["signingKeyFile": own, "signingString": "wechat-v3"]))])
        #expect(unbound.contains("configuration bank.profile settings.signingString:") && unbound.contains("replayed"), "\(unbound)")

        let simWritten = try await self.refused(["--config", try site.config(profile: try site.httpProfile(["signingKeyFile": own, "testOnly": "true"]))])
        #expect(simWritten.contains("written by kiosk-bank-sim for tests (settings.testOnly)"))

        let example = Self.repository.appendingPathComponent("Config/bank-profiles/http-json.example.json").path
        let inline = try await self.refused(["--config", try site.config(profile: example)])
        #expect(inline.contains("configuration bank.profile settings.sm4FieldKey:") && inline.contains("holds a published test key"))

        let tmk = try site.file("tmk.hex", "CA5D9259 8DCA48CE 8A4C7636 1A9269E9\n")  // gateway.md V5, spaced
        let fixtureKey = Self.repository.appendingPathComponent("Tests/Fixtures/bank/keys/terminal.key").path
        let files = try await self.refused([
            "--config", try site.config(profile: try site.httpProfile(["signingKeyFile": fixtureKey, "masterKeyFile": tmk, "bankPublicKeyFile": own, "pinKey": "0000000000000000"])),
        ])
        #expect(files.contains("configuration bank.profile settings.signingKeyFile: \(fixtureKey) is a published test key"))
        #expect(files.contains("configuration bank.profile settings.masterKeyFile: \(tmk) is a published test key"))
        #expect(files.contains("configuration bank.profile settings.pinKey:"), "a degenerate key (all zeros)")
        #expect(!files.contains("settings.bankPublicKeyFile"), "a key of the bank's own is not refused")

        // The bank's own profile: nothing about it is refused (this build still lacks a real identity verifier).
        let good = try await self.refused(["--config", try site.config(profile: try site.httpProfile(["signingKeyFile": own, "sm4FieldKey": "8F3A0C11D2E94B7765A1C0FFEE123457"]))])
        #expect(!good.contains("configuration bank.profile"), "\(good)")
        #expect(good.contains("identityVerifier"))

        // A secret key file its group or others can read is refused; a public key may be world-readable.
        let open = try site.randomKeyFile(mode: 0o640)
        let readable = try await self.refused(["--config", try site.config(profile: try site.httpProfile(["signingKeyFile": open, "bankPublicKeyFile": try site.randomKeyFile(mode: 0o644)]))])
        #expect(readable.contains("configuration bank.profile settings.signingKeyFile: \(open) is readable by its group or others (mode 640)"), "\(readable)")
        #expect(readable.contains("chmod 600 \(open)"))
        #expect(!readable.contains("settings.bankPublicKeyFile"), "\(readable)")
    }

    @Test("an ISO 8583 profile with the single-DES x9.9 MAC is refused; x9.19 is not")
    func singleDESMAC() async throws {
        let site = try Site()
        defer { site.remove() }
        let weak = try await self.refused(["--config", try site.config(profile: try site.httpProfile(["mac": "x9.9", "masterKeyFile": try site.randomKeyFile()], kind: "iso8583"))])
        #expect(weak.contains("configuration bank.profile settings.mac:") && weak.contains("x9.9 MAC: single DES"), "\(weak)")
        #expect(weak.contains("configuration bank.profile settings.sm4FieldKey:") && weak.contains("in clear"), "field 62 unsealed: \(weak)")
        let strong = try await self.refused([
            "--config", try site.config(profile: try site.httpProfile(["mac": "x9.19", "masterKeyFile": try site.randomKeyFile(), "sm4FieldKey": "8F3A0C11D2E94B7765A1C0FFEE123457"], kind: "iso8583")),
        ])
        #expect(!strong.contains("settings.mac") && !strong.contains("settings.sm4FieldKey"), "\(strong)")
    }

    @Test("plain http:// to a bank off this machine exits 78 in any mode; http:// on loopback passes the gateway")
    func plainHTTPOnlyOnLoopback() async throws {
        let site = try Site()
        defer { site.remove() }
        let keys = Self.repository.appendingPathComponent("Tests/Fixtures/bank/keys").path
        func profile(_ endpoint: String) throws -> String {
            let body = try JSONSerialization.data(withJSONObject: [
                "name": "Bank", "kind": "http-json", "bankCode": "B", "terminalID": "T1", "endpoint": endpoint,
                "timeouts": ["connectMilliseconds": 3000, "responseMilliseconds": 30000], "resultCodes": [:],
                "settings": ["signingScheme": "rsa", "signingKeyFile": keys + "/terminal.key", "bankPublicKeyFile": keys + "/bank.pub", "serial": "01"],
            ])
            return try site.file("http-\(UUID().uuidString.prefix(6)).json", String(decoding: body, as: UTF8.self))
        }
        let remote = try await runProduct("kioskd", ["--test", "--check-config", "--config", try site.config(profile: try profile("http://10.0.0.5:8080"))])
        #expect(remote.status == 78, "\(remote.output) \(remote.error)")
        #expect(remote.output.contains("error: bank profile") && remote.output.contains("plain http:// to a host that is not this machine"), "\(remote.output)")
        let start = try await runProduct("kioskd", ["--test", "--socket", site.directory + "/k.sock", "--config", try site.config(profile: try profile("http://bank.example"))])
        #expect(start.status == 78 && start.error.contains("endpoint"), "\(start.error)")
        let loopback = try await runProduct("kioskd", ["--test", "--check-config", "--config", try site.config(profile: try profile("http://127.0.0.1:8080"))])
        #expect(loopback.status == 0, "\(loopback.output) \(loopback.error)")
    }

    @Test("--sim-control is refused in production")
    func simulatorControl() async throws {
        let site = try Site()
        defer { site.remove() }
        let text = try await self.refused(["--config", try site.config(profile: nil), "--sim-control", site.directory + "/sim.sock"])
        #expect(text.contains("configuration --sim-control:"))
        #expect(!FileManager.default.fileExists(atPath: site.directory + "/sim.sock"), "no control socket is created before the refusal")
    }

    @Test("the same settings in test mode (--test, mode: test, KIOSKD_MODE=test, --mock) pass and say TEST")
    func testModeAccepts() async throws {
        let site = try Site()
        defer { site.remove() }
        let config = try site.config(profile: nil)
        for (environment, arguments) in [([String](), ["--test"]), (["KIOSKD_MODE=test"], []), ([], ["--mock"])] {
            let run = try await runProcess("/usr/bin/env", environment + [productPath("kioskd"), "--check-config", "--config", config, "--sim-control", "/tmp/x.sock"] + arguments)
            #expect(run.status == 0, "\(environment) \(arguments): \(run.error)")
            #expect(run.output.contains("effective mode: test (TEST MODE"))
            #expect(!run.output.contains("production refuses"))
        }
        let yaml = try await runProduct("kioskd", ["--check-config", "--config", try site.config(profile: nil, extra: "mode: test\n")])
        #expect(yaml.status == 0 && yaml.output.contains("mode: test"), "\(yaml.error)")
        let typo = try await runProcess("/usr/bin/env", ["KIOSKD_MODE=staging", productPath("kioskd"), "--check-config", "--config", config])
        #expect(typo.status == 78 && typo.error.contains("configuration mode:"), "\(typo.error)")
    }
}
