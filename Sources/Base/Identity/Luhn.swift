/// The Luhn (mod 10) check digit of card numbers (ISO/IEC 7812).
public enum Luhn {
    /// The check digit to append to `digits`, or `nil` when `digits` is not all decimal digits.
    public static func checkDigit(for digits: String) -> Int? {
        var sum = 0
        for (offset, character) in digits.reversed().enumerated() {
            guard let digit = character.wholeNumberValue, character.isASCII else { return nil }
            let doubled = offset % 2 == 0 ? digit * 2 : digit
            sum += doubled > 9 ? doubled - 9 : doubled
        }
        return (10 - sum % 10) % 10
    }

    /// True when the last digit of `number` is its Luhn check digit.
    public static func isValid(_ number: String) -> Bool {
        guard number.count >= 2, let last = number.last?.wholeNumberValue else { return false }
        return self.checkDigit(for: String(number.dropLast())) == last
    }
}
