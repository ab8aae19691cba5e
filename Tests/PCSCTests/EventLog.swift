import TestSupport
import CardCore
import Foundation
import Synchronization

/// Consumes a reader event stream in the background and lets a test wait for an event.
final class EventLog: Sendable {
    private final class Storage: Sendable {
        let events = Mutex<[ReaderEvent]>([])
    }

    private let storage = Storage()
    private let consumer: Task<Void, Never>

    init(_ stream: AsyncStream<ReaderEvent>) {
        let storage = self.storage
        self.consumer = Task {
            for await event in stream { storage.events.withLock { $0.append(event) } }
        }
    }

    deinit { self.consumer.cancel() }

    /// Stops consuming: the stream ends and the monitor behind it stops.
    func stop() { self.consumer.cancel() }

    var all: [ReaderEvent] { self.storage.events.withLock { $0 } }
    var count: Int { self.storage.events.withLock { $0.count } }

    /// Waits until an event at index ≥ `from` matches, and returns its index; `nil` after `timeout`.
    func waitFor(from: Int = 0, timeout: Duration = .seconds(5), _ predicate: (ReaderEvent) -> Bool) async -> Int? {
        await poll(timeout: timeout, every: .milliseconds(5)) {
            self.storage.events.withLock { events in
                guard from < events.count else { return nil }
                return events[from...].firstIndex(where: predicate)
            }
        }
    }
}
