import Bytes
public import Identity
import APDU

/// The specification version in EF05 tag `03` (`"1.00"`, `"2.00"`, `"3.00"`).
public struct SpecVersion: Hashable, Sendable, CustomStringConvertible {
    /// The text as the card holds it.
    public let text: String
    /// 1, 2 or 3: the first character (`cards.md` §1.5). 0 when it is not a digit.
    public var generation: Int { self.text.first?.wholeNumberValue ?? 0 }
    /// 3.00 cards release name and ID number only after external authentication.
    public var needsAuthentication: Bool { self.generation >= 3 }

    public init(_ text: String) { self.text = text }
    public var description: String { self.text }
}

/// What the SSSE application of a social security card says about the card and its holder.
/// Holds personal data: log only ``masked``-style projections.
public struct SocialSecurityIdentity: Hashable, Sendable {
    /// EF05/01, 16 bytes: region code (3 BCD bytes), `D156000005`, 8 card-specific bytes.
    public var cardIdentifier: [UInt8]
    /// The issuing region (first six digits of the card identification code).
    public var region: Region?
    /// EF05/02 (meaning of the values is not public; kept as text).
    public var cardType: String
    public var specVersion: SpecVersion
    public var issueDate: CalendarDate?
    public var expiryDate: CalendarDate?
    /// EF05/07, 9 characters (`X00000019`).
    public var cardNumber: String
    /// EF06/08: the social security number, which is the holder's identity document number: the citizen ID,
    /// an HK/Macao/Taiwan residence permit's number, or a foreign permanent residence card's number.
    public var socialSecurityNumber: PersonalIDNumber
    /// EF06/09 + 4E, decoded from GB18030.
    public var name: String
    public var gender: Gender?
    public var nation: Nation?
    /// EF06/0C, region code digits (trailing `F` padding stripped).
    public var birthplace: String?
    public var birthDate: CalendarDate?

    /// True when the card has an expiry date and it lies before `date`.
    public func isExpired(on date: CalendarDate) -> Bool {
        guard let expiry = self.expiryDate else { return false }
        return expiry < date
    }

    /// The card's region code digits, from the card identification code.
    public static func regionDigits(cardIdentifier: [UInt8]) -> String? {
        guard cardIdentifier.count >= 3 else { return nil }
        return BCD.digits(Array(cardIdentifier.prefix(3)))
    }
}

extension SocialSecurityIdentity {
    /// Builds and validates the model from item values keyed by tag (what the reader collected).
    /// - Throws: ``CardReadError`` with ``CardReadError/Reason/invalidData`` naming the item.
    public init(values: [UInt8: [UInt8]]) throws(CardReadError) {
        func require(_ item: SSSEItem) throws(CardReadError) -> [UInt8] {
            guard let value = values[item.tag] else {
                throw CardReadError(.recordNotFound, step: "READ RECORD \(item)", detail: "item missing")
            }
            return value
        }
        func invalid(_ item: SSSEItem, _ why: String) -> CardReadError {
            CardReadError(.invalidData, step: "decode \(item)", detail: why)
        }
        func ascii(_ item: SSSEItem) throws(CardReadError) -> String {
            let value = try require(item).filter { $0 != 0x00 && $0 != 0xFF }
            guard value.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else { throw invalid(item, "not ASCII") }
            return String(decoding: value, as: UTF8.self).trimmingSpaces()
        }
        func date(_ item: SSSEItem) throws(CardReadError) -> CalendarDate? {
            guard let value = values[item.tag], !SSSECodec.isAbsent(value) else { return nil }
            guard let date = CalendarDate(bcd: value) else { throw invalid(item, "not a BCD date: \(Hex.encode(value))") }
            return date
        }

        let identifier = try require(.cardIdentifier)
        self.cardIdentifier = identifier
        self.region = Self.regionDigits(cardIdentifier: identifier).flatMap(Region.init(code:))
        self.cardType = values[SSSEItem.cardType.tag] == nil ? "" : try ascii(.cardType)
        self.specVersion = SpecVersion(try ascii(.specVersion))
        self.issueDate = try date(.issueDate)
        self.expiryDate = try date(.expiryDate)
        // The standard reads only the first 9 characters of the card number (cards.md §1.2).
        self.cardNumber = String(try ascii(.cardNumber).prefix(9))

        let idText = try ascii(.socialSecurityNumber)
        do {
            self.socialSecurityNumber = try PersonalIDNumber(idText)
        } catch {
            throw invalid(.socialSecurityNumber, error.description)
        }

        var nameBytes = try require(.name)
        if let ext = values[SSSEItem.nameExtension.tag] {
            // The extension continues the name: drop the name's padding first.
            while let last = nameBytes.last, SSSECodec.isPadding(last) { nameBytes.removeLast() }
            nameBytes += ext
        }
        do {
            self.name = try GB18030.decode(nameBytes)
        } catch {
            throw invalid(.name, error.description)
        }
        guard !self.name.isEmpty else { throw invalid(.name, "empty name") }

        if let value = values[SSSEItem.gender.tag], let byte = value.first, !SSSECodec.isAbsent(value) {
            guard let gender = Gender(code: Character(Unicode.Scalar(byte))) else {
                throw invalid(.gender, "unknown gender code \(Hex.encode(value))")
            }
            self.gender = gender
        } else {
            self.gender = nil
        }
        // Nation: one binary byte per cards.md §1.2 (01 = 汉).
        if let value = values[SSSEItem.nation.tag], let byte = value.first, !SSSECodec.isAbsent(value) {
            self.nation = Nation(code: Int(byte))
        } else {
            self.nation = nil
        }
        if let value = values[SSSEItem.birthplace.tag], !SSSECodec.isAbsent(value) {
            guard let digits = BCD.digits(value) else { throw invalid(.birthplace, "not BCD: \(Hex.encode(value))") }
            self.birthplace = digits
        } else {
            self.birthplace = nil
        }
        self.birthDate = try date(.birthDate)
    }
}

extension String {
    func trimmingSpaces() -> String {
        String(self.drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}

extension SocialSecurityIdentity: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// Masked: safe to log. The clear values are only in the properties.
    public var description: String {
        "SocialSecurityIdentity(spec \(self.specVersion), card \(Masking.tail(self.cardNumber)), ID \(self.socialSecurityNumber.masked), name \(Masking.name(self.name)))"
    }
    public var debugDescription: String { self.description }
    public var customMirror: Mirror { Mirror(self, children: ["masked": self.description], displayStyle: .struct) }
}
