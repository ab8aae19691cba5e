/// Splits a byte stream into lines. A line longer than the limit is an error, and its bytes are skipped
/// up to its newline, so one oversized message does not cost the connection's framing.
public struct LineSplitter: Sendable {
    public let limit: Int
    private var buffer: [UInt8] = []
    private var discarding = false

    public init(limit: Int) { self.limit = limit }

    public mutating func append(_ bytes: some Sequence<UInt8>) { self.buffer.append(contentsOf: bytes) }

    /// The next whole line (without `\n`, a trailing `\r` removed), `nil` when more bytes are needed.
    public mutating func next() throws(LineTooLong) -> [UInt8]? {
        while true {
            guard let newline = self.buffer.firstIndex(of: 0x0A) else {
                if self.buffer.count > self.limit {
                    self.buffer.removeAll()
                    if !self.discarding {
                        self.discarding = true
                        throw LineTooLong(limit: self.limit)
                    }
                }
                return nil
            }
            var line = Array(self.buffer[..<newline])
            self.buffer.removeSubrange(...newline)
            if self.discarding {
                self.discarding = false
                continue
            }
            if line.last == 0x0D { line.removeLast() }
            guard line.count <= self.limit else { throw LineTooLong(limit: self.limit) }
            if line.isEmpty { continue }
            return line
        }
    }
}

/// A line longer than its splitter's limit (its bytes are skipped up to the newline).
public struct LineTooLong: Error, Hashable, Sendable, CustomStringConvertible {
    public let limit: Int
    public init(limit: Int) { self.limit = limit }
    public var description: String { "a line longer than \(self.limit) bytes" }
}
