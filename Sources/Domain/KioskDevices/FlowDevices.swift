public import Activation
public import CardCore
public import ResidentIDCard
public import SocialSecurityCard
import Metrics

/// Connects the real (or mock) devices to an ``Activation/ActivationFlow``: the smart-card system's
/// events for the social security card's reader (a card is read, through the PSAM for 3.00 cards, the
/// moment it arrives), and the ID module's reader loop. The two run side by side, so when both cards are
/// presented they are read at the same time. Removals and device failures become flow inputs.
public final class FlowDevices: Sendable {
    public let system: any SmartCardSystem
    public let cardReader: String
    /// The keys for 3.00 cards (the PSAM session, made once and shared by every flow); `nil` = none.
    public let securityModule: (any SecurityModule)?
    public let idWatcher: IDCardWatcher?
    /// Terminal data for the bank application's GPO (date, time, unpredictable number); `nil` = now.
    public let terminal: TerminalData?

    public init(
        system: any SmartCardSystem, cardReader: String, securityModule: (any SecurityModule)? = nil, idWatcher: IDCardWatcher?, terminal: TerminalData? = nil
    ) {
        self.system = system
        self.cardReader = cardReader
        self.securityModule = securityModule
        self.idWatcher = idWatcher
        self.terminal = terminal
    }

    /// Feeds `flow` until it ends (or the task is cancelled).
    public func drive(_ flow: ActivationFlow) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.watchCards(flow) }
            if let watcher = self.idWatcher { group.addTask { await Self.watchIDCards(watcher, flow) } }
            group.addTask { _ = await flow.ended() }  // ends the device watchers with the flow
            await group.next()
            group.cancelAll()
        }
    }

    private func watchCards(_ flow: ActivationFlow) async {
        var reading: Task<Void, Never>?
        for await event in self.system.events() {
            if Task.isCancelled { break }
            switch event {
            case .cardInserted(let reader, _) where reader == self.cardReader:
                await flow.send(.cardInserted)
                reading?.cancel()
                await reading?.value
                reading = Task { await self.read(into: flow) }
            case .cardRemoved(let reader) where reader == self.cardReader:
                reading?.cancel()
                await flow.send(.cardRemoved)
            case .cardMute(let reader) where reader == self.cardReader:
                await flow.send(.readerFailed("the card in \(reader) does not answer"))
            case .readerDetached(let reader) where reader == self.cardReader:
                await flow.send(.readerFailed("reader \(reader) detached"))
            case .serviceOffline(let reason):
                await flow.send(.readerFailed("reader service offline: \(reason)"))
            default:
                break
            }
        }
        // The read in flight is cancelled and waited for: nothing of it outlives the flow.
        reading?.cancel()
        await reading?.value
    }

    private func read(into flow: ActivationFlow) async {
        let connection: any CardConnection
        do {
            connection = try await self.system.connect(reader: self.cardReader, options: ConnectOptions())
        } catch {
            await flow.send(.cardReadFailed(CardReadError(error, step: "connect")))
            return
        }
        var options = CardReadOptions()
        options.securityModule = self.securityModule
        options.scope = .activation
        options.terminal = self.terminal
        do {
            let reading = try await SocialSecurityCardReader.read(connection: connection, options: options)
            await connection.disconnect()
            Counter(label: "kiosk_card_reads_total", dimensions: [("result", "ok")]).increment()
            if !Task.isCancelled { await flow.send(.cardRead(reading)) }
        } catch {
            await connection.disconnect()
            Counter(label: "kiosk_card_reads_total", dimensions: [("result", "\(error.reason)".prefix(while: { $0 != "(" }).description)]).increment()
            if case .reader = error.reason { Counter(label: "kiosk_apdu_errors_total").increment() }
            if Task.isCancelled { return }
            switch error.reason {
            case .reader(.cardRemoved), .reader(.noCard): await flow.send(.cardRemoved)
            case .reader(.serviceUnavailable), .reader(.readerUnavailable), .reader(.unknownReader), .reader(.cardUnresponsive), .reader(.timeout):
                await flow.send(.readerFailed(error.operatorMessage))
            default: await flow.send(.cardReadFailed(error))
            }
        }
    }

    private static func watchIDCards(_ watcher: IDCardWatcher, _ flow: ActivationFlow) async {
        for await event in watcher.events() {
            if Task.isCancelled { break }
            switch event {
            case .cardArrived(let card): await flow.send(.idCardRead(card))
            case .cardLeft: await flow.send(.idCardLeft)
            case .moduleOffline(let error): await flow.send(.idModuleFailed(error.operatorMessage))
            case .readFailed(let error): await flow.send(.idCardReadFailed(error))
            case .moduleOnline: break
            }
        }
    }
}
