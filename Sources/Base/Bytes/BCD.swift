/// Packed binary-coded decimal as cards store numbers: two digits per byte, high nibble first, an odd
/// count padded with `F`. Track data also uses `D` as a separator nibble.
public enum BCD {
    /// Packs nibbles (0–15) two per byte; an odd count gets a trailing `F`.
    public static func pack(nibbles: [UInt8]) -> [UInt8] {
        let padded = nibbles.count % 2 == 0 ? nibbles : nibbles + [0x0F]
        return stride(from: 0, to: padded.count, by: 2).map { (padded[$0] & 0x0F) << 4 | (padded[$0 + 1] & 0x0F) }
    }

    /// Packs a string of decimal digits, or `nil` when it holds anything else.
    public static func pack(_ digits: some StringProtocol) -> [UInt8]? {
        let nibbles = digits.utf8.map { $0 &- 0x30 }
        guard nibbles.allSatisfy({ $0 <= 9 }) else { return nil }
        return Self.pack(nibbles: nibbles)
    }

    /// Every nibble, high first.
    public static func nibbles(_ bytes: some Sequence<UInt8>) -> [UInt8] {
        bytes.flatMap { [$0 >> 4, $0 & 0x0F] }
    }

    /// The digits up to the first `F` nibble (padding), or `nil` when a nibble before it is not decimal.
    public static func digits(_ bytes: some Sequence<UInt8>) -> String? {
        var digits = ""
        for nibble in Self.nibbles(bytes) {
            if nibble == 0x0F { return digits }
            guard nibble <= 9 else { return nil }
            digits.append(Character(Unicode.Scalar(0x30 + nibble)))
        }
        return digits
    }
}
