import Bytes
import Foundation

/// The HTTP/JSON bank API the `http-json` gateway speaks and the simulated bank serves. Modelled on the
/// WeChat Pay v3 conventions (`gateway.md` §2.1): JSON bodies, an `Authorization` header carrying the
/// signature over the five-line signing string, signed responses, `Idempotency-Key` on every request.
///
///     POST /v1/activations                   ActivationBody → ResultBody (200), 409 in flight, 422 key reused
///     GET  /v1/activations/{key}             → ResultBody (code 25 = not found)
///     POST /v1/activations/{key}/reversal    → ResultBody (00 reversed, 25 nothing applied)
///     POST /v1/verifications                 VerifyBody → ResultBody
public enum BankWire {
    public static let activationsPath = "/v1/activations"
    public static let verificationsPath = "/v1/verifications"

    public static let timestampHeader = "Bank-Timestamp"
    public static let nonceHeader = "Bank-Nonce"
    public static let signatureHeader = "Bank-Signature"
    public static let serialHeader = "Bank-Serial"

    public struct ActivationBody: Codable, Hashable, Sendable {
        public var key: String
        public var terminal: String
        public var pan: String
        public var panSequence: Int?
        public var name: String
        public var idType: Int
        /// In clear only when the profile does not ask for encryption.
        public var idNumber: String?
        /// base64(IV ‖ SM4-CBC) when the profile asks (`settings.sm4FieldKey`).
        public var idNumberSealed: String?
        /// Hex of the encrypted PIN block.
        public var pinBlock: String
        public var pinFormat: String
        public var pinKey: String

        public init(
            key: String, terminal: String, pan: String, panSequence: Int?, name: String, idType: Int, idNumber: String?,
            idNumberSealed: String?, pinBlock: String, pinFormat: String, pinKey: String
        ) {
            self.key = key
            self.terminal = terminal
            self.pan = pan
            self.panSequence = panSequence
            self.name = name
            self.idType = idType
            self.idNumber = idNumber
            self.idNumberSealed = idNumberSealed
            self.pinBlock = pinBlock
            self.pinFormat = pinFormat
            self.pinKey = pinKey
        }
    }

    public struct VerifyBody: Codable, Hashable, Sendable {
        public var terminal: String
        public var pan: String
        public var name: String
        public var idType: Int
        public var idNumber: String?
        public var idNumberSealed: String?
    }

    public struct ResultBody: Codable, Hashable, Sendable {
        public var code: String
        public var bankReference: String?
        public var triesLeft: Int?
        public var message: String?

        public init(code: String, bankReference: String? = nil, triesLeft: Int? = nil, message: String? = nil) {
            self.code = code
            self.bankReference = bankReference
            self.triesLeft = triesLeft
            self.message = message
        }
    }

    /// `Authorization: CKBANK2-<ALG> terminal="…",nonce="…",timestamp="…",serial="…",signature="…"`
    /// (WeChat's `WECHATPAY2-…` form with `terminal` for `mchid`).
    public struct Authorization: Hashable, Sendable {
        public var algorithm: String
        public var terminal: String
        public var nonce: String
        public var timestamp: Int
        public var serial: String
        /// base64.
        public var signature: String

        public init(algorithm: String, terminal: String, nonce: String, timestamp: Int, serial: String, signature: String) {
            self.algorithm = algorithm
            self.terminal = terminal
            self.nonce = nonce
            self.timestamp = timestamp
            self.serial = serial
            self.signature = signature
        }

        public var header: String {
            "CKBANK2-\(self.algorithm) terminal=\"\(self.terminal)\",nonce=\"\(self.nonce)\",timestamp=\"\(self.timestamp)\",serial=\"\(self.serial)\",signature=\"\(self.signature)\""
        }

        /// Parses the header; `nil` when it is not this scheme or a field is missing.
        public init?(header: String) {
            guard header.hasPrefix("CKBANK2-"), let space = header.firstIndex(of: " ") else { return nil }
            self.algorithm = String(header[header.index(header.startIndex, offsetBy: 8)..<space])
            var fields: [String: String] = [:]
            for part in header[header.index(after: space)...].split(separator: ",") {
                guard let equals = part.firstIndex(of: "=") else { return nil }
                let name = part[..<equals].trimmingCharacters(in: .whitespaces)
                var value = String(part[part.index(after: equals)...]).trimmingCharacters(in: .whitespaces)
                guard value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") else { return nil }
                value = String(value.dropFirst().dropLast())
                fields[name] = value
            }
            guard let terminal = fields["terminal"], let nonce = fields["nonce"], let time = fields["timestamp"].flatMap(Int.init),
                let serial = fields["serial"], let signature = fields["signature"]
            else { return nil }
            self.terminal = terminal
            self.nonce = nonce
            self.timestamp = time
            self.serial = serial
            self.signature = signature
        }
    }

    /// A random 32-hex-digit nonce.
    public static func nonce() -> String {
        var generator = SystemRandomNumberGenerator()
        return Hex.encode((0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }
}
