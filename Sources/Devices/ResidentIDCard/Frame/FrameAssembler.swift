/// Reassembles module frames from a byte stream that arrives in arbitrary pieces: a frame byte by byte,
/// several frames in one read, garbage in between. Pure: feed bytes with ``append(_:)``, take results
/// with ``next()`` until it returns `nil`.
///
/// Resynchronisation: bytes before a preamble are dropped (and counted). A frame with an impossible
/// length or a wrong checksum is reported as an error, and the search resumes one byte after its
/// preamble, so a corrupt length can never swallow the frames behind it.
public struct FrameAssembler: Sendable {
    private var buffer: [UInt8] = []
    /// Garbage bytes dropped while looking for a preamble, in total.
    public private(set) var discardedCount = 0

    public init() {}

    /// Bytes received and not yet part of a returned frame.
    public var bufferedCount: Int { self.buffer.count }

    /// Adds received bytes.
    public mutating func append(_ bytes: some Sequence<UInt8>) {
        self.buffer.append(contentsOf: bytes)
    }

    /// The next complete frame or error, or `nil` when more bytes are needed.
    public mutating func next() -> Result<ModuleFrame, ModuleFrameError>? {
        let preamble = ModuleFrame.preamble
        // Drop everything before the first preamble; keep a partial preamble at the end.
        guard let start = Self.firstIndex(of: preamble, in: self.buffer) else {
            let keep = Self.partialPreambleSuffix(self.buffer)
            self.discardedCount += self.buffer.count - keep
            self.buffer.removeFirst(self.buffer.count - keep)
            return nil
        }
        if start > 0 {
            self.discardedCount += start
            self.buffer.removeFirst(start)
        }
        guard self.buffer.count >= 7 else { return nil }
        let length = Int(self.buffer[5]) << 8 | Int(self.buffer[6])
        guard length >= 2, length <= ModuleFrame.maximumLength else {
            self.buffer.removeFirst()
            return .failure(ModuleFrameError(.invalidLength, offset: 5, detail: "LEN \(length) outside 2…\(ModuleFrame.maximumLength)"))
        }
        let total = 7 + length
        guard self.buffer.count >= total else { return nil }
        let body = Array(self.buffer[7..<total - 1])
        let expected = ModuleFrame.checksum(self.buffer[5..<total - 1])
        let found = self.buffer[total - 1]
        guard expected == found else {
            self.buffer.removeFirst()
            return .failure(ModuleFrameError(.checksumMismatch, offset: total - 1, detail: "CHK \(found), expected \(expected)"))
        }
        self.buffer.removeFirst(total)
        return .success(ModuleFrame(body: body))
    }

    /// Forgets buffered bytes (before a new command, stale bytes are noise).
    public mutating func reset() {
        self.discardedCount += self.buffer.count
        self.buffer.removeAll()
    }

    static func firstIndex(of pattern: [UInt8], in bytes: [UInt8]) -> Int? {
        guard bytes.count >= pattern.count else { return nil }
        var index = 0
        while index <= bytes.count - pattern.count {
            if bytes[index] == pattern[0] && Array(bytes[index..<index + pattern.count]) == pattern { return index }
            index += 1
        }
        return nil
    }

    /// How many trailing bytes could be the start of a preamble.
    static func partialPreambleSuffix(_ bytes: [UInt8]) -> Int {
        let preamble = ModuleFrame.preamble
        for length in stride(from: min(preamble.count - 1, bytes.count), through: 1, by: -1)
        where Array(bytes.suffix(length)) == Array(preamble.prefix(length)) {
            return length
        }
        return 0
    }
}
