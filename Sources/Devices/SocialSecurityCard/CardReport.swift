import Bytes
import Identity
public import Messages
import APDU

/// A card reading as an operator tool or a screen shows it: ID numbers, card number and PAN masked
/// unless `unmasked` (a diagnostic switch), dates as `YYYY-MM-DD`, codes with their names.
public struct CardReport: Encodable, Sendable {
    public struct SocialSecurity: Encodable, Sendable {
        public var cardNumber: String
        public var citizenId: String
        public var name: String
        public var gender: String?
        public var nation: String?
        public var nationCode: Int?
        public var birthDate: String?
        public var birthplace: String?
        public var issueDate: String?
        public var expiryDate: String?
        public var specVersion: String
        public var region: String?
        public var regionName: String?
        public var cardType: String
        public var addressing: String?
    }

    public struct Bank: Encodable, Sendable {
        public var aid: String
        public var pan: String
        public var panSequence: Int?
        public var expiry: String?
        public var holderName: String?
        public var holderId: String?
        public var holderIdType: Int?
    }

    public struct Failure: Encodable, Sendable {
        public var reason: String
        public var step: String
        public var statusWord: String?
        public var operatorMessage: String
        public var customerMessage: CustomerMessage

        public init(_ error: CardReadError) {
            self.reason = error.reasonCode
            self.step = error.step
            self.statusWord = error.statusWord.map { Hex.encode([$0.sw1, $0.sw2]) }
            self.operatorMessage = error.operatorMessage
            self.customerMessage = error.customerMessage
        }
    }

    public var reader: String?
    public var atr: String?
    public var apduCount: Int?
    public var masked: Bool
    public var socialSecurity: SocialSecurity?
    public var bank: Bank?
    public var bankError: Failure?
    public var error: Failure?

    public init(reading: SocialSecurityCardReading?, reader: String?, unmasked: Bool = false, error: CardReadError? = nil) {
        self.reader = reader
        self.atr = reading.map { Hex.encode($0.atr) }
        self.apduCount = reading?.apduCount
        self.masked = !unmasked
        self.error = error.map(Failure.init)
        self.bankError = reading?.bankError.map(Failure.init)
        if let identity = reading?.identity {
            self.socialSecurity = SocialSecurity(
                cardNumber: unmasked ? identity.cardNumber : Masking.tail(identity.cardNumber),
                citizenId: unmasked ? identity.socialSecurityNumber.value : identity.socialSecurityNumber.masked, name: identity.name,
                gender: identity.gender?.rawValue, nation: identity.nation?.description, nationCode: identity.nation?.code,
                birthDate: identity.birthDate?.description, birthplace: identity.birthplace,
                issueDate: identity.issueDate?.description, expiryDate: identity.expiryDate?.description,
                specVersion: identity.specVersion.text, region: identity.region?.code, regionName: identity.region?.province,
                cardType: identity.cardType, addressing: reading?.addressing?.rawValue)
        }
        if let bank = reading?.bank {
            self.bank = Bank(
                aid: Hex.encode(bank.aid), pan: unmasked ? bank.pan : bank.maskedPAN, panSequence: bank.panSequenceNumber,
                expiry: bank.expiry?.description, holderName: bank.holderName,
                holderId: bank.holderID.map { unmasked ? $0 : Masking.citizenID($0) }, holderIdType: bank.holderIDType.map(Int.init))
        }
    }
}

extension CardReadError {
    /// The reason as a stable lower-camel-case code (`pinIncorrect`, `reader.cardRemoved`).
    public var reasonCode: String {
        switch self.reason {
        case .notSocialSecurityCard: "notSocialSecurityCard"
        case .pinIncorrect: "pinIncorrect"
        case .pinBlocked: "pinBlocked"
        case .applicationLocked: "applicationLocked"
        case .cardLocked: "cardLocked"
        case .fileNotFound: "fileNotFound"
        case .recordNotFound: "recordNotFound"
        case .securityStatusNotSatisfied: "securityStatusNotSatisfied"
        case .conditionsNotSatisfied: "conditionsNotSatisfied"
        case .cardNotGenuine: "cardNotGenuine"
        case .externalAuthenticationFailed: "externalAuthenticationFailed"
        case .securityModuleMissing: "securityModuleMissing"
        case .securityModuleKeyMissing: "securityModuleKeyMissing"
        case .securityModuleUnsupportedAlgorithm: "securityModuleUnsupportedAlgorithm"
        case .securityModuleFailed: "securityModuleFailed"
        case .invalidData: "invalidData"
        case .noBankApplication: "noBankApplication"
        case .bankApplicationBlocked: "bankApplicationBlocked"
        case .unexpectedStatus: "unexpectedStatus"
        case .reader(let code): "reader.\(code)"
        }
    }
}
