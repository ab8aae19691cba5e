public import Messages

/// Why the bank refused an activation. Each reason has its own customer message.
public enum DeclineReason: Hashable, Sendable, Codable {
    /// The social security bureau has not enabled the card yet (still in production, not issued).
    case notEnabledByBureau
    /// The bank account is already active.
    case alreadyActivated
    /// Reported lost or stolen, or frozen.
    case lostStolenOrFrozen
    /// The card may not do this (wrong bank, not permitted).
    case notPermitted
    case invalidCard
    case expiredCard
    /// The new PIN is too weak: the holder's birthday, ID digits, repeated or sequential digits.
    case weakPIN(WeakPIN)
    /// Too many wrong PINs.
    case pinTriesExceeded
    /// The bank's records do not match the holder's identity.
    case identityMismatch
    /// Any other refusal the table names as final.
    case other

    public enum WeakPIN: String, Hashable, Sendable, Codable {
        case birthday, idDigits, repeatedDigits, sequentialDigits, other
    }
}

/// The outcome of an activation request. `unknown` (the request went out and no trustworthy answer came
/// back) is never the same as `declined`: the flow resolves it by inquiry and reversal.
public enum ActivationOutcome: Hashable, Sendable {
    case approved(bankReference: String)
    case declined(DeclineReason, bankCode: String)
    /// A wrong current PIN; `triesLeft` when the bank says.
    case pinError(triesLeft: Int?, bankCode: String)
    /// Nothing was applied; try again later.
    case unavailable(detail: String)
    /// Sent; the bank may or may not have applied it.
    case unknown(detail: String)
}

/// The answer to a status inquiry by idempotency key.
public enum StatusOutcome: Hashable, Sendable {
    case applied(bankReference: String)
    /// The bank has no record: nothing was applied.
    case notFound
    /// Declined when it was processed.
    case declined(DeclineReason, bankCode: String)
    case unavailable(detail: String)
    case unknown(detail: String)
}

/// The answer to a reversal.
public enum ReversalOutcome: Hashable, Sendable {
    /// The bank undid the activation.
    case reversed
    /// The bank has no such activation: nothing was applied (ISO 8583 RC 25).
    case notFound
    case unavailable(detail: String)
    case unknown(detail: String)
}

/// The answer to a cardholder verification.
public enum VerifyOutcome: Hashable, Sendable {
    case match
    case mismatch(DeclineReason, bankCode: String)
    case unavailable(detail: String)
    case unknown(detail: String)
}

/// Why a reversal is sent.
public enum ReversalReason: String, Hashable, Sendable, Codable {
    case timeout, unknownOutcome, customerCancelled, cardRemoved
}

extension DeclineReason {
    /// A stable code (`declined.weakPIN.birthday`).
    public var code: String {
        switch self {
        case .notEnabledByBureau: "notEnabledByBureau"
        case .alreadyActivated: "alreadyActivated"
        case .lostStolenOrFrozen: "lostStolenOrFrozen"
        case .notPermitted: "notPermitted"
        case .invalidCard: "invalidCard"
        case .expiredCard: "expiredCard"
        case .weakPIN(let kind): "weakPIN.\(kind.rawValue)"
        case .pinTriesExceeded: "pinTriesExceeded"
        case .identityMismatch: "identityMismatch"
        case .other: "other"
        }
    }

    /// From ``code``.
    public init?(code: String) {
        if code.hasPrefix("weakPIN") {
            let kind = code.split(separator: ".").dropFirst().first.map(String.init) ?? "other"
            self = .weakPIN(WeakPIN(rawValue: kind) ?? .other)
            return
        }
        switch code {
        case "notEnabledByBureau": self = .notEnabledByBureau
        case "alreadyActivated": self = .alreadyActivated
        case "lostStolenOrFrozen": self = .lostStolenOrFrozen
        case "notPermitted": self = .notPermitted
        case "invalidCard": self = .invalidCard
        case "expiredCard": self = .expiredCard
        case "pinTriesExceeded": self = .pinTriesExceeded
        case "identityMismatch": self = .identityMismatch
        case "other": self = .other
        default: return nil
        }
    }

    public var customerMessage: CustomerMessage {
        switch self {
        case .notEnabledByBureau:
            CustomerMessage(key: "bank.declined.notEnabledByBureau", zhHans: "您的社会保障卡尚未由社保部门启用，请先到社保经办机构办理。",
                en: "Your social security card has not been enabled by the social security office yet. Please visit them first.")
        case .alreadyActivated:
            CustomerMessage(key: "bank.declined.alreadyActivated", zhHans: "您的社会保障卡金融账户已经激活，无需再次办理。",
                en: "The bank account of your social security card is already active. Nothing more to do.")
        case .lostStolenOrFrozen:
            CustomerMessage(key: "bank.declined.lostStolenOrFrozen", zhHans: "此卡已挂失或冻结，请到银行柜台办理。",
                en: "This card is reported lost or is frozen. Please go to a bank counter.")
        case .notPermitted:
            CustomerMessage(key: "bank.declined.notPermitted", zhHans: "此卡不能在本机办理激活，请到银行柜台办理。",
                en: "This card cannot be activated at this machine. Please go to a bank counter.")
        case .invalidCard:
            CustomerMessage(key: "bank.declined.invalidCard", zhHans: "银行无法识别此卡，请到银行柜台办理。",
                en: "The bank does not recognise this card. Please go to a bank counter.")
        case .expiredCard:
            CustomerMessage(key: "bank.declined.expiredCard", zhHans: "此卡已过有效期，请到社保经办机构换卡。",
                en: "This card has expired. Please ask the social security office for a new one.")
        case .weakPIN(let kind):
            CustomerMessage(key: "bank.declined.weakPIN", zhHans: "密码过于简单（不能使用生日、证件号码中的数字、重复或连续的数字），请重新设置。",
                en: "The PIN is too simple (no birthday, no digits of your ID number, no repeated or sequential digits). Please choose another.",
                arguments: ["kind": kind.rawValue])
        case .pinTriesExceeded:
            CustomerMessage(key: "bank.declined.pinTriesExceeded", zhHans: "密码错误次数过多，请到银行柜台办理。",
                en: "Too many wrong PIN attempts. Please go to a bank counter.")
        case .identityMismatch:
            CustomerMessage(key: "bank.declined.identityMismatch", zhHans: "银行登记的身份信息与您的证件不一致，请到银行柜台办理。",
                en: "The bank's records do not match your identity document. Please go to a bank counter.")
        case .other:
            CustomerMessage(key: "bank.declined.other", zhHans: "银行未能办理此业务，请到银行柜台咨询。",
                en: "The bank could not complete this request. Please ask at a bank counter.")
        }
    }
}

extension ActivationOutcome {
    /// True for approved and declined: the bank's answer is known and final.
    public var isFinal: Bool {
        switch self {
        case .approved, .declined, .pinError: true
        case .unavailable, .unknown: false
        }
    }

    public var customerMessage: CustomerMessage {
        switch self {
        case .approved:
            CustomerMessage(key: "bank.approved", zhHans: "激活成功！您的社会保障卡金融账户已可以使用。",
                en: "Done! The bank account of your social security card is now active.")
        case .declined(let reason, _): reason.customerMessage
        case .pinError(let tries, _):
            CustomerMessage(key: "bank.pinError", zhHans: "密码错误" + (tries.map { "，还可以再试 \($0) 次" } ?? "") + "。",
                en: "Wrong PIN" + (tries.map { ". \($0) tries left" } ?? "") + ".", arguments: tries.map { ["triesLeft": String($0)] } ?? [:])
        case .unavailable:
            CustomerMessage(key: "bank.unavailable", zhHans: "银行系统暂时无法办理，您的卡未做任何变更，请稍后再试。",
                en: "The bank cannot process this right now. Nothing was changed on your card. Please try again later.")
        case .unknown:
            CustomerMessage(key: "bank.pending", zhHans: "银行正在确认办理结果，请稍候，结果确认前请勿重复办理。",
                en: "The bank is confirming the result. Please wait and do not start again until it is confirmed.")
        }
    }

    public var operatorMessage: String {
        switch self {
        case .approved(let reference): "approved, bank reference \(reference)"
        case .declined(let reason, let code): "declined (\(reason.code), bank code \(code))"
        case .pinError(let tries, let code): "PIN error (bank code \(code)\(tries.map { ", \($0) tries left" } ?? ""))"
        case .unavailable(let detail): "bank unavailable, nothing applied: \(detail)"
        case .unknown(let detail): "outcome unknown (sent, no trustworthy answer): \(detail)"
        }
    }
}
