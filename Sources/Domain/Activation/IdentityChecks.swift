import Foundation
import KioskCrypto
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
        /// The document's name cannot be compared by machine (a foreign card without a Chinese name and a bank
        /// application without a holder name, or one cut short): staff compare it.
        case documentNeedsStaff
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
        /// The bank application's card number cannot bind a PIN block (ISO 9564 format 0 needs at least 13
        /// digits): the PIN could never be set here.
        case cardNumberUnusable
    }

    public let reason: Reason
    /// For the log; never personal data.
    public let detail: String

    public init(_ reason: Reason, detail: String) {
        self.reason = reason
        self.detail = detail
    }

    /// True when staff can settle it at the kiosk (rare characters); otherwise the customer goes to a counter.
    public var needsStaff: Bool { self.reason == .rareCharacterNeedsStaff || self.reason == .documentNeedsStaff }

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
        case .documentNeedsStaff:
            CustomerMessage(key: "check.documentNeedsStaff", zhHans: "您的证件需要工作人员协助核对姓名，请稍候。",
                en: "A member of staff needs to check the name on your document; please wait.")
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
        case .cardNumberUnusable:
            CustomerMessage(key: "check.cardNumberUnusable", zhHans: "这张卡的银行卡号无法在自助设备上设置密码，请到柜台办理。",
                en: "A PIN cannot be set for this card's bank number at the kiosk. Please go to a counter.")
        }
    }

    public var operatorMessage: String { "check refused (\(self.reason.rawValue)): \(self.detail)" }
}

/// The checks before anything goes to the bank (the bank's own checks come back as gateway outcomes).
///
/// Accepted identity documents (`cards.md` §3.4): the resident ID card, the residence permit of Hong Kong,
/// Macao and Taiwan residents, and the foreign permanent residence ID card in its 2017 and 2023 layouts. The
/// card's social security number is the document's number.
public enum IdentityChecks {
    /// Checks that the ID document and the social security card belong to the same person and that both are
    /// usable on `today`. Returns the first refusal, or `nil` when every check passed.
    public static func check(idCard: IDCardData, card: SocialSecurityCardReading, today: CalendarDate) -> CheckRefusal? {
        if let end = idCard.validTo, !end.covers(today) { return CheckRefusal(.idCardExpired, detail: "\(idCard.type.rawValue) valid to \(end)") }
        if let start = idCard.validFrom, today < start { return CheckRefusal(.idCardExpired, detail: "\(idCard.type.rawValue) valid from \(start)") }
        if idCard.validTo == nil { return CheckRefusal(.idCardExpired, detail: "\(idCard.type.rawValue) holds no validity date") }
        guard let identity = card.identity else { return CheckRefusal(.socialSecurityCardLocked, detail: "the card's identity could not be read") }
        if let expiry = identity.expiryDate, expiry < today { return CheckRefusal(.socialSecurityCardExpired, detail: "card expired \(expiry)") }
        guard Self.sameCitizenID(idCard.idNumber, identity.socialSecurityNumber.value) else {
            return CheckRefusal(.differentPerson, detail: "\(idCard.type.rawValue) \(Masking.citizenID(idCard.idNumber)) vs card \(identity.socialSecurityNumber.masked)")
        }
        if let chinese = idCard.chineseName, let refusal = Self.checkChineseName(chinese, cardName: identity.name) { return refusal }
        if let error = card.bankError {
            switch error.reason {
            case .cardLocked, .applicationLocked: return CheckRefusal(.socialSecurityCardLocked, detail: error.operatorMessage)
            default: return CheckRefusal(.noBankApplication, detail: error.operatorMessage)
            }
        }
        guard let bank = card.bank else { return CheckRefusal(.noBankApplication, detail: "no bank application data") }
        if idCard.chineseName == nil, let refusal = Self.checkEnglishName(idCard: idCard, bankName: bank.holderName) { return refusal }
        if let holder = bank.holderID, !holder.isEmpty, !Self.sameCitizenID(holder, identity.socialSecurityNumber.value) {
            return CheckRefusal(.bankHolderMismatch, detail: "bank holder \(Masking.citizenID(holder)) vs card \(identity.socialSecurityNumber.masked)")
        }
        if let expiry = bank.expiry, expiry < today { return CheckRefusal(.socialSecurityCardExpired, detail: "bank application expired \(expiry)") }
        guard ISO0PINBlock.accepts(pan: bank.pan) else {
            return CheckRefusal(.cardNumberUnusable, detail: "the bank application's card number has \(bank.pan.count) characters (\(Masking.pan(bank.pan))); a format 0 PIN block needs 13 or more digits")
        }
        return nil
    }

    /// A Chinese name, where the document has one, against the name the social security card holds.
    static func checkChineseName(_ chinese: String, cardName: String) -> CheckRefusal? {
        switch Self.compareNames(idCard: chinese, card: cardName) {
        case .same: return nil
        case .needsStaff:
            return CheckRefusal(.rareCharacterNeedsStaff, detail: "the document's name has characters outside GBK; the card holds \(Masking.name(cardName))")
        case .different: return CheckRefusal(.nameMismatch, detail: "\(Masking.name(chinese)) vs \(Masking.name(cardName))")
        }
    }

    /// A foreign card without a Chinese name has only its English name: it is compared with the bank
    /// application's holder name (case, spacing and separators normalised); when there is nothing to compare
    /// it with, staff compare. Never a silent pass.
    static func checkEnglishName(idCard: IDCardData, bankName: String?) -> CheckRefusal? {
        guard let english = idCard.englishName, !Self.latinWords(english).isEmpty else {
            return CheckRefusal(.documentNeedsStaff, detail: "\(idCard.type.rawValue) holds neither a Chinese nor an English name")
        }
        guard let bankName, !Self.latinWords(bankName).isEmpty else {
            return CheckRefusal(.documentNeedsStaff, detail: "\(idCard.type.rawValue) has an English name only and the bank application no holder name")
        }
        switch Self.compareEnglishNames(document: english, bank: bankName) {
        case .same: return nil
        case .needsStaff:
            return CheckRefusal(.documentNeedsStaff, detail: "the bank application's holder name \(Masking.name(bankName)) is the document's English name cut short")
        case .different: return CheckRefusal(.nameMismatch, detail: "English name \(Masking.name(english)) vs bank holder \(Masking.name(bankName))")
        }
    }

    /// Two identity document numbers are the same: equal after removing spaces, with `x` and `X` alike.
    public static func sameCitizenID(_ a: String, _ b: String) -> Bool { PersonalIDNumber.same(a, b) }

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

    /// A document's English name against a bank application's holder name (EMV `5F20` is often written
    /// `SURNAME/GIVEN NAMES`, at most 26 characters): the same words in the same order, ignoring case,
    /// spacing and the `/`, `,` and `.` separators → same. A bank name that is the document's name cut at the
    /// field's end → staff; anything else → different.
    public static func compareEnglishNames(document: String, bank: String) -> NameComparison {
        let a = Self.latinWords(document)
        let b = Self.latinWords(bank)
        if a == b { return .same }
        let joinedA = a.joined(separator: " ")
        let joinedB = b.joined(separator: " ")
        if bank.count >= 20, joinedB.count < joinedA.count, joinedA.hasPrefix(joinedB) { return .needsStaff }
        return .different
    }

    /// Upper-cased words, split on spaces and the separators names are written with.
    static func latinWords(_ name: String) -> [String] {
        name.uppercased().split { $0.isWhitespace || $0 == "/" || $0 == "," || $0 == "." || $0 == "\u{3000}" }.map(String.init)
    }
}
