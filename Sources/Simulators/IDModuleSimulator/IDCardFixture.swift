import Foundation
import Identity
public import ResidentIDCard

/// An identity document for the module simulator, as a JSON file. Holder data in fixtures is synthetic.
///
/// Fields: `type` (`residentIDCard`, `hmtResidencePermit`, `foreignPermanentResident2017`,
/// `foreignPermanentResident2023`), `name`, `englishName`, `gender` (`"1"`/`"2"`), `nation` (number),
/// `birthDate`, `address`, `idNumber`, `issuer`, `validFrom`, `validTo` (date or `"长期"`), `passNumber`,
/// `issueCount`, `nationality`, `cardVersion`, `authorityCode`, `renewalCount`, `newestAddress`,
/// `fingerprint` (bool). Dates are `YYYY-MM-DD`.
public struct IDCardFixture: Codable, Sendable, Hashable {
    public var summary: String?
    public var type: IDDocumentType = .residentIDCard
    public var name: String
    public var englishName: String?
    public var gender: String?
    public var nation: Int?
    public var birthDate: String?
    public var address: String?
    public var idNumber: String
    public var issuer: String?
    public var validFrom: String?
    public var validTo: String?
    public var passNumber: String?
    public var issueCount: Int?
    public var nationality: String?
    public var cardVersion: String?
    public var authorityCode: String?
    public var renewalCount: Int?
    public var newestAddress: String?
    public var fingerprint: Bool?

    public init(name: String, idNumber: String, type: IDDocumentType = .residentIDCard) {
        self.name = name
        self.idNumber = idNumber
        self.type = type
    }

    public static func load(path: String) throws -> IDCardFixture {
        try JSONDecoder().decode(IDCardFixture.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }

    /// The document as the module would decode it (photo: 1024 deterministic bytes standing in for WLT).
    public var card: IDCardData {
        func date(_ text: String?) -> CalendarDate? { text.flatMap { CalendarDate(digits: String($0.filter { $0 != "-" })) } }
        var card = IDCardData(type: self.type, name: self.name, idNumber: self.idNumber, photo: self.photo, hasFingerprint: self.fingerprint ?? false)
        card.englishName = self.englishName
        card.gender = self.gender.flatMap { $0.first.flatMap(Gender.init(code:)) }
        card.nation = self.nation.map(Nation.init(code:))
        card.birthDate = date(self.birthDate)
        card.address = self.address
        card.issuer = self.issuer
        card.validFrom = date(self.validFrom)
        card.validTo = self.validTo.flatMap { $0 == "长期" ? .longTerm : date($0).map(Validity.date) }
        card.passNumber = self.passNumber
        card.issueCount = self.issueCount
        card.nationality = self.nationality
        card.cardVersion = self.cardVersion
        card.authorityCode = self.authorityCode
        card.renewalCount = self.renewalCount
        card.citizenID = try? CitizenID(self.idNumber)
        return card
    }

    /// 1024 bytes derived from the ID number: stands in for the WLT photo.
    public var photo: [UInt8] {
        var state = self.idNumber.utf8.reduce(UInt32(2_166_136_261)) { ($0 ^ UInt32($1)) &* 16_777_619 }
        return (0..<1024).map { _ in
            state = state &* 1_664_525 &+ 1_013_904_223
            return UInt8(truncatingIfNeeded: state >> 24)
        }
    }
}
