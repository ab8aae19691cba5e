extension Duration {
    /// The duration in seconds, for APIs that take a `TimeInterval` (`Thread.sleep`, `Date`).
    public var inSeconds: Double {
        Double(self.components.seconds) + Double(self.components.attoseconds) / 1e18
    }

    /// The duration in microseconds, for figures a person reads.
    public var inMicroseconds: Double { self.inSeconds * 1e6 }

    /// Whole milliseconds, clamped to `UInt32`, for PC/SC timeouts.
    public var inMilliseconds: UInt32 {
        UInt32(clamping: self.components.seconds * 1000 + self.components.attoseconds / 1_000_000_000_000_000)
    }
}
