import BankGateway
import Foundation
public import Identity
import Journal
import Messages
import ResidentIDCard
import SocialSecurityCard

/// One customer's activation, as an explicit state machine: waiting for the cards (either first; each is
/// read as it arrives) → checks → confirmation → PIN entry twice → the bank → result → take the cards.
/// Every stage with a customer action has a timeout with a warning first; the screen can cancel at any
/// point before the bank call. A card taken out, a reader or ID-module failure before the bank call ends
/// the flow with nothing sent. Stage changes go to the screen as ``FlowEvent``s and to the journal's
/// audit trail (no personal data).
public actor ActivationFlow {
    enum State {
        case waiting(id: IDCardData?, card: SocialSecurityCardReading?, cardInserted: Bool)
        case confirming(Context)
        case pin(Context, first: EncryptedPINBlock?)
        case processing(Context)
        case takeCards
        case ended
    }

    struct Context {
        var idCard: IDCardData
        var card: SocialSecurityCardReading
        var bank: BankApplicationData
        var weakPINRetries = 0
    }

    public let executor: ActivationExecutor
    public let pinPad: any PINPad
    public let verifier: any IdentityVerifier
    public let timeouts: FlowTimeouts
    /// Names this customer's flow in the audit trail and the logs.
    public nonisolated let id: String
    private let today: @Sendable () -> CalendarDate
    private var state: State = .waiting(id: nil, card: nil, cardInserted: false)
    private var stage: FlowStage = .waitingForCards
    private var idPresent = false
    private var cardPresent = false
    private var timerGeneration = 0
    private var extended = false
    private var pinTask: Task<Void, Never>?
    private let continuation: AsyncStream<FlowEvent>.Continuation
    /// What the screen shows, in order; ends after ``FlowEvent/ended(_:)``.
    public nonisolated let events: AsyncStream<FlowEvent>
    /// How the flow ended, once it has.
    public private(set) var end: FlowEnd?
    /// Why it ended, for the operator's log (masked; never shown to the customer).
    public private(set) var endDetail: String?
    private var endWaiters: [CheckedContinuation<FlowEnd, Never>] = []

    public init(
        executor: ActivationExecutor, pinPad: any PINPad, verifier: any IdentityVerifier,
        timeouts: FlowTimeouts = FlowTimeouts(), today: @escaping @Sendable () -> CalendarDate = { CalendarDate.today() }
    ) {
        self.executor = executor
        self.pinPad = pinPad
        self.verifier = verifier
        self.timeouts = timeouts
        self.today = today
        self.id = "flow-" + String(UUID().uuidString.prefix(8)).lowercased()
        (self.events, self.continuation) = AsyncStream.makeStream(of: FlowEvent.self)
    }

    /// Shows the first stage and starts its timer. Cards already present are announced with inputs.
    public func start() {
        self.enter(.waitingForCards)
    }

    public var currentStage: FlowStage { self.stage }

    // MARK: Inputs

    public func send(_ input: FlowInput) async {
        if self.finishing {
            // Ending: only whether the cards are still there matters now (take-cards stage or not).
            switch input {
            case .cardRemoved: self.cardPresent = false
            case .cardInserted, .cardRead: self.cardPresent = true
            case .idCardLeft: self.idPresent = false
            default: break
            }
            return
        }
        switch input {
        case .idCardRead(let data): self.idPresent = true; await self.idCard(data)
        case .idCardLeft: self.idCardLeft()
        case .cardInserted: self.cardPresent = true; self.cardInserted()
        case .cardRead(let reading): self.cardPresent = true; await self.cardRead(reading)
        case .cardRemoved: self.cardPresent = false; await self.removed(what: "social security card")
        case .cardReadFailed(let error): await self.refuse(error.customerMessage, operatorMessage: error.operatorMessage)
        case .idModuleFailed(let detail): await self.deviceFailed("ID module: \(detail)")
        case .idCardReadFailed(let error): self.idCardReadFailed(error)
        case .readerFailed(let detail): await self.deviceFailed("card reader: \(detail)")
        case .confirm: await self.confirmed()
        case .reject: await self.cancel(reason: "details rejected on the screen")
        case .cancel: await self.cancel(reason: "cancelled on the screen")
        case .moreTime: self.moreTime()
        }
    }

    // MARK: Cards

    private func idCard(_ data: IDCardData) async {
        guard case .waiting(_, let card, let inserted) = self.state else { return }
        self.state = .waiting(id: data, card: card, cardInserted: inserted)
        await self.bothPresent()
    }

    /// The ID card is placed on the reader, not inserted: most modules stop finding a card once it has
    /// been read even while it stays there (Firmware-notes/id-card-module.md), so "left" cannot mean
    /// "taken away". What was read stays valid for this flow (a different card read later replaces it);
    /// only the social security card's removal ends a flow.
    private func idCardLeft() {
        self.idPresent = false
        if case .ended = self.state { return }
        self.executor.journal.post("flow", detail: "\(self.id) ID card no longer found (kept: it was read)")
    }

    /// The module found a document but could not read it (a corrupt answer, an authentication failure):
    /// nothing is wrong with the kiosk, so the flow keeps waiting and the screen asks for the card again.
    private func idCardReadFailed(_ error: IDModuleError) {
        guard case .waiting(nil, _, _) = self.state else {
            self.executor.journal.post("flow", detail: "\(self.id) ID card read failed after it was read (ignored): \(error.reasonCode)")
            return
        }
        self.emit(.notice(error.customerMessage, operatorMessage: error.operatorMessage))
    }

    private func cardInserted() {
        guard case .waiting(let id, let card, _) = self.state else { return }
        self.state = .waiting(id: id, card: card, cardInserted: true)
        if card == nil { self.enter(.reading) }
    }

    private func cardRead(_ reading: SocialSecurityCardReading) async {
        guard case .waiting(let id, _, _) = self.state else { return }
        self.state = .waiting(id: id, card: reading, cardInserted: true)
        await self.bothPresent()
    }

    private func bothPresent() async {
        guard case .waiting(let id?, let card?, _) = self.state else {
            if case .waiting(nil, _, _) = self.state, self.stage == .reading { self.enter(.waitingForCards) }
            return
        }
        if self.stage != .reading { self.enter(.reading) }
        if let refusal = IdentityChecks.check(idCard: id, card: card, today: self.today()) {
            await self.refuse(refusal.customerMessage, operatorMessage: refusal.operatorMessage)
            return
        }
        switch await self.verifier.verify(idCard: id) {
        case .verified: break
        case .rejected(let detail):
            let refusal = CheckRefusal(.identityNotVerified, detail: detail)
            await self.refuse(refusal.customerMessage, operatorMessage: refusal.operatorMessage)
            return
        case .unavailable(let detail):
            await self.deviceFailed("identity verifier unavailable: \(detail)")
            return
        }
        // A card may have left while the verifier answered.
        guard case .waiting = self.state, self.cardPresent, let bank = card.bank, let identity = card.identity else {
            if case .waiting = self.state { await self.removed(what: "a card") }
            return
        }
        let context = Context(idCard: id, card: card, bank: bank)
        self.state = .confirming(context)
        self.emit(.details(ConfirmationDetails(
            documentType: id.type.rawValue, document: id.type.customerMessage, name: Masking.name(id.name), idNumber: Masking.citizenID(id.idNumber), cardNumber: Masking.tail(identity.cardNumber, keep: 4),
            bankCardNumber: Masking.pan(bank.pan), cardExpiry: identity.expiryDate?.description)))
        self.enter(.confirming)
    }

    private func removed(what: String) async {
        switch self.state {
        case .waiting(let id, let card, let inserted):
            // Before anything was confirmed, a card may come and go: forget what it gave.
            self.state = .waiting(id: id, card: self.cardPresent ? card : nil, cardInserted: self.cardPresent && inserted)
            if self.stage == .reading && !self.cardPresent { self.enter(.waitingForCards) }
        case .confirming, .pin:
            await self.finish(.cardRemoved, operatorMessage: "\(what) removed before the bank call: nothing sent")
        case .processing:
            // The request is with the bank: its answer is still journaled; the screen says so when it comes.
            break
        case .takeCards:
            if !self.cardPresent { self.close(.completed) }
        case .ended:
            break
        }
    }

    // MARK: Confirmation and PIN

    private func confirmed() async {
        guard case .confirming(let context) = self.state else { return }
        self.beginPIN(context, first: nil)
    }

    private func beginPIN(_ context: Context, first: EncryptedPINBlock?) {
        self.state = .pin(context, first: first)
        self.enter(first == nil ? .enteringPIN : .confirmingPIN)
        let request = PINEntryRequest(timeout: self.timeouts.pinEntry, pan: context.bank.pan, format: self.executor.gateway.capabilities.pinBlockFormat)
        let pad = self.pinPad
        self.pinTask?.cancel()
        self.pinTask = Task {
            for await event in await pad.beginEntry(request) {
                await self.pinEvent(event)
            }
        }
    }

    private func pinEvent(_ event: PINPadEvent) async {
        guard case .pin(let context, let first) = self.state else { return }
        switch event {
        case .digits(let count): self.emit(.pinProgress(count))
        case .cancelled: await self.cancel(reason: "cancelled on the PIN pad")
        case .timedOut: await self.finish(.timedOut, operatorMessage: "PIN pad entry timed out")
        case .failed(let detail): await self.deviceFailed("PIN pad: \(detail)")
        case .completed(let block):
            guard let first else {
                self.beginPIN(context, first: block)
                return
            }
            guard first.bytes == block.bytes, first.format == block.format else {
                self.emit(.notice(
                    CustomerMessage(key: "flow.pinMismatch", zhHans: "两次输入的密码不一致，请重新输入。", en: "The two PINs differ. Please enter the new PIN again."),
                    operatorMessage: "PIN confirmation differed; back to entry"))
                self.beginPIN(context, first: nil)
                return
            }
            await self.callBank(context, pinBlock: block)
        }
    }

    // MARK: The bank

    private func callBank(_ context: Context, pinBlock: EncryptedPINBlock) async {
        self.state = .processing(context)
        self.enter(.processing)
        let request = ActivationRequest(
            key: .random(), card: CardReference(pan: context.bank.pan, panSequenceNumber: context.bank.panSequenceNumber, expiry: context.bank.expiry),
            cardholder: Cardholder(
                idNumber: PersonalIDNumber.normalised(context.idCard.idNumber), name: context.idCard.name, idType: context.idCard.type.holderIDType),
            pinBlock: pinBlock,
            terminalID: self.executor.gateway.profile.terminalID)
        let result: ExecutionResult
        do {
            result = try await self.executor.execute(request)
        } catch {
            switch error {
            case .unresolvedActivation, .needsReconciliation:
                await self.refuse(error.customerMessage, operatorMessage: error.operatorMessage)
            case .journalStopped:
                self.emit(.notice(error.customerMessage, operatorMessage: error.operatorMessage))
                await self.finish(.outOfService, operatorMessage: error.operatorMessage)
            }
            return
        }
        if case .declined(.weakPIN, _) = result.outcome, context.weakPINRetries < 2 {
            var next = context
            next.weakPINRetries += 1
            self.emit(.notice(result.customerMessage, operatorMessage: "weak PIN refused by the bank; back to PIN entry"))
            guard self.cardPresent else {
                await self.finish(.cardRemoved, operatorMessage: "card removed during the bank call; weak PIN not retried")
                return
            }
            self.beginPIN(next, first: nil)
            return
        }
        self.enter(.result)
        self.emit(.result(state: result.state.rawValue, result.customerMessage, operatorMessage: result.outcome.operatorMessage))
        await self.finish(result.state == .approved ? .completed : result.isPending ? .pending : .refused, operatorMessage: "bank: \(result.state.rawValue) (\(result.key))")
    }

    // MARK: Endings

    private func refuse(_ message: CustomerMessage, operatorMessage: String) async {
        guard !self.isClosing else { return }
        self.emit(.notice(message, operatorMessage: operatorMessage))
        await self.finish(.refused, operatorMessage: operatorMessage)
    }

    private func cancel(reason: String) async {
        switch self.state {
        case .waiting, .confirming, .pin: await self.finish(.cancelled, operatorMessage: reason)
        case .processing, .takeCards, .ended: break  // too late: the bank has the request
        }
    }

    private func deviceFailed(_ detail: String) async {
        switch self.state {
        case .waiting, .confirming, .pin: await self.finish(.deviceFailed, operatorMessage: detail)
        case .processing, .takeCards, .ended: break
        }
    }

    /// True while ``finish(_:operatorMessage:)`` waits for the PIN pad to stop.
    private var finishing = false

    private var isClosing: Bool {
        switch self.state {
        case .takeCards, .ended: true
        default: false
        }
    }

    /// Ends the customer's part: the PIN pad stops, the cards go back.
    private func finish(_ end: FlowEnd, operatorMessage: String) async {
        guard !self.isClosing, !self.finishing else { return }
        // The first reason wins: inputs that arrive while the pad is told to stop find the flow finishing.
        self.finishing = true
        self.end = end
        self.endDetail = operatorMessage
        self.pinTask?.cancel()
        // Waited for: no one hears that the flow ended while the PIN pad still takes keys.
        await self.pinPad.cancelEntry()
        self.finishing = false
        self.executor.journal.post("flow", detail: "\(self.id) ended \(end.rawValue): \(operatorMessage)")
        if self.cardPresent {
            self.state = .takeCards
            self.enter(.takeCards)
        } else {
            self.close(end)
        }
    }

    private func close(_ end: FlowEnd) {
        if case .ended = self.state { return }
        self.state = .ended
        self.stage = .ended
        self.timerGeneration += 1
        self.end = self.end ?? end
        self.emit(.ended(self.end ?? end))
        self.continuation.finish()
        for waiter in self.endWaiters { waiter.resume(returning: self.end ?? end) }
        self.endWaiters.removeAll()
    }

    /// True while the request is with the bank: the flow cannot be cancelled, and its answer is still to
    /// be journaled (a shutdown waits for it).
    public var isWithBank: Bool {
        if case .processing = self.state { return true }
        return false
    }

    /// Returns once the flow has ended (the cards are back or the take-cards stage expired).
    public func ended() async -> FlowEnd {
        if case .ended = self.state, let end = self.end { return end }
        return await withCheckedContinuation { self.endWaiters.append($0) }
    }

    // MARK: Stages and timers

    private func enter(_ stage: FlowStage) {
        self.stage = stage
        self.extended = false
        // Every transition goes to the audit trail (no personal data). A stopped journal is not retried
        // here: the bank step refuses to run on it and the flow goes out of service there.
        self.executor.journal.post("flow", detail: "\(self.id) stage \(stage.rawValue)")
        self.emit(.stage(stage, stage.customerMessage))
        self.startTimer()
    }

    private func timeout(for stage: FlowStage) -> Duration? {
        switch stage {
        case .waitingForCards, .reading: self.timeouts.cards
        case .confirming: self.timeouts.confirm
        case .enteringPIN, .confirmingPIN: self.timeouts.pinEntry
        case .takeCards: self.timeouts.takeCards
        case .processing, .result, .ended: nil
        }
    }

    private func startTimer(_ duration: Duration? = nil) {
        self.timerGeneration += 1
        guard let total = duration ?? self.timeout(for: self.stage) else { return }
        let generation = self.timerGeneration
        let warning = self.timeouts.warning < total ? self.timeouts.warning : .zero
        Task {
            try? await Task.sleep(for: total - warning)
            await self.timerFired(generation, expired: warning == .zero)
            guard warning > .zero else { return }
            try? await Task.sleep(for: warning)
            await self.timerFired(generation, expired: true)
        }
    }

    private func timerFired(_ generation: Int, expired: Bool) async {
        guard generation == self.timerGeneration else { return }
        guard expired else {
            self.emit(.timeoutWarning(self.stage, seconds: Int(self.timeouts.warning.components.seconds)))
            return
        }
        if self.stage == .takeCards {
            self.executor.journal.post("flow", detail: "cards not taken within \(self.timeouts.takeCards)")
            self.close(self.end ?? .completed)
        } else {
            await self.finish(.timedOut, operatorMessage: "stage \(self.stage.rawValue) timed out")
        }
    }

    private func moreTime() {
        guard !self.extended, self.timeout(for: self.stage) != nil else { return }
        self.extended = true
        self.startTimer(self.timeouts.extensionTime)
    }

    private func emit(_ event: FlowEvent) { self.continuation.yield(event) }
}
