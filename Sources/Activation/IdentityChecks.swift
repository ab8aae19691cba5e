import Foundation
public import Identity
public import Messages
public import ResidentIDCard
public import SocialSecurityCard

/// A check that refuses the activation: what the customer reads, what the operator reads, and whether a
/// member of staff can resolve it on the spot.
public struct CheckRefusal: Error, Hashable, Sendable, ExplainedError {
    public enum Reason: String, Hashable, Sendable, CaseIterable {
        /// The ID card's number is not the social security number on the card.
        case differentPerson
        /// The names differ.
        case nameMismatch
        /// A character of the ID card's name has no GBK form, so the card cannot hold it: staff must compare.
        case rareCharacterNeedsStaff
        /// The ID document is not valid today.
        case idCardExpired
        /// The ID document is not one this service accepts (resident ID card only).
        case unsupportedDocument
        /// The social security card is past its expiry date.
        case socialSecurityCardExpired
        /// The card is locked or its application is.
        case socialSecurityCardLocked
        /// The card has no bank application (or it is blocked).
        case noBankApplication
        /// The bank application's holder ID differs from the card's (a card of another person's account).
        case bankHolderMismatch
        /// The identity verifier (face comparison, clerk) said no.
        case identityNotVerified
    }

    public let reason: Reason
    /// For the log; never personal data.
    public let detail: String

    public init(_ reason: Reason, detail: String) {
        self.reason = reason
        self.detail = detail
    }

    /// True when staff can settle it at the kiosk (rare characters); otherwise the customer goes to a counter.
    public var needsStaff: Bool { self.reason == .rareCharacterNeedsStaff }

    public var customerMessage: CustomerMessage {
        switch self.reason {
        case .differentPerson:
            CustomerMessage(key: "check.differentPerson", zhHans: "身份证与社会保障卡不属于同一人，请使用本人的证件和卡。",
                en: "The ID card and the social security card belong to different people. Please use your own card and ID.")
        case .nameMismatch:
            CustomerMessage(key: "check.nameMismatch", zhHans: "身份证与社会保障卡上的姓名不一致，请到柜台办理。",
                en: "The names on the ID card and the social security card differ. Please go to a counter.")
        case .rareCharacterNeedsStaff:
            CustomerMessage(key: "check.rareCharacter", zhHans: "您的姓名含有生僻字，需要工作人员协助核对，请稍候。",
                en: "Your name contains a rare character. A member of staff needs to check it; please wait.")
        case .idCardExpired:
            CustomerMessage(key: "check.idCardExpired", zhHans: "您的身份证已过有效期，请使用有效证件。",
                en: "Your ID card has expired. Please use a valid ID card.")
        case .unsupportedDocument:
            CustomerMessage(key: "check.unsupportedDocument", zhHans: "本机仅支持居民身份证，请到柜台办理。",
                en: "This kiosk accepts resident ID cards only. Please go to a counter.")
        case .socialSecurityCardExpired:
            CustomerMessage(key: "check.sscExpired", zhHans: "您的社会保障卡已过有效期，请到社保经办机构换卡。",
                en: "Your social security card has expired. Please renew it at the social security office.")
        case .socialSecurityCardLocked:
            CustomerMessage(key: "check.sscLocked", zhHans: "您的社会保障卡已锁定，请到社保经办机构办理。",
                en: "Your social security card is locked. Please go to the social security office.")
        case .noBankApplication:
            CustomerMessage(key: "check.noBankApplication", zhHans: "这张社会保障卡没有可用的金融功能，请到柜台咨询。",
                en: "This social security card has no usable bank function. Please ask at a counter.")
        case .bankHolderMismatch:
            CustomerMessage(key: "check.bankHolderMismatch", zhHans: "卡内银行账户信息与持卡人不一致，请到柜台办理。",
                en: "The card's bank account does not match the cardholder. Please go to a counter.")
        case .identityNotVerified:
            CustomerMessage(key: "check.identityNotVerified", zhHans: "身份核验未通过，请到柜台办理。",
                en: "Your identity could not be verified. Please go to a counter.")
        }
    }

    public var operatorMessage: String { "check refused (\(self.reason.rawValue)): \(self.detail)" }
}

/// The checks before anything goes to the bank (the bank's own checks come back as gateway outcomes).
public enum IdentityChecks {
    /// Checks that the ID card and the social security card belong to the same person and that both are
    /// usable on `today`. Returns the first refusal, or `nil` when every check passed.
    public static func check(idCard: IDCardData, card: SocialSecurityCardReading, today: CalendarDate) -> CheckRefusal? {
        guard idCard.type == .residentIDCard else { return CheckRefusal(.unsupportedDocument, detail: "document type \(idCard.type.rawValue)") }
        if let end = idCard.validTo, !end.covers(today) { return CheckRefusal(.idCardExpired, detail: "ID card valid to \(end)") }
        if let start = idCard.validFrom, today < start { return CheckRefusal(.idCardExpired, detail: "ID card valid from \(start)") }
        guard let identity = card.identity else { return CheckRefusal(.socialSecurityCardLocked, detail: "the card's identity could not be read") }
        if let expiry = identity.expiryDate, expiry < today { return CheckRefusal(.socialSecurityCardExpired, detail: "card expired \(expiry)") }
        guard Self.sameCitizenID(idCard.idNumber, identity.citizenID.value) else {
            return CheckRefusal(.differentPerson, detail: "ID card \(Masking.citizenID(idCard.idNumber)) vs card \(identity.citizenID.masked)")
        }
        switch Self.compareNames(idCard: idCard.name, card: identity.name) {
        case .same: break
        case .needsStaff: return CheckRefusal(.rareCharacterNeedsStaff, detail: "the ID card's name has characters outside GBK; the card holds \(Masking.name(identity.name))")
        case .different: return CheckRefusal(.nameMismatch, detail: "\(Masking.name(idCard.name)) vs \(Masking.name(identity.name))")
        }
        if let error = card.bankError {
            switch error.reason {
            case .cardLocked, .applicationLocked: return CheckRefusal(.socialSecurityCardLocked, detail: error.operatorMessage)
            default: return CheckRefusal(.noBankApplication, detail: error.operatorMessage)
            }
        }
        guard let bank = card.bank else { return CheckRefusal(.noBankApplication, detail: "no bank application data") }
        if let holder = bank.holderID, !holder.isEmpty, !Self.sameCitizenID(holder, identity.citizenID.value) {
            return CheckRefusal(.bankHolderMismatch, detail: "bank holder \(Masking.citizenID(holder)) vs card \(identity.citizenID.masked)")
        }
        if let expiry = bank.expiry, expiry < today { return CheckRefusal(.socialSecurityCardExpired, detail: "bank application expired \(expiry)") }
        return nil
    }

    /// Two citizen IDs are the same person's: equal after trimming, with `x` and `X` the same check character.
    public static func sameCitizenID(_ a: String, _ b: String) -> Bool {
        func normal(_ text: String) -> String { text.trimmingCharacters(in: .whitespaces).uppercased() }
        return !normal(a).isEmpty && normal(a) == normal(b)
    }

    public enum NameComparison: Hashable, Sendable { case same, different, needsStaff }

    /// The ID card holds the name in Unicode; the card in GBK/GB18030. Equal → same. When the ID card's
    /// name has a character GBK cannot hold, the card must differ there (issuers write a substitute or a
    /// pinyin): if the rest agrees, a person must compare; it is never passed silently.
    public static func compareNames(idCard: String, card: String) -> NameComparison {
        let a = idCard.trimmingCharacters(in: .whitespaces)
        let b = card.trimmingCharacters(in: .whitespaces)
        if a == b { return .same }
        guard !GB18030.fitsGBK(a) else { return .different }
        let fitting = a.filter { GB18030.fitsGBK(String($0)) }
        let sharesRest = fitting.allSatisfy { b.contains($0) }
        return sharesRest ? .needsStaff : .different
    }
}
