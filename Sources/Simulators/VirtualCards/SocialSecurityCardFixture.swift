import Foundation

/// A virtual social security card, described as data (a JSON file). Every field but the holder's has a
/// default, so a fixture states only what makes it special.
///
/// All holder data in fixtures is synthetic.
public struct SocialSecurityCardFixture: Codable, Sendable, Hashable {
    /// What this card is for, in one line.
    public var summary: String = ""
    /// Answer to reset, hex.
    public var atr: String = "3B6D000000814E43238697159900BF7C7A"
    /// `"T=0"`: answers come in `61xx` chains of `t0ChunkSize` bytes and a wrong Le gets `6Cxx`.
    public var `protocol`: String = "T=1"
    public var t0ChunkSize: Int = 32

    // EF05
    public var region: String = "440300"
    /// The 8 card-specific bytes of the card identification code, hex.
    public var cardSpecific: String = "C38275EEFC9B9648"
    public var cardType: String = "3"
    public var specVersion: String = "2.00"
    /// `YYYY-MM-DD`; `null` leaves the item absent (FF-filled).
    public var issueDate: String? = "2019-05-01"
    public var expiryDate: String? = "2029-05-01"
    public var cardNumber: String = "X00000019"

    // EF06
    public var citizenId: String
    public var name: String
    public var gender: String = "1"
    public var nation: Int = 1
    public var birthplace: String = "440300"
    public var birthDate: String

    /// The algorithm identifier announced in the FCI (`9F0C`); `null` announces none.
    public var algorithm: Int? = 3
    /// `"tag"` (P2 = 00 works), `"recordNumber"` (tag addressing refused with `6A86`), `"sfiOnly"`
    /// (SELECT EF refused with `6A82`; records only by SFI), `"p1Zero"` (SELECT EF only with P1 = 00).
    public var addressing: String = "tag"
    /// `"normal"`, `"applicationLocked"` (6A81), `"cardLocked"` (9303).
    public var state: String = "normal"
    /// The social-security PIN and its tries.
    public var pin: String = "123456"
    public var pinTries: Int = 3
    /// External-authentication tries left.
    public var externalAuthenticationTries: Int = 3
    /// A counterfeit: INTERNAL AUTHENTICATE answers with the wrong cryptogram.
    public var counterfeit: Bool = false
    /// Files the card lacks (`"EF06"`): SELECT and READ RECORD by SFI answer `6A82`.
    public var missingFiles: [String] = []
    /// Item tags the card lacks (decimal, e.g. `8` for the social security number): `6A83`.
    public var missingTags: [Int] = []

    /// The bank application, or `null` for a card without one.
    public var bank: Bank? = Bank()

    public struct Bank: Codable, Sendable, Hashable {
        public var aid: String = "A000000333010101"
        /// `"both"`, `"ppse"`, `"pse"`, `"none"` (directories on the card).
        public var directory: String = "pse"
        public var pan: String = "6228230029000005274"
        /// Only track 2 equivalent data (`57`), no `5A`.
        public var panOnlyInTrack2: Bool = false
        public var panSequence: Int = 1
        /// `YYYY-MM-DD`, stored as YYMMDD.
        public var expiry: String = "2030-12-31"
        /// `null` for none. Stored in `5F20` (ASCII part) and `9F0B` (GB18030) when not ASCII.
        public var holderName: String? = "ZHANG/SAN"
        public var holderId: String? = nil
        public var holderIdType: Int = 0
        /// PDOL hex (`9F38`), `""` for none.
        public var pdol: String = "9F7A019F02065F2A02"
        /// 1 (`80`) or 2 (`77`).
        public var gpoFormat: Int = 2
        /// SELECT AID answers `6283` (application blocked).
        public var blocked: Bool = false

        public init() {}
    }

    public init(citizenId: String, name: String, birthDate: String) {
        self.citizenId = citizenId
        self.name = name
        self.birthDate = birthDate
    }

    /// Reads a fixture file.
    public static func load(path: String) throws -> SocialSecurityCardFixture {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return try JSONDecoder().decode(SocialSecurityCardFixture.self, from: data)
    }

    // Decoding with defaults for every absent key.
    private enum CodingKeys: String, CodingKey {
        case summary, atr, `protocol`, t0ChunkSize, region, cardSpecific, cardType, specVersion, issueDate, expiryDate,
            cardNumber, citizenId, name, gender, nation, birthplace, birthDate, algorithm, addressing, state, pin, pinTries,
            externalAuthenticationTries, counterfeit, missingFiles, missingTags, bank
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            citizenId: try c.decode(String.self, forKey: .citizenId), name: try c.decode(String.self, forKey: .name),
            birthDate: try c.decode(String.self, forKey: .birthDate))
        func read<T: Decodable>(_ key: CodingKeys, _ target: inout T) throws {
            if let value = try c.decodeIfPresent(T.self, forKey: key) { target = value }
        }
        try read(.summary, &self.summary)
        try read(.atr, &self.atr)
        try read(.protocol, &self.protocol)
        try read(.t0ChunkSize, &self.t0ChunkSize)
        try read(.region, &self.region)
        try read(.cardSpecific, &self.cardSpecific)
        try read(.cardType, &self.cardType)
        try read(.specVersion, &self.specVersion)
        if c.contains(.issueDate) { self.issueDate = try c.decodeIfPresent(String.self, forKey: .issueDate) }
        if c.contains(.expiryDate) { self.expiryDate = try c.decodeIfPresent(String.self, forKey: .expiryDate) }
        try read(.cardNumber, &self.cardNumber)
        try read(.gender, &self.gender)
        try read(.nation, &self.nation)
        try read(.birthplace, &self.birthplace)
        if c.contains(.algorithm) { self.algorithm = try c.decodeIfPresent(Int.self, forKey: .algorithm) }
        try read(.addressing, &self.addressing)
        try read(.state, &self.state)
        try read(.pin, &self.pin)
        try read(.pinTries, &self.pinTries)
        try read(.externalAuthenticationTries, &self.externalAuthenticationTries)
        try read(.counterfeit, &self.counterfeit)
        try read(.missingFiles, &self.missingFiles)
        try read(.missingTags, &self.missingTags)
        if c.contains(.bank) { self.bank = try c.decodeIfPresent(Bank.self, forKey: .bank) }
    }
}

extension SocialSecurityCardFixture.Bank {
    private enum CodingKeys: String, CodingKey {
        case aid, directory, pan, panOnlyInTrack2, panSequence, expiry, holderName, holderId, holderIdType, pdol, gpoFormat, blocked
    }

    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func read<T: Decodable>(_ key: CodingKeys, _ target: inout T) throws {
            if let value = try c.decodeIfPresent(T.self, forKey: key) { target = value }
        }
        try read(.aid, &self.aid)
        try read(.directory, &self.directory)
        try read(.pan, &self.pan)
        try read(.panOnlyInTrack2, &self.panOnlyInTrack2)
        try read(.panSequence, &self.panSequence)
        try read(.expiry, &self.expiry)
        if c.contains(.holderName) { self.holderName = try c.decodeIfPresent(String.self, forKey: .holderName) }
        if c.contains(.holderId) { self.holderId = try c.decodeIfPresent(String.self, forKey: .holderId) }
        try read(.holderIdType, &self.holderIdType)
        try read(.pdol, &self.pdol)
        try read(.gpoFormat, &self.gpoFormat)
        try read(.blocked, &self.blocked)
    }
}
