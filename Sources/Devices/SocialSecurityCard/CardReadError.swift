public import APDU
import Bytes
public import CardCore
public import Messages

/// Why reading a social security card (its SSSE application or its bank application) failed.
///
/// Every status word a card can give ends here, with a message for the customer (zh-Hans and English,
/// behind a stable key) and one for the operator that names the step and the status word.
public struct CardReadError: ExplainedError, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, for code to branch on.
    public enum Reason: Hashable, Sendable {
        /// The card has no SSSE application (`6A82` on SELECT `sx1.sh.社会保障`).
        case notSocialSecurityCard
        /// VERIFY failed; this many tries remain (`63Cx`).
        case pinIncorrect(triesLeft: Int)
        /// The PIN or the authentication key is blocked (`6983`).
        case pinBlocked
        /// The application is locked (`6A81`).
        case applicationLocked
        /// The card is permanently locked (`9303`).
        case cardLocked
        /// A file the read needs is absent (`6A82`).
        case fileNotFound
        /// A record the read needs is absent (`6A83`).
        case recordNotFound
        /// The card refuses until an authentication happened (`6982`).
        case securityStatusNotSatisfied
        /// The card refuses in its current state (`6985`).
        case conditionsNotSatisfied
        /// INTERNAL AUTHENTICATE answered, but not as a genuine card would.
        case cardNotGenuine
        /// EXTERNAL AUTHENTICATE was refused; this many tries remain (`63Cx`).
        case externalAuthenticationFailed(triesLeft: Int?)
        /// A 3.00 card needs a security module and none is configured or reachable.
        case securityModuleMissing
        /// The security module lacks the key (RKSSSE, or the internal-authentication key).
        case securityModuleKeyMissing
        /// The security module does not implement the card's algorithm (`9F0C` in the FCI).
        case securityModuleUnsupportedAlgorithm(UInt8)
        /// The security module failed in another way.
        case securityModuleFailed
        /// The card's data is malformed or fails validation.
        case invalidData
        /// The card has no bank (UnionPay) application.
        case noBankApplication
        /// The bank application is blocked (`6283` on SELECT, or `6A81`).
        case bankApplicationBlocked
        /// Any other status word.
        case unexpectedStatus
        /// The reader or the card's connection failed (includes the card being taken out).
        case reader(ReaderError.Code)
    }

    /// The step that failed, for operators: `SELECT SSSE`, `READ RECORD EF06/09`, …
    public let step: String
    public let reason: Reason
    /// The card's status word, when it caused the error.
    public let statusWord: StatusWord?
    /// Extra detail for the operator (never personal data).
    public let detail: String?

    public init(_ reason: Reason, step: String, statusWord: StatusWord? = nil, detail: String? = nil) {
        self.reason = reason
        self.step = step
        self.statusWord = statusWord
        self.detail = detail
    }

    /// The error a status word means at `step`. `9000`-class words are not errors and must not get here.
    public static func from(_ sw: StatusWord, step: String, inBankApplication: Bool = false) -> CardReadError {
        let reason: Reason
        switch (sw.sw1, sw.sw2) {
        case (0x63, let sw2) where sw2 & 0xF0 == 0xC0: reason = .pinIncorrect(triesLeft: Int(sw2 & 0x0F))
        case (0x69, 0x83): reason = .pinBlocked
        case (0x6A, 0x81): reason = inBankApplication ? .bankApplicationBlocked : .applicationLocked
        case (0x93, 0x03): reason = .cardLocked
        case (0x6A, 0x82): reason = .fileNotFound
        case (0x6A, 0x83): reason = .recordNotFound
        case (0x69, 0x82): reason = .securityStatusNotSatisfied
        case (0x69, 0x85): reason = .conditionsNotSatisfied
        case (0x62, 0x83): reason = inBankApplication ? .bankApplicationBlocked : .applicationLocked
        default: reason = .unexpectedStatus
        }
        return CardReadError(reason, step: step, statusWord: sw)
    }

    /// A reader failure at `step`.
    public init(_ error: ReaderError, step: String) {
        self.init(.reader(error.code), step: step, detail: error.message)
    }

    public var description: String { self.operatorMessage }

    /// Errors compare by reason only: step, status word and detail are diagnostics.
    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.reason == rhs.reason }
    public func hash(into hasher: inout Hasher) { hasher.combine(self.reason) }

    public var operatorMessage: String {
        var text = "\(self.step): \(self.reasonText)"
        if let sw = self.statusWord { text += " (\(sw))" }
        if let detail = self.detail { text += ": \(detail)" }
        return text
    }

    private var reasonText: String {
        switch self.reason {
        case .notSocialSecurityCard: "no SSSE application: not a social security card"
        case .pinIncorrect(let tries): "wrong social-security PIN, \(tries) tries left"
        case .pinBlocked: "PIN or key blocked (authentication method blocked)"
        case .applicationLocked: "application locked"
        case .cardLocked: "card permanently locked"
        case .fileNotFound: "file not found"
        case .recordNotFound: "record not found"
        case .securityStatusNotSatisfied: "security status not satisfied (authentication missing)"
        case .conditionsNotSatisfied: "conditions of use not satisfied"
        case .cardNotGenuine: "internal authentication failed: the card is not genuine or its keys do not match"
        case .externalAuthenticationFailed(let tries):
            "external authentication refused" + (tries.map { ", \($0) tries left" } ?? "")
        case .securityModuleMissing: "a 3.00 card needs the security module (PSAM or HSM) and none is available"
        case .securityModuleKeyMissing: "the security module lacks the key (RKSSSE or internal-authentication key)"
        case .securityModuleUnsupportedAlgorithm(let id):
            "the security module has no key file for algorithm \(Hex.encode([id])) (9F0C in the card's FCI)"
        case .securityModuleFailed: "security module failed"
        case .invalidData: "card data malformed or invalid"
        case .noBankApplication: "no UnionPay bank application found (PPSE, PSE and the known AIDs)"
        case .bankApplicationBlocked: "bank application blocked"
        case .unexpectedStatus: "unexpected status word"
        case .reader(let code): "reader failure \(code)"
        }
    }

    public var customerMessage: CustomerMessage {
        switch self.reason {
        case .notSocialSecurityCard:
            CustomerMessage(key: "card.ssc.notSocialSecurityCard", zhHans: "这张卡不是社会保障卡，请插入您的社会保障卡。",
                en: "This is not a social security card. Please insert your social security card.")
        case .pinIncorrect(let tries):
            CustomerMessage(key: "card.ssc.pinIncorrect", zhHans: "社保密码错误，还可以再试 \(tries) 次。",
                en: "Wrong social security PIN. \(tries) tries left.", arguments: ["triesLeft": String(tries)])
        case .pinBlocked:
            CustomerMessage(key: "card.ssc.pinBlocked", zhHans: "社保密码已锁定，请到社保经办机构或银行柜台解锁。",
                en: "The social security PIN is blocked. Please have it unblocked at a social security office or a bank counter.")
        case .applicationLocked:
            CustomerMessage(key: "card.ssc.applicationLocked", zhHans: "社会保障卡应用已锁定，请到社保经办机构办理解锁。",
                en: "The social security application on this card is locked. Please visit a social security office.")
        case .cardLocked:
            CustomerMessage(key: "card.ssc.cardLocked", zhHans: "社会保障卡已被永久锁定，请到社保经办机构办理补换卡。",
                en: "This social security card is permanently locked. Please ask a social security office for a replacement.")
        case .fileNotFound, .recordNotFound, .invalidData, .unexpectedStatus, .conditionsNotSatisfied:
            CustomerMessage(key: "card.ssc.unreadable", zhHans: "无法读取社会保障卡信息，请联系工作人员。",
                en: "The social security card could not be read. Please ask a member of staff for help.")
        case .securityStatusNotSatisfied, .externalAuthenticationFailed:
            CustomerMessage(key: "card.ssc.accessRefused", zhHans: "社会保障卡拒绝读取个人信息，请联系工作人员。",
                en: "The card refused to release its holder data. Please ask a member of staff for help.")
        case .cardNotGenuine:
            CustomerMessage(key: "card.ssc.notGenuine", zhHans: "社会保障卡校验未通过，请联系工作人员。",
                en: "The social security card failed its authenticity check. Please ask a member of staff for help.")
        case .securityModuleMissing, .securityModuleKeyMissing, .securityModuleUnsupportedAlgorithm, .securityModuleFailed:
            CustomerMessage(key: "kiosk.securityModuleUnavailable", zhHans: "本机暂时无法读取这种社会保障卡，请到柜台办理或联系工作人员。",
                en: "This kiosk cannot read this kind of social security card right now. Please go to a counter or ask a member of staff.")
        case .noBankApplication:
            CustomerMessage(key: "card.bank.missing", zhHans: "这张社会保障卡没有金融账户功能，请到银行柜台咨询。",
                en: "This social security card has no bank account function. Please ask at a bank counter.")
        case .bankApplicationBlocked:
            CustomerMessage(key: "card.bank.blocked", zhHans: "社会保障卡的金融账户已锁定，请到银行柜台办理。",
                en: "The bank account function of this card is blocked. Please visit a bank counter.")
        case .reader(let code) where code == .cardRemoved || code == .noCard:
            CustomerMessage(key: "card.removed", zhHans: "卡片已被取出，本次办理已结束。",
                en: "The card was taken out. This session has ended.")
        case .reader:
            CustomerMessage(key: "reader.failure", zhHans: "读卡器暂时无法使用，请联系工作人员。",
                en: "The card reader is not working right now. Please ask a member of staff for help.")
        }
    }
}
