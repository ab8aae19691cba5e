public import Identity

/// A stable key for one activation, the same on every retry, inquiry and reversal: the HTTP
/// `Idempotency-Key`, or what an ISO 8583 gateway derives its STAN and references from.
public struct IdempotencyKey: Hashable, Sendable, Codable, CustomStringConvertible {
    public let value: String

    /// 8–64 characters of `A–Z a–z 0–9 - _ .`; `nil` otherwise.
    public init?(_ value: String) {
        guard (8...64).contains(value.count),
            value.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "-_.".unicodeScalars.contains($0)) })
        else { return nil }
        self.value = value
    }

    /// A new random key (`ck-` + 32 hex digits).
    public static func random() -> IdempotencyKey {
        var generator = SystemRandomNumberGenerator()
        let hex = (0..<16).map { _ in
            let byte = UInt8.random(in: 0...255, using: &generator)
            let text = String(byte, radix: 16)
            return text.count == 1 ? "0" + text : text
        }.joined()
        return IdempotencyKey("ck-" + hex)!
    }

    public var description: String { self.value }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let key = IdempotencyKey(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "invalid idempotency key"))
        }
        self = key
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(self.value)
    }
}

/// The card the activation is for. The PAN is sent to the bank; it is masked everywhere else.
public struct CardReference: Hashable, Sendable, Codable, CustomStringConvertible, CustomReflectable {
    public var pan: String
    public var panSequenceNumber: Int?
    public var expiry: CalendarDate?

    public init(pan: String, panSequenceNumber: Int? = nil, expiry: CalendarDate? = nil) {
        self.pan = pan
        self.panSequenceNumber = panSequenceNumber
        self.expiry = expiry
    }

    public var description: String { "card \(Masking.pan(self.pan))" }
    public var customMirror: Mirror { Mirror(self, children: ["masked": self.description], displayStyle: .struct) }
}

/// The cardholder's identity as the kiosk checked it.
public struct Cardholder: Hashable, Sendable, Codable, CustomStringConvertible, CustomReflectable {
    /// The ID document number (citizen ID for resident ID cards).
    public var idNumber: String
    public var name: String
    /// PBOC `9F62` style document type: `00` resident ID card.
    public var idType: Int

    public init(idNumber: String, name: String, idType: Int = 0) {
        self.idNumber = idNumber
        self.name = name
        self.idType = idType
    }

    public var description: String { "holder \(Masking.name(self.name)) \(Masking.citizenID(self.idNumber))" }
    public var customMirror: Mirror { Mirror(self, children: ["masked": self.description], displayStyle: .struct) }
}

/// How the PIN block was built and encrypted.
public enum PINBlockFormat: String, Hashable, Sendable, Codable {
    /// ISO 9564 format 0 (ANSI X9.8), 8 bytes, under a 3DES PIN key.
    case iso0TripleDES = "iso0-3des"
    /// ISO 9564 format 0 padded to 16 bytes, under an SM4 PIN key.
    case iso0SM4 = "iso0-sm4"
}

/// A PIN block as the encrypting PIN pad produced it: already encrypted, bound to the PAN. The daemon
/// never sees the clear PIN, and this value never prints its bytes.
public struct EncryptedPINBlock: Hashable, Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public let format: PINBlockFormat
    /// Which key encrypted it (the PIN pad's key name or index), for the bank.
    public let keyName: String
    public let bytes: [UInt8]

    public init(format: PINBlockFormat, keyName: String, bytes: [UInt8]) {
        self.format = format
        self.keyName = keyName
        self.bytes = bytes
    }

    public var description: String { "PIN block (\(self.format.rawValue), \(self.bytes.count) bytes, key \(self.keyName))" }
    public var debugDescription: String { self.description }
    public var customMirror: Mirror { Mirror(self, children: ["redacted": self.description], displayStyle: .struct) }
}

/// One activation, as the gateway sends it.
public struct ActivationRequest: Hashable, Sendable, CustomStringConvertible, CustomReflectable {
    public var key: IdempotencyKey
    public var card: CardReference
    public var cardholder: Cardholder
    public var pinBlock: EncryptedPINBlock
    /// The kiosk's terminal identifier at the bank.
    public var terminalID: String

    public init(key: IdempotencyKey, card: CardReference, cardholder: Cardholder, pinBlock: EncryptedPINBlock, terminalID: String) {
        self.key = key
        self.card = card
        self.cardholder = cardholder
        self.pinBlock = pinBlock
        self.terminalID = terminalID
    }

    public var description: String { "activation \(self.key) for \(self.card), \(self.cardholder)" }
    public var customMirror: Mirror { Mirror(self, children: ["masked": self.description], displayStyle: .struct) }
}

/// What a gateway can do; the flow adapts (no inquiry → reversal only, …).
public struct GatewayCapabilities: Hashable, Sendable, Codable {
    public var supportsVerify: Bool
    public var supportsQuery: Bool
    public var supportsReversal: Bool
    public var pinBlockFormat: PINBlockFormat
    /// `x9.19`, `unionpay-ecb`, `sm4-pos`, `rsa-sha256`, `sm2-sm3`, or `nil`.
    public var macAlgorithm: String?

    public init(supportsVerify: Bool, supportsQuery: Bool, supportsReversal: Bool, pinBlockFormat: PINBlockFormat, macAlgorithm: String?) {
        self.supportsVerify = supportsVerify
        self.supportsQuery = supportsQuery
        self.supportsReversal = supportsReversal
        self.pinBlockFormat = pinBlockFormat
        self.macAlgorithm = macAlgorithm
    }
}
