import Synchronization

/// One source of reader events (one monitor thread, one reader-service context) shared by any number of
/// subscribers.
///
/// The source starts with the first subscriber and stops when the last one leaves. Every subscriber first
/// gets the state the source has reported so far (service online, each reader, each card), then every
/// event from its subscription on. Each subscriber has its own unbounded buffer, so one that stops reading
/// cannot stall the source or the others.
public final class ReaderEventFanout: Sendable {
    /// Starts a source that calls `emit` for each event (from any thread) and returns the function that
    /// stops it. The returned stop may be called from any thread and must not wait for `emit` callers.
    public typealias Start = @Sendable (_ emit: @escaping @Sendable (ReaderEvent) -> Void) -> @Sendable () -> Void

    private struct State {
        var generation = 0
        var running = false
        var stop: (@Sendable () -> Void)?
        var subscribers: [Int: AsyncStream<ReaderEvent>.Continuation] = [:]
        var nextSubscriber = 0
        var snapshot = ReaderSnapshot()
        var starts = 0
    }

    private let start: Start
    private let state = Mutex(State())

    public init(start: @escaping Start) { self.start = start }

    /// Subscribers now (for diagnostics and tests).
    public var subscriberCount: Int { self.state.withLock { $0.subscribers.count } }
    /// How many times the source has been started (for diagnostics and tests).
    public var sourceStarts: Int { self.state.withLock { $0.starts } }

    /// A new subscription: the state so far, then every event, until the consumer stops iterating.
    public func subscribe() -> AsyncStream<ReaderEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: ReaderEvent.self, bufferingPolicy: .unbounded)
        let (id, startGeneration) = self.state.withLock { state -> (Int, Int?) in
            let id = state.nextSubscriber
            state.nextSubscriber += 1
            state.subscribers[id] = continuation
            for event in state.snapshot.events { continuation.yield(event) }
            guard !state.running else { return (id, nil) }
            state.running = true
            state.starts += 1
            return (id, state.generation)
        }
        continuation.onTermination = { [weak self] _ in self?.unsubscribe(id) }
        if let generation = startGeneration {
            // Started outside the lock: a source may emit before `start` returns.
            let stop = self.start { [weak self] event in self?.publish(event, generation: generation) }
            let stopNow = self.state.withLock { state -> Bool in
                guard state.generation == generation else { return true }
                state.stop = stop
                return false
            }
            if stopNow { stop() }
        }
        return stream
    }

    private func publish(_ event: ReaderEvent, generation: Int) {
        self.state.withLock { state in
            guard state.generation == generation else { return }
            state.snapshot.apply(event)
            for continuation in state.subscribers.values { continuation.yield(event) }
        }
    }

    private func unsubscribe(_ id: Int) {
        let stop = self.state.withLock { state -> (@Sendable () -> Void)? in
            guard state.subscribers.removeValue(forKey: id) != nil, state.subscribers.isEmpty, state.running else { return nil }
            // The last subscriber left: the source stops, and a later subscriber starts a fresh one.
            state.generation += 1
            state.running = false
            state.snapshot = ReaderSnapshot()
            defer { state.stop = nil }
            return state.stop
        }
        stop?()
    }
}

/// The reader state that a sequence of ``ReaderEvent``s describes, replayable as events.
public struct ReaderSnapshot: Sendable, Hashable {
    private enum Card: Sendable, Hashable {
        case inserted([UInt8])
        case mute
    }

    /// True after `serviceOnline`, false after `serviceOffline`, nil before either.
    public private(set) var online: Bool?
    private var offlineReason = ""
    private var readers: [String] = []
    private var cards: [String: Card] = [:]

    public init() {}

    /// Takes one event into the state.
    public mutating func apply(_ event: ReaderEvent) {
        switch event {
        case .serviceOnline:
            self.online = true
        case .serviceOffline(let reason):
            self.online = false
            self.offlineReason = reason
            self.readers.removeAll()
            self.cards.removeAll()
        case .readerAttached(let name):
            if !self.readers.contains(name) { self.readers.append(name) }
        case .readerDetached(let name):
            self.readers.removeAll { $0 == name }
            self.cards[name] = nil
        case .cardInserted(let reader, let atr):
            self.cards[reader] = .inserted(atr)
        case .cardMute(let reader):
            self.cards[reader] = .mute
        case .cardRemoved(let reader):
            self.cards[reader] = nil
        }
    }

    /// The events that bring a new subscriber to this state, in the order a source reports them.
    public var events: [ReaderEvent] {
        switch self.online {
        case nil: return []
        case false?: return [.serviceOffline(reason: self.offlineReason)]
        case true?:
            var events: [ReaderEvent] = [.serviceOnline]
            for name in self.readers {
                events.append(.readerAttached(name))
                switch self.cards[name] {
                case .inserted(let atr)?: events.append(.cardInserted(reader: name, atr: atr))
                case .mute?: events.append(.cardMute(reader: name))
                case nil: break
                }
            }
            return events
        }
    }
}
