public import Identity
import APDU

/// The kind of document, from the type flag at bytes 248–249 of the text block (`cards.md` §3.4).
public enum IDDocumentType: String, Hashable, Sendable, Codable, CaseIterable {
    /// 居民身份证 (flag space).
    case residentIDCard
    /// 港澳台居民居住证 (flag `J`).
    case hmtResidencePermit
    /// 外国人永久居留身份证, 2017 layout (flag `I`).
    case foreignPermanentResident2017
    /// 外国人永久居留身份证, 2023 layout (flag `Y`).
    case foreignPermanentResident2023

    /// The flag character.
    public var flag: Character {
        switch self {
        case .residentIDCard: " "
        case .hmtResidencePermit: "J"
        case .foreignPermanentResident2017: "I"
        case .foreignPermanentResident2023: "Y"
        }
    }

    /// The document's name in English.
    public var englishName: String {
        switch self {
        case .residentIDCard: "Resident ID card"
        case .hmtResidencePermit: "Residence permit for Hong Kong, Macao and Taiwan residents"
        case .foreignPermanentResident2017, .foreignPermanentResident2023: "Foreign permanent resident ID card"
        }
    }

    /// The document's Chinese name.
    public var chineseName: String {
        switch self {
        case .residentIDCard: "居民身份证"
        case .hmtResidencePermit: "港澳台居民居住证"
        case .foreignPermanentResident2017, .foreignPermanentResident2023: "外国人永久居留身份证"
        }
    }
}

/// The end of a document's validity.
public enum Validity: Hashable, Sendable, CustomStringConvertible {
    case date(CalendarDate)
    /// 长期: valid without end.
    case longTerm

    public var description: String {
        switch self {
        case .date(let date): date.description
        case .longTerm: "长期"
        }
    }

    /// True when the document is valid on `day`.
    public func covers(_ day: CalendarDate) -> Bool {
        switch self {
        case .date(let end): day <= end
        case .longTerm: true
        }
    }
}

/// What the security module read from an identity document. Holds personal data: its description is
/// masked; use the properties where the data is needed.
public struct IDCardData: Hashable, Sendable {
    public var type: IDDocumentType
    /// The Chinese name (the English name for a foreign card that has no Chinese one).
    public var name: String
    public var englishName: String?
    public var gender: Gender?
    /// Resident ID cards only.
    public var nation: Nation?
    public var birthDate: CalendarDate?
    public var address: String?
    /// The document number as printed (18 characters; 15 for a 2017 foreign card).
    public var idNumber: String
    /// The number as a validated citizen-style ID (resident cards, residence permits, 2023 foreign cards).
    public var citizenID: CitizenID?
    public var issuer: String?
    public var validFrom: CalendarDate?
    public var validTo: Validity?
    /// HMT permits: 通行证号码 and 签发次数.
    public var passNumber: String?
    public var issueCount: Int?
    /// Foreign cards: nationality (GB/T 2659 three-letter code), card version, issuing authority code,
    /// renewal count (2023).
    public var nationality: String?
    public var cardVersion: String?
    public var authorityCode: String?
    public var renewalCount: Int?
    /// The photo as the module delivers it (WLT, 1024 bytes); decode with a ``PhotoDecoder``.
    public var photo: [UInt8]
    /// Whether fingerprint data was read (the bytes themselves are not kept).
    public var hasFingerprint: Bool

    /// A document with the required fields; set the others as the layout has them.
    public init(type: IDDocumentType, name: String, idNumber: String, photo: [UInt8] = [], hasFingerprint: Bool = false) {
        self.type = type
        self.name = name
        self.idNumber = idNumber
        self.photo = photo
        self.hasFingerprint = hasFingerprint
    }

    /// The Chinese name, when the document has one. Foreign permanent residence cards may hold only an
    /// English name; their ``name`` is then the English one and this is `nil`.
    public var chineseName: String? {
        switch self.type {
        case .residentIDCard, .hmtResidencePermit: self.name.isEmpty ? nil : self.name
        case .foreignPermanentResident2017, .foreignPermanentResident2023: self.name.isEmpty || self.name == self.englishName ? nil : self.name
        }
    }

    /// The document number as an identity document number (`nil` when it is not a valid one).
    public var documentNumber: PersonalIDNumber? { try? PersonalIDNumber(self.idNumber) }

    /// The document number masked as logs and screens show it.
    public var maskedIDNumber: String { Masking.citizenID(self.idNumber) }

    /// True when the document is valid on `day` (no validity data counts as invalid).
    public func isValid(on day: CalendarDate) -> Bool {
        guard let end = self.validTo else { return false }
        if let start = self.validFrom, day < start { return false }
        return end.covers(day)
    }
}

extension IDCardData: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String {
        "IDCardData(\(self.type.rawValue), \(Masking.name(self.name)), \(self.maskedIDNumber), valid to \(self.validTo?.description ?? "-"))"
    }
    public var debugDescription: String { self.description }
    public var customMirror: Mirror { Mirror(self, children: ["masked": self.description], displayStyle: .struct) }
}

/// Why the text block is not a valid document.
public struct IDCardDataError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The field that failed.
    public let field: String
    public let detail: String
    public init(field: String, detail: String) {
        self.field = field
        self.detail = detail
    }
    public var description: String { "ID card \(self.field): \(self.detail)" }
}
