import CardCore
import Dispatch
import Foundation

/// Settings of the reader monitor.
public struct PCSCMonitorConfiguration: Sendable, Hashable {
    /// Longest a `SCardGetStatusChange` wait lasts before readers are listed again. pcsc-lite before 2.3.0
    /// (Debian 12 ships 1.9.9) has no PnP reader counter, so a reader attached between two waits could be
    /// missed; this timer bounds that. It is the monitor's only idle wake-up.
    public var relistInterval: Duration = .seconds(30)
    /// Re-list interval when pcscd does not support the PnP pseudo-reader at all.
    public var relistIntervalWithoutPnP: Duration = .seconds(1)
    /// First wait before re-establishing a lost context; doubles up to ``maximumBackoff``.
    public var initialBackoff: Duration = .milliseconds(50)
    /// Longest wait between attempts to reach pcscd again.
    public var maximumBackoff: Duration = .milliseconds(800)

    public init() {}
}

/// The reader monitor loop: one thread, one context, `SCardGetStatusChange` on every reader plus the
/// `\\?PnP?\Notification` pseudo-reader. Shared state is guarded by `condition`.
final class PCSCMonitorLoop: @unchecked Sendable {
    private let configuration: PCSCMonitorConfiguration
    private let condition = NSCondition()
    private var cancelled = false
    private var activeContext: Int? = nil
    private var exited = false

    init(configuration: PCSCMonitorConfiguration) { self.configuration = configuration }

    /// What the monitor knows of one reader.
    private struct Tracked {
        var state: UInt32 = RawStateFlag.unaware
        var present = false
        var mute = false
    }

    /// Starts the loop on a new thread; events go to `emit`.
    func start(emit: @escaping @Sendable (ReaderEvent) -> Void) {
        let thread = Thread { [self] in
            ThreadName.set("pcsc-monitor")
            self.run(emit: emit)
            self.condition.lock()
            self.exited = true
            self.condition.unlock()
        }
        thread.stackSize = 1 << 20
        thread.start()
    }

    /// Stops the loop promptly: `SCardCancel` wakes the wait. A cancel that lands just before the wait
    /// begins is lost in pcsc-lite < 2.0.1, so it is repeated every 50 ms until the thread has left.
    func cancel() {
        self.condition.lock()
        self.cancelled = true
        if let context = self.activeContext { RawContext.cancel(handle: context) }
        self.condition.broadcast()
        self.condition.unlock()
        self.repeatCancel(attempt: 1)
    }

    private func repeatCancel(attempt: Int) {
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(50)) { [self] in
            self.condition.lock()
            let done = self.exited || attempt >= 200
            if !done, let context = self.activeContext { RawContext.cancel(handle: context) }
            self.condition.unlock()
            if !done { self.repeatCancel(attempt: attempt + 1) }
        }
    }

    var hasExited: Bool {
        self.condition.lock()
        defer { self.condition.unlock() }
        return self.exited
    }

    private var isCancelled: Bool {
        self.condition.lock()
        defer { self.condition.unlock() }
        return self.cancelled
    }

    /// Sleeps for `duration` unless cancelled first.
    private func sleep(_ duration: Duration) {
        let deadline = Date(timeIntervalSinceNow: duration.inSeconds)
        self.condition.lock()
        while !self.cancelled && Date() < deadline { _ = self.condition.wait(until: deadline) }
        self.condition.unlock()
    }

    /// Publishes the context so ``cancel()`` can reach it; false if already cancelled.
    private func register(_ context: RawContext?) -> Bool {
        self.condition.lock()
        defer { self.condition.unlock() }
        self.activeContext = context?.handle
        return !self.cancelled
    }

    private func run(emit: (ReaderEvent) -> Void) {
        var backoff = self.configuration.initialBackoff
        var online: Bool? = nil
        var known: [String: Tracked] = [:]
        while !self.isCancelled {
            let context: RawContext
            do throws(PCSCError) {
                context = try RawContext()
            } catch {
                if online != false {
                    emit(.serviceOffline(reason: ReaderError(pcsc: error, operation: "establish context").message))
                    online = false
                }
                self.sleep(backoff)
                backoff = min(backoff * 2, self.configuration.maximumBackoff)
                continue
            }
            guard self.register(context) else {
                context.release()
                break
            }
            do throws(PCSCError) {
                // watch() calls onOnline after each successful listing, before it emits any reader event.
                try self.watch(context: context, known: &known, emit: emit) {
                    if online != true {
                        emit(.serviceOnline)
                        online = true
                        backoff = self.configuration.initialBackoff
                    }
                }
            } catch {
                // The service is gone: every reader and card is gone with it.
                for (name, tracked) in known.sorted(by: { $0.key < $1.key }) {
                    if tracked.present { emit(.cardRemoved(reader: name)) }
                    emit(.readerDetached(name))
                }
                known.removeAll()
                if online != false {
                    emit(.serviceOffline(reason: ReaderError(pcsc: error, operation: "wait for reader events").message))
                    online = false
                }
            }
            _ = self.register(nil)
            context.release()
            if !self.isCancelled {
                self.sleep(backoff)
                backoff = min(backoff * 2, self.configuration.maximumBackoff)
            }
        }
    }

    /// Lists and waits until cancelled; throws the PC/SC error that means the service is lost.
    private func watch(
        context: RawContext, known: inout [String: Tracked], emit: (ReaderEvent) -> Void, onOnline: () -> Void
    ) throws(PCSCError) {
        var pnpState = RawStateFlag.unaware
        var pnpSupported = true
        while !self.isCancelled {
            let names = try context.listReaders()
            onOnline()
            for name in known.keys.sorted() where !names.contains(name) {
                if known[name]?.present == true { emit(.cardRemoved(reader: name)) }
                emit(.readerDetached(name))
                known[name] = nil
            }
            for name in names where known[name] == nil {
                emit(.readerAttached(name))
                known[name] = Tracked()
            }
            var states = names.map { RawReaderState(name: $0, currentState: known[$0]?.state ?? RawStateFlag.unaware) }
            if pnpSupported {
                states.insert(RawReaderState(name: RawContext.pnpNotification, currentState: pnpState), at: 0)
            }
            let interval = pnpSupported ? self.configuration.relistInterval : self.configuration.relistIntervalWithoutPnP
            do throws(PCSCError) {
                try context.getStatusChange(&states, timeoutMilliseconds: interval.inMilliseconds)
            } catch let error where error == .timeout || error == .cancelled || error == .unknownReader
                || error == .readerUnavailable || error == .noReadersAvailable
            {
                // A timeout is the relist timer; unknown/unavailable readers mean the list changed.
                if error == .noReadersAvailable && names.isEmpty && pnpSupported && !self.isCancelled {
                    // Without readers some pcscd versions return at once: wait on the timer instead.
                    self.sleep(self.configuration.relistIntervalWithoutPnP)
                }
                continue
            }
            if self.isCancelled { return }
            var readerStates = states[...]
            if pnpSupported, let pnp = readerStates.popFirst() {
                if pnp.eventState & RawStateFlag.unknown != 0 {
                    pnpSupported = false
                } else {
                    pnpState = pnp.eventState & ~RawStateFlag.changed
                }
            }
            for entry in readerStates {
                guard var tracked = known[entry.name] else { continue }
                Self.update(&tracked, with: entry, emit: emit)
                known[entry.name] = tracked
            }
        }
    }

    /// Turns one reader's new state word into card events.
    private static func update(_ tracked: inout Tracked, with entry: RawReaderState, emit: (ReaderEvent) -> Void) {
        let new = entry.eventState
        if new & (RawStateFlag.unknown | RawStateFlag.unavailable) != 0 {
            // The reader is going away or unusable: the next re-list reports it.
            tracked.state = new & ~RawStateFlag.changed
            return
        }
        let present = new & RawStateFlag.present != 0
        let mute = new & RawStateFlag.mute != 0
        let first = tracked.state == RawStateFlag.unaware
        let oldCount = tracked.state >> 16
        let newCount = new >> 16
        // The event counter changes on every insertion and removal: a changed counter with the card
        // present both times means it was swapped between two waits.
        let swapped = !first && tracked.present && present && oldCount != newCount
        if tracked.present && (!present || swapped) { emit(.cardRemoved(reader: entry.name)) }
        if present && (first || !tracked.present || swapped || tracked.mute != mute) {
            if mute {
                emit(.cardMute(reader: entry.name))
            } else if !entry.atr.isEmpty {
                emit(.cardInserted(reader: entry.name, atr: entry.atr))
            }
        }
        tracked.present = present
        tracked.mute = mute
        tracked.state = new & ~RawStateFlag.changed
    }
}
