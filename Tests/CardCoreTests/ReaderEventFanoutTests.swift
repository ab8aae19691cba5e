import CardCore
import Synchronization
import TestSupport
import Testing

/// A hand-driven event source: the test emits, and sees starts and stops.
private final class ManualSource: Sendable {
    private struct State {
        var emit: (@Sendable (ReaderEvent) -> Void)?
        var starts = 0
        var stops = 0
    }
    private let state = Mutex(State())

    var start: ReaderEventFanout.Start {
        { [self] emit in
            self.state.withLock {
                $0.emit = emit
                $0.starts += 1
            }
            return { [self] in
                self.state.withLock {
                    $0.stops += 1
                    $0.emit = nil
                }
            }
        }
    }

    func emit(_ event: ReaderEvent) { self.state.withLock { $0.emit }?(event) }
    var starts: Int { self.state.withLock { $0.starts } }
    var stops: Int { self.state.withLock { $0.stops } }
}

/// The first `count` events of `stream` (fewer if 5 s pass). The subscription ends afterwards: its reader is
/// cancelled while it waits for the next event, as a consumer that stops iterating would.
private func take(_ count: Int, from stream: AsyncStream<ReaderEvent>) async -> [ReaderEvent] {
    let box = Mutex<[ReaderEvent]>([])
    let reader = Task {
        for await event in stream { box.withLock { $0.append(event) } }
    }
    _ = await waitUntil(timeout: .seconds(5)) { box.withLock { $0.count >= count } }
    reader.cancel()
    return Array(box.withLock { $0 }.prefix(count))
}

@Suite("Reader event fan-out")
struct ReaderEventFanoutTests {
    @Test("one source for any number of subscribers; each gets every event; the source stops with the last")
    func oneSource() async {
        let source = ManualSource()
        let fanout = ReaderEventFanout(start: source.start)
        let streams = (0..<3).map { _ in fanout.subscribe() }
        #expect(source.starts == 1)
        #expect(fanout.subscriberCount == 3)
        let events: [ReaderEvent] = [.serviceOnline, .readerAttached("R 00 00"), .cardInserted(reader: "R 00 00", atr: [0x3B, 0x00])]
        for event in events { source.emit(event) }
        for stream in streams { #expect(await take(3, from: stream) == events) }
        // take() ends each subscription.
        #expect(await waitUntil(timeout: .seconds(5)) { fanout.subscriberCount == 0 })
        #expect(source.stops == 1)
        // A later subscriber starts a fresh source and does not see the old one's state.
        let later = fanout.subscribe()
        #expect(source.starts == 2)
        source.emit(.serviceOffline(reason: "gone"))
        #expect(await take(1, from: later) == [.serviceOffline(reason: "gone")])
    }

    @Test("a late subscriber first gets the state so far, then changes")
    func lateSubscriberSnapshot() async {
        let source = ManualSource()
        let fanout = ReaderEventFanout(start: source.start)
        let first = fanout.subscribe()
        for event: ReaderEvent in [
            .serviceOnline, .readerAttached("A"), .readerAttached("B"), .readerAttached("C"),
            .cardInserted(reader: "A", atr: [1]), .cardMute(reader: "B"), .cardInserted(reader: "C", atr: [3]),
            .cardRemoved(reader: "C"), .readerDetached("A"),
        ] { source.emit(event) }
        let late = fanout.subscribe()
        source.emit(.cardInserted(reader: "C", atr: [4]))
        #expect(
            await take(5, from: late) == [
                .serviceOnline, .readerAttached("B"), .cardMute(reader: "B"), .readerAttached("C"),
                .cardInserted(reader: "C", atr: [4]),
            ])
        #expect(await take(10, from: first).count == 10)
        #expect(source.starts == 1)
    }

    @Test("a service loss forgets readers and cards: a late subscriber hears only that the service is offline")
    func offlineSnapshot() async {
        let source = ManualSource()
        let fanout = ReaderEventFanout(start: source.start)
        let first = fanout.subscribe()
        for event: ReaderEvent in [.serviceOnline, .readerAttached("A"), .cardInserted(reader: "A", atr: [1]), .serviceOffline(reason: "pcscd stopped")] {
            source.emit(event)
        }
        #expect(await take(1, from: fanout.subscribe()) == [.serviceOffline(reason: "pcscd stopped")])
        _ = first
    }

    @Test("a subscriber that never reads stalls neither the source nor the others")
    func slowSubscriber() async {
        let source = ManualSource()
        let fanout = ReaderEventFanout(start: source.start)
        let idle = fanout.subscribe()
        let active = fanout.subscribe()
        let events = (0..<2_000).map { ReaderEvent.cardInserted(reader: "R", atr: [UInt8($0 & 0xFF)]) }
        for event in events { source.emit(event) }
        #expect(await take(events.count, from: active) == events)
        // The idle one still has every event waiting for it, in order.
        #expect(await take(events.count, from: idle) == events)
    }
}
