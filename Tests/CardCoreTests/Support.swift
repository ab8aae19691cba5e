import APDU
import CardCore
import CardSimulator
import Synchronization

/// Records every command a card receives.
final class RecordingCard: VirtualCard {
    let inner: any VirtualCard
    private let log = Mutex<[[UInt8]]>([])
    init(_ inner: any VirtualCard) { self.inner = inner }
    var atr: [UInt8] { self.inner.atr }
    func reset() { self.inner.reset() }
    func process(_ command: [UInt8]) -> [UInt8]? {
        self.log.withLock { $0.append(command) }
        return self.inner.process(command)
    }
    var received: [String] { self.log.withLock { $0.map { Hex.encode($0) } } }
}

/// Collects events from a stream until `count` arrived (or the stream ends).
func collect(_ stream: AsyncStream<ReaderEvent>, count: Int) async -> [ReaderEvent] {
    var events: [ReaderEvent] = []
    for await event in stream {
        events.append(event)
        if events.count == count { break }
    }
    return events
}

let ssseName: [UInt8] = [0x73, 0x78, 0x31, 0x2E, 0x73, 0x68, 0x2E, 0xC9, 0xE7, 0xBB, 0xE1, 0xB1, 0xA3, 0xD5, 0xCF]
