import APDU
import Bytes
public import CardCore
public import CardSimulator
import Synchronization

/// Records every command a card receives.
public final class RecordingCard: VirtualCard {
    public let inner: any VirtualCard
    private let log = Mutex<[[UInt8]]>([])
    public init(_ inner: any VirtualCard) { self.inner = inner }
    public var atr: [UInt8] { self.inner.atr }
    public func reset() { self.inner.reset() }
    public func process(_ command: [UInt8]) -> [UInt8]? {
        self.log.withLock { $0.append(command) }
        return self.inner.process(command)
    }
    /// The commands received, as hex.
    public var received: [String] { self.log.withLock { $0.map { Hex.encode($0) } } }
}

/// Collects events from a stream until `count` arrived (or the stream ends).
public func collect(_ stream: AsyncStream<ReaderEvent>, count: Int) async -> [ReaderEvent] {
    var events: [ReaderEvent] = []
    for await event in stream {
        events.append(event)
        if events.count == count { break }
    }
    return events
}

/// A thread-safe counter.
public final class Counter: Sendable {
    private let count = Mutex(0)
    public init() {}
    public func increment() -> Int { self.count.withLock { $0 += 1; return $0 } }
    public var value: Int { self.count.withLock { $0 } }
}

/// A thread-safe list of strings.
public final class Recorder: Sendable {
    private let list = Mutex<[String]>([])
    public init() {}
    public func append(_ item: String) { self.list.withLock { $0.append(item) } }
    public var items: [String] { self.list.withLock { $0 } }
}

/// The SSSE application's DF name, `sx1.sh.社会保障` in GBK (cards.md §1.1).
public let ssseName: [UInt8] = [0x73, 0x78, 0x31, 0x2E, 0x73, 0x68, 0x2E, 0xC9, 0xE7, 0xBB, 0xE1, 0xB1, 0xA3, 0xD5, 0xCF]

/// A card slot whose card can be exchanged without the reader noticing a removal: tests that read many
/// cards through one vpcd connection swap the card instead of reconnecting for each.
public final class SwappableCard: VirtualCard {
    private let current: Mutex<any VirtualCard>
    public init(_ card: any VirtualCard) { self.current = Mutex(card) }
    /// Puts `card` in, reset, in place of the current one.
    public func swap(to card: any VirtualCard) {
        card.reset()
        self.current.withLock { $0 = card }
    }
    public var atr: [UInt8] { self.current.withLock { $0.atr } }
    public func reset() { self.current.withLock { $0 }.reset() }
    public func process(_ command: [UInt8]) -> [UInt8]? { self.current.withLock { $0 }.process(command) }
}
