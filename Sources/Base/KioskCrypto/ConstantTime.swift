/// Comparisons whose time does not depend on where two secrets differ: MACs and check values are compared
/// with these, so a peer cannot learn a valid MAC byte by byte from how fast a wrong one is refused.
public enum ConstantTime {
    /// True when `a` and `b` have the same length and bytes; every byte is looked at either way.
    public static func equal(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for (x, y) in zip(a, b) { difference |= x ^ y }
        return difference == 0
    }
}
