/// A resident identity number (公民身份号码, GB 11643-1999): 6-digit region code, 8-digit birth date,
/// 3-digit sequence (odd = male), ISO 7064 MOD 11-2 check character (`0`–`9` or `X`).
///
/// The same number is the social security number on the social security card (EF06 tag `08`) and is
/// printed on the resident ID card. A lowercase `x` is accepted and normalised to `X`.
public struct CitizenID: Hashable, Sendable, CustomStringConvertible {
    /// Why a string is not a valid identity number.
    public enum Problem: Error, Hashable, Sendable, CustomStringConvertible {
        case wrongLength(Int)
        case invalidCharacter(position: Int)
        case unknownRegion(String)
        case invalidBirthDate(String)
        case checkDigitMismatch(expected: Character, found: Character)

        public var description: String {
            switch self {
            case .wrongLength(let count): "identity number has \(count) characters, expected 18"
            case .invalidCharacter(let position): "identity number has an invalid character at position \(position + 1)"
            case .unknownRegion(let prefix): "identity number starts with unknown province code \(prefix)"
            case .invalidBirthDate: "identity number holds an impossible birth date (digits 7–14)"
            case .checkDigitMismatch(let expected, let found):
                "identity number check character is \(found), expected \(expected) (ISO 7064 MOD 11-2)"
            }
        }
    }

    /// The 18 characters, with an uppercase `X`.
    public let value: String

    /// Validates `text` (surrounding spaces and `00`/`FF` padding are the caller's job).
    public init(_ text: String) throws(Problem) {
        let upper = text.uppercased()
        let chars = Array(upper.utf8)
        guard chars.count == 18 else { throw .wrongLength(upper.count) }
        for (index, byte) in chars.enumerated() {
            let isDigit = byte >= 0x30 && byte <= 0x39
            guard isDigit || (index == 17 && byte == UInt8(ascii: "X")) else { throw .invalidCharacter(position: index) }
        }
        let province = String(upper.prefix(2))
        guard Region.provinceName(code: province) != nil || province == "91" else { throw .unknownRegion(province) }
        let birth = String(upper.dropFirst(6).prefix(8))
        guard CalendarDate(digits: birth) != nil else { throw .invalidBirthDate(birth) }
        let expected = Self.checkCharacter(for: chars.prefix(17).map { Int($0 - 0x30) })
        let found = Character(Unicode.Scalar(chars[17]))
        guard expected == found else { throw .checkDigitMismatch(expected: expected, found: found) }
        self.value = upper
    }

    /// The ISO 7064 MOD 11-2 check character for 17 digits.
    public static func checkCharacter(for digits: [Int]) -> Character {
        precondition(digits.count == 17, "MOD 11-2 over 17 digits")
        var sum = 0
        var weight = 1
        // Weights are 2^(18-i) mod 11 for i = 1...17, computed from the right.
        for digit in digits.reversed() {
            weight = (weight * 2) % 11
            sum += digit * weight
        }
        let check = (12 - sum % 11) % 11
        return check == 10 ? "X" : Character(String(check))
    }

    /// The issuing region (first six digits).
    public var regionCode: String { String(self.value.prefix(6)) }
    /// The birth date the number encodes.
    public var birthDate: CalendarDate { CalendarDate(digits: String(self.value.dropFirst(6).prefix(8)))! }
    /// The gender the sequence number encodes (odd = male).
    public var gender: Gender {
        let digit = Int(self.value.utf8[self.value.utf8.index(self.value.utf8.startIndex, offsetBy: 16)] - 0x30)
        return digit % 2 == 1 ? .male : .female
    }

    /// First three and last four characters, the rest `*`: `110***********002X`.
    public var masked: String { Masking.citizenID(self.value) }

    public var description: String { self.masked }
}
