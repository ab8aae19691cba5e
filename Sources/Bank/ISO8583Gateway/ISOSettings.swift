public import BankGateway
import Bytes
import Foundation
public import ISO8583
public import KioskCrypto

/// The `iso8583` kind's settings, read from a ``BankProfile`` and validated once; every error names the
/// profile key to fix.
///
/// Settings (all strings): `spec` (field-spec file), `masterKey` (hex) or `masterKeyFile`,
/// `keyAlgorithm` (`3des` | `sm4`), `mac` (`x9.9` | `x9.19` | `unionpay-ecb` | `sm4-pos`), `lengthPrefix`
/// (`binary` | `bcd`), `tpdu` (10 hex), `header` (12 hex, may be empty), `merchantID`, `stateFile` (STANs and
/// originals), `activationMTI`, `activationProcessingCode`, `inquiryProcessingCode` (empty: no inquiry),
/// `reversal` (`true` | `false`), `reversalAttempts`, `securityControl` (field 53), `sm4FieldKey` (32 hex: field
/// 62's ID number and name travel sealed, ``PrivateData/sealingIDAndName(key:)``).
public struct ISOSettings: Sendable {
    public var spec: MessageSpec
    public var frame: FrameFormat
    public var tpdu: [UInt8]
    public var header: [UInt8]
    public var masterKey: [UInt8]
    /// SM4 key that seals field 62's ID number and name; nil: they travel in clear (production refuses that).
    public var fieldKey: [UInt8]?
    public var keyAlgorithm: BlockCipher.Algorithm
    public var mac: MACAlgorithm
    public var terminalID: String
    public var merchantID: String
    public var stateFile: String
    public var activationMTI: String
    public var activationProcessingCode: String
    public var inquiryProcessingCode: String?
    public var supportsReversal: Bool
    public var reversalAttempts: Int
    public var securityControl: String
    public var host: String
    public var port: Int

    public init(profile: BankProfile) throws(GatewayConfigurationError) {
        let settings = profile.settings
        func value(_ name: String, default fallback: String) -> String { settings[name].flatMap { $0.isEmpty ? nil : $0 } ?? fallback }
        func hex(_ name: String, _ text: String, counts: Set<Int>) throws(GatewayConfigurationError) -> [UInt8] {
            guard text.allSatisfy(\.isHexDigit), text.count % 2 == 0, let bytes = try? Hex.decode(text), counts.contains(bytes.count) else {
                throw GatewayConfigurationError(key: "settings.\(name)", problem: "expected \(counts.sorted().map { "\($0 * 2)" }.joined(separator: " or ")) hex digits")
            }
            return bytes
        }

        let specPath = try profile.setting("spec")
        do {
            self.spec = try JSONDecoder().decode(MessageSpec.self, from: Data(contentsOf: URL(fileURLWithPath: specPath)))
        } catch {
            throw GatewayConfigurationError(key: "settings.spec", problem: "cannot read the field-spec file \(specPath): \(error)")
        }
        for field in [2, 3, 11, 12, 13, 39, 41, 42, 52, 60, 62, 64] where self.spec.fields[field] == nil {
            throw GatewayConfigurationError(key: "settings.spec", problem: "\(specPath) has no field \(field); the iso8583 gateway uses it")
        }

        switch value("keyAlgorithm", default: "3des") {
        case "3des": self.keyAlgorithm = .tripleDES
        case "sm4": self.keyAlgorithm = .sm4
        case let other: throw GatewayConfigurationError(key: "settings.keyAlgorithm", problem: "\"\(other)\" is not 3des or sm4")
        }
        let masterText: String
        if let file = settings["masterKeyFile"], !file.isEmpty {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw GatewayConfigurationError(key: "settings.masterKeyFile", problem: "cannot read \(file)")
            }
            masterText = text.trimmingCharacters(in: .whitespacesAndNewlines)
        } else {
            masterText = try profile.setting("masterKey")
        }
        self.masterKey = try hex(settings["masterKeyFile"] == nil ? "masterKey" : "masterKeyFile", masterText, counts: self.keyAlgorithm == .sm4 ? [16] : [16, 24])
        self.fieldKey = try settings["sm4FieldKey"].map { text throws(GatewayConfigurationError) in try hex("sm4FieldKey", text, counts: [16]) }

        let macName = value("mac", default: MACAlgorithm.unionPayECB.rawValue)
        guard let mac = MACAlgorithm(rawValue: macName) else {
            throw GatewayConfigurationError(key: "settings.mac", problem: "\"\(macName)\" is not one of \(MACAlgorithm.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        self.mac = mac
        let prefix = value("lengthPrefix", default: "binary")
        guard let lengthEncoding = FrameFormat.LengthEncoding(rawValue: prefix) else {
            throw GatewayConfigurationError(key: "settings.lengthPrefix", problem: "\"\(prefix)\" is not binary or bcd")
        }
        self.tpdu = try hex("tpdu", value("tpdu", default: "6000030000"), counts: [0, 5])
        self.header = settings["header"] == "" ? [] : try hex("header", value("header", default: "603100310730"), counts: [0, 6])
        self.frame = FrameFormat(lengthEncoding: lengthEncoding, tpduLength: self.tpdu.count, headerLength: self.header.count)

        guard profile.terminalID.count == 8, profile.terminalID.allSatisfy({ $0.isASCII && !$0.isWhitespace }) else {
            throw GatewayConfigurationError(key: "terminalID", problem: "field 41 takes exactly 8 characters, got \"\(profile.terminalID)\"")
        }
        self.terminalID = profile.terminalID
        self.merchantID = try profile.setting("merchantID")
        guard self.merchantID.count == 15 else {
            throw GatewayConfigurationError(key: "settings.merchantID", problem: "field 42 takes exactly 15 characters")
        }
        self.stateFile = try profile.setting("stateFile")
        self.activationMTI = value("activationMTI", default: "0100")
        self.activationProcessingCode = value("activationProcessingCode", default: "990000")
        let inquiry = settings["inquiryProcessingCode"] ?? "990001"
        self.inquiryProcessingCode = inquiry.isEmpty ? nil : inquiry
        for (name, code) in [("activationProcessingCode", self.activationProcessingCode), ("inquiryProcessingCode", inquiry)]
        where !(code.isEmpty && name == "inquiryProcessingCode") && !(code.count == 6 && code.allSatisfy(\.isNumber)) {
            throw GatewayConfigurationError(key: "settings.\(name)", problem: "a processing code is 6 digits")
        }
        guard ["0100", "0200"].contains(self.activationMTI) else {
            throw GatewayConfigurationError(key: "settings.activationMTI", problem: "0100 or 0200")
        }
        switch value("reversal", default: "true") {
        case "true": self.supportsReversal = true
        case "false": self.supportsReversal = false
        case let other: throw GatewayConfigurationError(key: "settings.reversal", problem: "\"\(other)\" is not true or false")
        }
        guard let attempts = Int(value("reversalAttempts", default: "3")), (1...20).contains(attempts) else {
            throw GatewayConfigurationError(key: "settings.reversalAttempts", problem: "a number from 1 to 20")
        }
        self.reversalAttempts = attempts
        self.securityControl = value("securityControl", default: "2600000000000000")

        guard let endpoint = profile.endpoint, let url = URL(string: endpoint), url.scheme == "tcp", let host = url.host, let port = url.port else {
            throw GatewayConfigurationError(key: "endpoint", problem: "expected tcp://host:port, got \(profile.endpoint ?? "nothing")")
        }
        self.host = host
        self.port = port
    }
}
