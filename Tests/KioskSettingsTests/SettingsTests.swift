import Foundation
import KioskSettings
import TestSupport
import Testing

@Suite("kioskd settings: YAML, environment, validation")
struct SettingsTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Config/kioskd.yaml with its bank profile pointed at a file that exists here.
    func sample() throws -> String {
        let text = try String(contentsOf: Self.repository.appendingPathComponent("Config/kioskd.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "/etc/cardkiosk/bank-profile.json", with: Self.repository.appendingPathComponent("Config/bank-profiles/simulator.json").path)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("kioskd-\(UUID().uuidString).yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("Config/kioskd.yaml loads; KIOSKD_* variables override it")
    func load() async throws {
        let path = try self.sample()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let settings = try await KioskSettings.load(file: path, fileRequired: true, environment: [:])
        #expect(settings.cardReader == "Generic Smart Card Reader Interface [Contact] 00 00")
        #expect(settings.idDevice == "/dev/ttyUSB0" && settings.idBaudRate == 115_200)
        #expect(settings.timeouts.pinEntry == 45 && settings.journalRetentionDays == 400)
        let overridden = try await KioskSettings.load(
            file: path, fileRequired: true, environment: ["KIOSKD_READERS_CARD": "Other 00 00", "KIOSKD_TIMEOUTS_CONFIRM": "30", "KIOSKD_SOCKET_ALLOW_UIDS": "1000,1001"])
        #expect(overridden.cardReader == "Other 00 00" && overridden.timeouts.confirm == 30)
        #expect(overridden.allowedUIDs == [1000, 1001])
        // No file at all: the defaults, under systemd's directories.
        let defaults = try await KioskSettings.load(file: "/nonexistent/kioskd.yaml", fileRequired: false, environment: ["STATE_DIRECTORY": "/var/lib/kioskd", "RUNTIME_DIRECTORY": "/run/kioskd"])
        #expect(defaults.journalPath == "/var/lib/kioskd/journal.sqlite" && defaults.socketPath == "/run/cardkiosk/kiosk.sock" && defaults.cardReader == nil)
        #expect(defaults.journalHashKeyFile == nil, "the journal's own default: its path + .hashkey")
    }

    @Test("the journal's hash key: the setting, else the systemd credential journal-hash-key, else the journal's default")
    func journalHashKey() async throws {
        let credentials = FileManager.default.temporaryDirectory.appendingPathComponent("creds-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: credentials, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: credentials) }
        let none = try await KioskSettings.load(file: nil, fileRequired: false, environment: ["CREDENTIALS_DIRECTORY": credentials])
        #expect(none.journalHashKeyFile == nil, "no credential file: none")
        _ = FileManager.default.createFile(atPath: credentials + "/journal-hash-key", contents: Data("00\n".utf8))
        let credential = try await KioskSettings.load(file: nil, fileRequired: false, environment: ["CREDENTIALS_DIRECTORY": credentials])
        #expect(credential.journalHashKeyFile == credentials + "/journal-hash-key")
        let explicit = try await KioskSettings.load(
            file: nil, fileRequired: false, environment: ["CREDENTIALS_DIRECTORY": credentials, "KIOSKD_JOURNAL_HASH_KEY_FILE": "/etc/cardkiosk/journal.key"])
        #expect(explicit.journalHashKeyFile == "/etc/cardkiosk/journal.key")
        #expect(explicit.rendered.contains("/etc/cardkiosk/journal.key"))
    }

    @Test("a bad value stops with the key and the fix", arguments: [
        ("KIOSKD_TIMEOUTS_CONFIRM", "2", "timeouts.confirm"), ("KIOSKD_PIN_PAD_KIND", "vendor-x", "pinPad.kind"),
        ("KIOSKD_IDENTITY_VERIFIER", "maybe", "identityVerifier"), ("KIOSKD_ID_MODULE_BAUD_RATE", "1234", "idModule.baudRate"),
        ("KIOSKD_LOGGING_LEVEL", "loud", "logging.level"), ("KIOSKD_BANK_PROFILE", "/nonexistent.json", "bank.profile"),
        ("KIOSKD_JOURNAL_PATH", "relative.sqlite", "journal.path"), ("KIOSKD_TIMEOUTS_WARNING", "500", "timeouts.cards"),
        ("KIOSKD_MODE", "staging", "mode"),
    ])
    func badValue(variable: String, value: String, key: String) async throws {
        let path = try self.sample()
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            _ = try await KioskSettings.load(file: path, fileRequired: true, environment: [variable: value])
            Issue.record("\(variable)=\(value) accepted")
        } catch {
            #expect(error.key == key)
            #expect(!error.fix.isEmpty)
        }
    }

    @Test("kioskd --check-config prints the resolved settings, exits 0 in test mode (78 with the refusals in production); a bad file exits 78 naming the key")
    func checkConfig() async throws {
        let path = try self.sample()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let good = try await runProduct("kioskd", ["--check-config", "--config", path, "--test"])
        #expect(good.status == 0 && good.output.contains("readers.card: Generic Smart Card Reader Interface [Contact] 00 00"))
        // The sample's simulated verifier and bank: production names each and refuses. Its PIN pad is the EPP
        // service on this machine, which production accepts.
        let production = try await runProduct("kioskd", ["--check-config", "--config", path])
        #expect(production.status == 78 && production.output.contains("readers.card: Generic Smart Card Reader Interface [Contact] 00 00"))
        for key in ["identityVerifier", "bank.profile"] { #expect(production.output.contains("production refuses: configuration \(key):"), "\(key)") }
        #expect(!production.output.contains("production refuses: configuration pinPad"))
        #expect(production.output.contains("pinPad.kind: xfs4iot") && production.output.contains("pinPad.url: ws://127.0.0.1:5846/xfs4iot/v1.0/PinPad1/"))
        let bad = try await runProcess("/usr/bin/env", ["KIOSKD_TIMEOUTS_PIN_ENTRY=1", productPath("kioskd"), "--check-config", "--config", path])
        #expect(bad.status == 78 && bad.error.contains("timeouts.pinEntry"))
        let missing = try await runProduct("kioskd", ["--check-config", "--config", "/nonexistent/kioskd.yaml"])
        #expect(missing.status == 78)
    }
}
