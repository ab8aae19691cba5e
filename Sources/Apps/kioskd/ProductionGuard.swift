import BankGateway
import BankSimulator
import Bytes
import Crypto
import Foundation
import KioskSettings

/// What production mode refuses to start on: anything simulated, any published test key, any way for a
/// test harness to type on the kiosk's behalf. Each refusal names the setting and the fix, so an installer
/// reading `kioskd --check-config` (or the journal after a failed start) knows what to change.
///
/// Test mode (`--mock`, `--test`, `mode: test`, `KIOSKD_MODE=test`) skips these checks and says so
/// everywhere it shows instead: the log's first line, `Common.Status`'s `mode`, every
/// `Activation.ResultEvent`'s `test`, and `kioskctl status`.
struct ProductionGuard {
    /// What kioskd was asked to run with.
    struct Request {
        var settings: KioskSettings
        /// The bank profile file in force (`--bank-profile` or `bank.profile`), nil for none.
        var profilePath: String?
        var profile: BankProfile?
        /// The simulated devices' control socket, when `--sim-control` was given.
        var simControl: String?
        /// `--identity-verifier`, which overrides the setting.
        var identityVerifier: String?
    }

    /// Every reason production refuses `request`, in the order an installer fixes them; empty when it may start.
    static func refusals(_ request: Request) -> [SettingsError] {
        var refusals: [SettingsError] = []
        func refuse(_ key: String, _ problem: String, _ fix: String) { refusals.append(SettingsError(key: key, problem: problem, fix: fix)) }
        let testModeHint = " (for a test set-up: kioskd --test, or mode: test)"

        if request.settings.configurationFile == nil {
            refuse("(file)", "no configuration file was read", "install /etc/cardkiosk/kioskd.yaml (from Config/kioskd.yaml) or pass --config" + testModeHint)
        }
        if request.simControl != nil {
            refuse("--sim-control", "the simulated devices' control socket would let a local process type PIN digits and place cards", "remove --sim-control" + testModeHint)
        }
        if request.settings.pinPad == "simulated" {
            refuse(
                "pinPad.kind", "the simulated PIN pad holds the clear PIN and a published test PIN key",
                "set pinPad.kind: xfs4iot and pinPad.url to the kiosk's EPP service (Firmware-notes/epp.md)" + testModeHint)
        }
        if let host = request.settings.pinPadDiscoverHost, !["127.0.0.1", "localhost", "::1"].contains(host) {
            refuse("pinPad.discoverHost", "\(host) is another machine: XFS4IoT discovery has no authentication, so anyone on the network could pose as the EPP", "set pinPad.url to the EPP's wss:// service instead")
        }
        if request.settings.pinPad == "xfs4iot", request.settings.pinPadDiscoverHost == nil, let url = request.settings.pinPadURL, url.hasPrefix("ws://"),
            !["ws://127.0.0.1", "ws://localhost", "ws://[::1]"].contains(where: { url.hasPrefix($0 + ":") || url.hasPrefix($0 + "/") })
        {
            refuse("pinPad.url", "\(url) is plain ws:// to another machine: key loading and PIN blocks would cross the network unprotected", "use wss:// (the EPP service is the TLS server) or an EPP service on this machine")
        }
        let verifier = request.identityVerifier ?? request.settings.identityVerifier
        if verifier.hasPrefix("simulated") {
            refuse(
                "identityVerifier", "\(verifier) decides without comparing the customer with the document",
                "configure the outlet's identity verification service (face comparison or clerk)" + testModeHint)
        }
        guard let path = request.profilePath, let profile = request.profile else {
            refuse("bank.profile", "no bank profile is configured: activations would go to the in-process simulated bank", "set bank.profile to the bank's profile (Config/bank-profiles)" + testModeHint)
            return refusals
        }
        if profile.kind == "simulator" {
            refuse("bank.profile", "\(path) is the simulated bank (kind simulator)", "use the bank's http-json or iso8583 profile" + testModeHint)
        }
        if profile.settings["testOnly"] == "true" {
            refuse("bank.profile", "\(path) was written by kiosk-bank-sim for tests (settings.testOnly)", "use the profile the bank issued" + testModeHint)
        }
        if profile.kind == "http-json", profile.settings["signingString"] == "wechat-v3" {
            refuse(
                "bank.profile settings.signingString", "\(path) accepts answers signed over timestamp, nonce and body only (wechat-v3): a captured answer could be replayed to another request",
                "use cardkiosk-v1 (the default): the bank signs the status, the idempotency key and the request's nonce too (Config/README.md)")
        }
        if profile.kind == "iso8583", profile.settings["sm4FieldKey", default: ""].isEmpty {
            refuse(
                "bank.profile settings.sm4FieldKey", "\(path) would send field 62's ID number and name in clear over the ISO 8583 link",
                "set sm4FieldKey to the field-encryption key the bank issued (32 hex digits; Config/README.md)")
        }
        if profile.kind == "iso8583", profile.settings["mac", default: ""].lowercased() == "x9.9" {
            refuse(
                "bank.profile settings.mac", "\(path) asks for the x9.9 MAC: single DES, whose 56-bit key is searched exhaustively in hours",
                "use the MAC the bank specifies for this link (x9.19, unionpay-ecb or sm4-pos)")
        }
        for name in profile.settings.keys.sorted() {
            let value = profile.settings[name]!
            if Self.isSecretFile(setting: name), let mode = Self.permissions(of: value), mode & 0o077 != 0 {
                refuse(
                    "bank.profile settings.\(name)", "\(value) is readable by its group or others (mode \(String(mode, radix: 8)))",
                    "chmod 600 \(value) (owner kioskd)")
            }
            if PublishedTestKeys.isPublished(hex: value) {
                refuse("bank.profile settings.\(name)", "\(path) holds a published test key", "load the key the bank issued for this terminal")
            } else if name.hasSuffix("File"), let contents = FileManager.default.contents(atPath: value), contents.count < 1 << 16,
                PublishedTestKeys.isPublished(file: contents)
            {
                refuse("bank.profile settings.\(name)", "\(value) is a published test key", "install the key the bank issued for this terminal")
            }
        }
        return refusals
    }

    /// Settings that name a file holding a secret key (`signingKeyFile`, `clientKeyFile`, `masterKeyFile`, …);
    /// public material (`bankPublicKeyFile`, certificates, trust roots) may be world-readable.
    static func isSecretFile(setting name: String) -> Bool {
        name.hasSuffix("KeyFile") && !name.lowercased().contains("public")
    }

    /// The permission bits of the file at `path` (following links), nil when it cannot be read.
    static func permissions(of path: String) -> mode_t? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return info.st_mode & 0o7777
    }
}

/// Keys published in this repository, its documentation and the public test vectors it cites: anyone has
/// them, so no production terminal may use them.
enum PublishedTestKeys {
    /// Hex keys (compared without case or spaces): the simulated bank's and PIN pad's PIN key, then the vectors.
    static let hex: Set<String> = Set([SimulatedBank.Fixture().pinKey.uppercased(), SimulatedBank.Fixture.testMasterKey]).union([
        "0123456789ABCDEFFEDCBA9876543210",  // the SM4 standard vector (gateway.md V10)
        "00112233445566778899AABBCCDDEEFF",  // the example profile's SM4 field key
        "0723C80DB5F4CD3D0723C80DB5F4CD3D",  // gateway.md V4 MAK
        "CA5D92598DCA48CE8A4C76361A9269E9",  // gateway.md V5 TMK
        "807A23AD32B36D457AE91FDF927570EA",  // gateway.md V5 PIK
        "5BB5C72CD00B7338",  // gateway.md V5 MAK
        "4141414141414141", "4242424242424242", "41414141414141414242424242424242",  // gateway.md V8
    ])

    /// SHA-256 of the test key files in Tests/Fixtures/bank/keys (bank, other-bank, stranger, terminal).
    static let fileDigests: Set<String> = [
        "2e51b8514461db3c0fdfbf7f82e2f1c07d6673ec52306d0d189738f48a97e0a2",
        "b11866f6cfb2b463132e585bab003e0c6b9372be29abcf91451a25f37ae4bbe6",
        "429c017fc757c2f68686a47cb0321c7b28bf7c8d28e0e1f746ab9d0f9810916a",
        "4f28f0d43744ca8ee5f8f6d2c382b79d828dc9a9f948ceba7e0bd3108db8e2d1",
    ]

    /// A published hex key, or a degenerate one (every byte the same: all zeros, `11…`).
    static func isPublished(hex value: String) -> Bool {
        let digits = value.uppercased().filter { !$0.isWhitespace }
        guard digits.count >= 16, digits.count % 2 == 0, digits.allSatisfy(\.isHexDigit) else { return false }
        if self.hex.contains(digits) { return true }
        let first = digits.prefix(2)
        return stride(from: 0, to: digits.count, by: 2).allSatisfy { digits.dropFirst($0).prefix(2) == first }
    }

    /// A published key file (byte for byte), or a file that holds a published hex key (`tmk.hex`).
    static func isPublished(file contents: Data) -> Bool {
        let digest = Hex.encode(Array(SHA256.hash(data: contents))).lowercased()
        if self.fileDigests.contains(digest) { return true }
        guard let text = String(data: contents, encoding: .utf8) else { return false }
        return self.isPublished(hex: text)
    }
}
