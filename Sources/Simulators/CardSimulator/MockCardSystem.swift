public import CardCore
import Foundation
import Synchronization

/// An in-process reader system for unit tests and the demo: readers and virtual cards you script
/// (insert, remove, mute card, slow card, unplug reader, reset by another application, service loss),
/// behind the same ``SmartCardSystem`` interface as PC/SC. Its events reach subscribers through the same
/// ``ReaderEventFanout`` as PC/SC's monitor: one source, the state so far replayed to each new subscriber.
public final class MockCardSystem: SmartCardSystem {
    struct Slot {
        var card: (any VirtualCard)?
        /// Bumped on every insertion, so a connection notices its card was swapped.
        var insertion = 0
        /// Bumped by ``MockCardSystem/resetCard(in:)``.
        var resets = 0
        var mute = false
        var latency: Duration = .zero
        /// APDUs exchanged with the cards of this reader so far.
        var exchanges = 0
    }

    struct State {
        var order: [String] = []
        var slots: [String: Slot] = [:]
        var online = true
        /// The fan-out's source while anyone subscribes: every change is told to it under this lock, so the
        /// events keep the order of the changes.
        var emit: (@Sendable (ReaderEvent) -> Void)?
    }

    let state = Mutex(State())
    private let fanout = Mutex<ReaderEventFanout?>(nil)

    /// Creates the system with empty readers.
    public init(readers: [String] = ["Mock Reader 00 00"]) {
        self.state.withLock { state in
            for name in readers {
                state.order.append(name)
                state.slots[name] = Slot()
            }
        }
        self.fanout.withLock {
            $0 = ReaderEventFanout { [weak self] emit in
                self?.attach(emit)
                return { [weak self] in self?.state.withLock { $0.emit = nil } }
            }
        }
    }

    /// The fan-out's source starts: it hears the state now, then every change.
    private func attach(_ emit: @escaping @Sendable (ReaderEvent) -> Void) {
        self.state.withLock { state in
            state.emit = emit
            for event in state.online ? [.serviceOnline] + Self.snapshot(state) : [.serviceOffline(reason: "mock reader service stopped")] {
                emit(event)
            }
        }
    }

    // MARK: Scripting

    /// Puts `card` into `reader` (replacing any card there).
    public func insert(_ card: any VirtualCard, into reader: String) {
        card.reset()
        self.mutate { state in
            guard var slot = state.slots[reader] else { return [] }
            var events: [ReaderEvent] = []
            if slot.card != nil { events.append(.cardRemoved(reader: reader)) }
            slot.card = card
            slot.insertion += 1
            state.slots[reader] = slot
            events.append(slot.mute ? .cardMute(reader: reader) : .cardInserted(reader: reader, atr: card.atr))
            return state.online ? events : []
        }
    }

    /// Takes the card out of `reader`.
    public func remove(from reader: String) {
        self.mutate { state in
            guard state.slots[reader]?.card != nil else { return [] }
            state.slots[reader]?.card = nil
            return state.online ? [.cardRemoved(reader: reader)] : []
        }
    }

    /// Makes the card in `reader` stop answering (or answer again).
    public func setMute(_ mute: Bool, reader: String) {
        self.mutate { state in
            state.slots[reader]?.mute = mute
            return []
        }
    }

    /// The APDUs exchanged with cards in `reader` so far (for benchmarks: a critical path is counted in them).
    public func exchangeCount(reader: String) -> Int { self.state.withLock { $0.slots[reader]?.exchanges ?? 0 } }

    /// Delays every exchange with `reader` by `latency` (a slow card or reader).
    public func setLatency(_ latency: Duration, reader: String) {
        self.mutate { state in
            state.slots[reader]?.latency = latency
            return []
        }
    }

    /// Plugs in a new reader.
    public func plug(reader: String) {
        self.mutate { state in
            guard state.slots[reader] == nil else { return [] }
            state.order.append(reader)
            state.slots[reader] = Slot()
            return state.online ? [.readerAttached(reader)] : []
        }
    }

    /// Unplugs a reader; its card goes with it.
    public func unplug(reader: String) {
        self.mutate { state in
            guard let slot = state.slots[reader] else { return [] }
            state.slots[reader] = nil
            state.order.removeAll { $0 == reader }
            guard state.online else { return [] }
            return (slot.card != nil ? [.cardRemoved(reader: reader)] : []) + [.readerDetached(reader)]
        }
    }

    /// Resets the card in `reader` as another application would: connections get
    /// ``ReaderError/Code/cardReset`` on their next exchange.
    public func resetCard(in reader: String) {
        self.mutate { state in
            state.slots[reader]?.resets += 1
            state.slots[reader]?.card?.reset()
            return []
        }
    }

    /// Simulates pcscd stopping (`online: false`) or coming back.
    public func setServiceOnline(_ online: Bool) {
        self.mutate { state in
            guard state.online != online else { return [] }
            state.online = online
            if !online {
                var events: [ReaderEvent] = []
                for name in state.order {
                    if state.slots[name]?.card != nil { events.append(.cardRemoved(reader: name)) }
                    events.append(.readerDetached(name))
                }
                return events + [.serviceOffline(reason: "mock reader service stopped")]
            }
            return [.serviceOnline] + Self.snapshot(state)
        }
    }

    private func mutate(_ body: (inout State) -> [ReaderEvent]) {
        self.state.withLock { state in
            let events = body(&state)
            if let emit = state.emit {
                for event in events { emit(event) }
            }
        }
    }

    private static func snapshot(_ state: State) -> [ReaderEvent] {
        var events: [ReaderEvent] = []
        for name in state.order {
            events.append(.readerAttached(name))
            guard let slot = state.slots[name], let card = slot.card else { continue }
            events.append(slot.mute ? .cardMute(reader: name) : .cardInserted(reader: name, atr: card.atr))
        }
        return events
    }

    // MARK: SmartCardSystem

    public func readers() async throws(ReaderError) -> [ReaderInfo] {
        try self.state.withLock { (state: inout State) throws(ReaderError) -> [ReaderInfo] in
            guard state.online else { throw ReaderError.serviceUnavailable }
            return state.order.compactMap { name in
                guard let slot = state.slots[name] else { return nil }
                return ReaderInfo(
                    name: name, cardPresent: slot.card != nil, atr: slot.mute ? nil : slot.card?.atr, cardMute: slot.mute)
            }
        }
    }

    public func events() -> AsyncStream<ReaderEvent> {
        self.fanout.withLock { $0! }.subscribe()
    }

    public func connect(reader: String, options: ConnectOptions) async throws(ReaderError) -> any CardConnection {
        let (atr, insertion, resets) = try self.state.withLock {
            (state: inout State) throws(ReaderError) -> ([UInt8], Int, Int) in
            guard state.online else { throw ReaderError.serviceUnavailable }
            guard let slot = state.slots[reader] else {
                throw ReaderError(.unknownReader, message: "no mock reader named \(reader)", readerName: reader)
            }
            if options.shareMode == .direct { return (slot.card?.atr ?? [], slot.insertion, slot.resets) }
            guard let card = slot.card else { throw ReaderError(.noCard, message: "no card in the mock reader", readerName: reader) }
            guard !slot.mute else {
                throw ReaderError(.cardUnresponsive, message: "the mock card is mute", readerName: reader)
            }
            return (card.atr, slot.insertion, slot.resets)
        }
        return MockConnection(
            system: self, readerName: reader, atr: atr, insertion: insertion, resets: resets,
            direct: options.shareMode == .direct)
    }
}
