public import CardCore
import Synchronization

/// Smart-card readers through pcsc-lite and the system's pcscd.
///
/// Follows pcsc-lite's threading rules: each connection has its own context and thread, the one monitor has
/// its own context and thread (`SCardGetStatusChange` holds its context for the whole wait), and
/// reader listing runs on a command thread with a context of its own. Only `SCardCancel` crosses threads.
/// Every blocking call runs on those threads, never on Swift's cooperative pool.
public final class PCSCSystem: SmartCardSystem {
    private let monitor: ReaderEventFanout
    private let commandWorker = BlockingWorker(name: "pcsc-command")
    private let commandContext = ContextBox()

    public init(monitor: PCSCMonitorConfiguration = PCSCMonitorConfiguration()) {
        self.monitor = ReaderEventFanout { emit in
            let loop = PCSCMonitorLoop(configuration: monitor)
            loop.start(emit: emit)
            return { loop.cancel() }
        }
    }

    deinit {
        let box = self.commandContext
        self.commandWorker.submit { box.release() }
        self.commandWorker.stop()
    }

    /// Releases the command context on its thread and waits for that, then stops the thread. Call it
    /// before a short-lived process exits: a context still being released while the process tears down
    /// libpcsclite crashes the exit.
    public func shutdown() async {
        let box = self.commandContext
        _ = try? await self.commandWorker.run { () throws(ReaderError) in box.release() }
        self.commandWorker.stop()
    }

    /// Contexts this process holds right now (for leak checks and diagnostics).
    public static var liveContexts: Int { liveContextCount.load(ordering: .relaxed) }

    public func readers() async throws(ReaderError) -> [ReaderInfo] {
        let box = self.commandContext
        return try await self.commandWorker.run { () throws(ReaderError) -> [ReaderInfo] in
            do throws(PCSCError) {
                return try box.readers()
            } catch let error where error.isServiceLoss {
                // pcscd restarted since the last call: a new context, once.
                box.release()
                do throws(PCSCError) {
                    return try box.readers()
                } catch {
                    throw ReaderError(pcsc: error, operation: "list readers")
                }
            } catch {
                throw ReaderError(pcsc: error, operation: "list readers")
            }
        }
    }

    /// Every call shares one monitor (one thread, one context), started with the first subscriber and
    /// stopped when the last one leaves.
    public func events() -> AsyncStream<ReaderEvent> { self.monitor.subscribe() }

    /// Subscribers of ``events()`` now, and how often the shared monitor has been started (diagnostics).
    public var monitorSubscribers: Int { self.monitor.subscriberCount }
    public var monitorStarts: Int { self.monitor.sourceStarts }

    public func connect(reader: String, options: ConnectOptions) async throws(ReaderError) -> any CardConnection {
        let worker = BlockingWorker(name: "pcsc-card")
        let share: UInt
        switch options.shareMode {
        case .shared: share = UInt(RawCard.shareShared)
        case .exclusive: share = UInt(RawCard.shareExclusive)
        case .direct: share = UInt(RawCard.shareDirect)
        }
        var wanted: UInt = 0
        if options.shareMode != .direct {
            if options.protocols.contains(.t0) { wanted |= UInt(RawCard.protocolT0) }
            if options.protocols.contains(.t1) { wanted |= UInt(RawCard.protocolT1) }
        }
        let protocols = wanted
        do throws(ReaderError) {
            let opened = try await worker.run { () throws(ReaderError) -> OpenedCard in
                do throws(PCSCError) {
                    let card = try RawCard(reader: reader, shareMode: share, protocols: protocols)
                    let atr: [UInt8]
                    if options.shareMode == .direct {
                        atr = (try? card.atr()) ?? []
                    } else {
                        do throws(PCSCError) {
                            atr = try card.atr()
                        } catch let error where error == .resetCard {
                            // A card that was unpowered is powered up by this connect, and pcscd may report that
                            // power-up to this very handle as a reset: acknowledge it, once; nothing was sent yet.
                            try card.reconnect(initialization: RawCard.leaveCard)
                            atr = try card.atr()
                        }
                    }
                    var active: CardProtocols = []
                    if card.activeProtocol == RawCard.protocolT0 { active = .t0 }
                    if card.activeProtocol == RawCard.protocolT1 { active = .t1 }
                    return OpenedCard(box: CardBox(card), atr: atr, activeProtocol: active)
                } catch {
                    throw ReaderError(pcsc: error, reader: reader, operation: "connect")
                }
            }
            return PCSCConnection(
                readerName: reader, atr: opened.atr, activeProtocol: opened.activeProtocol, worker: worker,
                box: opened.box)
        } catch {
            worker.stop()
            throw error
        }
    }
}

private struct OpenedCard: Sendable {
    let box: CardBox
    let atr: [UInt8]
    let activeProtocol: CardProtocols
}

/// The command thread's context, created on first use and replaced after a service loss.
private final class ContextBox: Sendable {
    private let context = Mutex<RawContext?>(nil)

    func readers() throws(PCSCError) -> [ReaderInfo] {
        try self.context.withLock { (slot: inout RawContext?) throws(PCSCError) -> [ReaderInfo] in
            let context: RawContext
            if let existing = slot {
                context = existing
            } else {
                context = try RawContext()
                slot = context
            }
            let names = try context.listReaders()
            guard !names.isEmpty else { return [] }
            var states = names.map { RawReaderState(name: $0, currentState: RawStateFlag.unaware) }
            do throws(PCSCError) {
                try context.getStatusChange(&states, timeoutMilliseconds: 0)
            } catch let error where error == .timeout {
                // Nothing to report beyond what was filled in.
            }
            return states.map { state in
                let present = state.eventState & RawStateFlag.present != 0
                return ReaderInfo(
                    name: state.name, cardPresent: present, atr: present && !state.atr.isEmpty ? state.atr : nil,
                    cardMute: state.eventState & RawStateFlag.mute != 0,
                    inUseExclusively: state.eventState & RawStateFlag.exclusive != 0)
            }
        }
    }

    func release() {
        self.context.withLock { slot in
            slot?.release()
            slot = nil
        }
    }
}
