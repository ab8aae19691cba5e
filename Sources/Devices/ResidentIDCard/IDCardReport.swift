import Identity
public import Messages

/// An identity document as operator tools and screens show it: the number masked unless `unmasked`,
/// dates as `YYYY-MM-DD`, `validTo` a date or `长期`; the photo only as its size.
public struct IDCardReport: Encodable, Sendable {
    public struct Failure: Encodable, Sendable {
        public var reason: String
        public var operatorMessage: String
        public var customerMessage: CustomerMessage
        public init(_ error: IDModuleError) {
            self.reason = error.reasonCode
            self.operatorMessage = error.operatorMessage
            self.customerMessage = error.customerMessage
        }
    }

    public var device: String?
    public var masked: Bool
    public var type: String?
    public var documentName: String?
    public var name: String?
    public var englishName: String?
    public var gender: String?
    public var nation: String?
    public var nationCode: Int?
    public var birthDate: String?
    public var address: String?
    public var citizenId: String?
    public var issuer: String?
    public var validFrom: String?
    public var validTo: String?
    public var passNumber: String?
    public var issueCount: Int?
    public var nationality: String?
    public var photoBytes: Int?
    public var hasFingerprint: Bool?
    public var error: Failure?

    public init(card: IDCardData?, device: String?, unmasked: Bool = false, error: IDModuleError? = nil) {
        self.device = device
        self.masked = !unmasked
        self.error = error.map(Failure.init)
        guard let card else { return }
        self.type = card.type.rawValue
        self.documentName = card.type.chineseName
        self.name = card.name
        self.englishName = card.englishName
        self.gender = card.gender?.rawValue
        self.nation = card.nation?.description
        self.nationCode = card.nation?.code
        self.birthDate = card.birthDate?.description
        self.address = card.address
        self.citizenId = unmasked ? card.idNumber : card.maskedIDNumber
        self.issuer = card.issuer
        self.validFrom = card.validFrom?.description
        self.validTo = card.validTo?.description
        self.passNumber = card.passNumber.map { unmasked ? $0 : Masking.tail($0) }
        self.issueCount = card.issueCount
        self.nationality = card.nationality
        self.photoBytes = card.photo.count
        self.hasFingerprint = card.hasFingerprint
    }
}
