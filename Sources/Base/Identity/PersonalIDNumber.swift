/// The number of a person's identity document, as a social security card holds it in EF06 tag `08` (the
/// "social security number") and as the document itself prints it (`cards.md` §3.3–3.4):
///
/// - a citizen ID (18 characters, GB 11643) for resident ID cards, and for the residence permits of Hong Kong,
///   Macao and Taiwan residents, whose numbers start `81`, `82` and `83`;
/// - the 2023 foreign permanent residence ID number: 18 characters starting with `9`, ISO 7064 MOD 11-2 check
///   character as a citizen ID;
/// - the 2017 foreign permanent residence card number: 15 characters, a three-letter nationality code and
///   12 digits.
///
/// Comparison is on the normalised form: spaces removed, letters upper-cased (a lowercase `x` check
/// character is the same as `X`).
public struct PersonalIDNumber: Hashable, Sendable, CustomStringConvertible {
    public enum Kind: String, Hashable, Sendable, CaseIterable {
        /// A resident's citizen ID.
        case citizen
        /// A Hong Kong, Macao or Taiwan resident's residence-permit number (`81`, `82`, `83`…).
        case residencePermit
        /// A foreign permanent resident's ID number, 2023 form (`9`…, 18 characters).
        case foreignPermanentResident2023
        /// A foreign permanent resident's card number, 2017 form (3 letters + 12 digits).
        case foreignPermanentResident2017
    }

    /// Why a string is no identity document number.
    public struct Problem: Error, Hashable, Sendable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// The normalised characters.
    public let value: String
    public let kind: Kind

    /// Validates `text` in any of the forms above.
    public init(_ text: String) throws(Problem) {
        let normal = Self.normalised(text)
        let bytes = Array(normal.utf8)
        if bytes.count == 15 {
            guard bytes.prefix(3).allSatisfy({ $0 >= 0x41 && $0 <= 0x5A }), bytes.dropFirst(3).allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
                throw Problem("a 15-character number must be 3 letters and 12 digits (2017 foreign permanent residence card)")
            }
            self.value = normal
            self.kind = .foreignPermanentResident2017
            return
        }
        guard bytes.count == 18 else { throw Problem("identity number has \(bytes.count) characters, expected 18 (or 15 for a 2017 foreign card)") }
        if normal.hasPrefix("9") {
            guard bytes.prefix(17).allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                bytes[17] >= 0x30 && bytes[17] <= 0x39 || bytes[17] == UInt8(ascii: "X")
            else { throw Problem("foreign permanent residence number has a character that is not a digit") }
            let expected = CitizenID.checkCharacter(for: bytes.prefix(17).map { Int($0 - 0x30) })
            guard expected == Character(Unicode.Scalar(bytes[17])) else {
                throw Problem("foreign permanent residence number check character is \(Character(Unicode.Scalar(bytes[17]))), expected \(expected) (ISO 7064 MOD 11-2)")
            }
            self.value = normal
            self.kind = .foreignPermanentResident2023
            return
        }
        do {
            let citizen = try CitizenID(normal)
            self.value = citizen.value
            self.kind = ["81", "82", "83"].contains(String(normal.prefix(2))) ? .residencePermit : .citizen
        } catch {
            throw Problem(error.description)
        }
    }

    /// A validated citizen ID.
    public init(_ citizenID: CitizenID) {
        self.value = citizenID.value
        self.kind = ["81", "82", "83"].contains(String(citizenID.value.prefix(2))) ? .residencePermit : .citizen
    }

    /// The number as a citizen ID, for the kinds that are one (residents and HK/Macao/Taiwan permits).
    public var citizenID: CitizenID? {
        guard self.kind == .citizen || self.kind == .residencePermit else { return nil }
        return try? CitizenID(self.value)
    }

    /// Spaces removed, letters upper-cased: the form numbers are compared in.
    public static func normalised(_ text: String) -> String {
        String(text.unicodeScalars.filter { !$0.properties.isWhitespace }.map(Character.init)).uppercased()
    }

    /// True when two numbers, as printed or read, are the same person's document number.
    public static func same(_ a: String, _ b: String) -> Bool {
        let left = Self.normalised(a)
        return !left.isEmpty && left == Self.normalised(b)
    }

    /// First three and last four characters, the rest `*`.
    public var masked: String { Masking.citizenID(self.value) }

    public var description: String { self.masked }
}
