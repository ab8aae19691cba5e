public import BankGateway
public import Identity
import Journal
import Messages
public import ResidentIDCard
import SocialSecurityCard

/// What a flow is set up with: the bank's terminal ID and PIN-block format (from the gateway's profile and
/// capabilities, read once by whoever makes the flow), the stage timeouts, and the day the card's expiry is
/// checked against.
public struct FlowConfiguration: Hashable, Sendable {
    /// The kiosk's terminal identifier at the bank, sent with the activation.
    public var terminalID: String
    /// The PIN block the bank takes (the pad makes it).
    public var pinBlockFormat: PINBlockFormat
    public var timeouts: FlowTimeouts
    public var today: CalendarDate

    public init(terminalID: String, pinBlockFormat: PINBlockFormat, timeouts: FlowTimeouts = FlowTimeouts(), today: CalendarDate = .today()) {
        self.terminalID = terminalID
        self.pinBlockFormat = pinBlockFormat
        self.timeouts = timeouts
        self.today = today
    }
}

/// The activation flow's rules as a pure state machine: `handle(input)` moves the state and returns what
/// is to be done (show an event, write an audit note, arm a timer, ask the verifier, the PIN pad or the
/// bank). It does no I/O and reads no clock; ``ActivationFlow`` performs the actions and feeds their
/// answers back as inputs. Stages: waiting for the cards (either first; each is read as it arrives) →
/// checks → confirmation → PIN entry twice → the bank → result → take the cards.
public struct FlowMachine: Sendable {
    /// What the machine hears: the devices and the screen, and the answers to its own actions.
    public enum Input: Sendable {
        case start
        case device(FlowInput)
        /// The verifier's answer for verification `number`.
        case verified(IdentityVerification, number: Int)
        /// A PIN pad event of entry `entry` (events of an earlier entry are ignored).
        case pinPad(PINPadEvent, entry: Int)
        /// The PIN pad confirmed it stopped (after ``Action/stopPINPad``).
        case pinPadStopped
        case bankAnswered(Result<ExecutionResult, ExecutionRefusal>)
        /// Timer `generation` reached its warning (`expired: false`) or its end.
        case timer(generation: Int, expired: Bool)
        /// The owner gives up waiting (shutdown past the drain): close with the end so far.
        case abandon
    }

    /// What the performer does, in order.
    public enum Action: Sendable, Equatable {
        case emit(FlowEvent)
        /// An audit-trail note (no personal data).
        case audit(String)
        /// Answer `.timer(generation:expired:)` after `after` (from now).
        case startTimer(generation: Int, after: Duration, expired: Bool)
        case verify(IDCardData, number: Int)
        case beginPINEntry(PINEntryRequest, entry: Int)
        /// Stop the PIN pad, then answer `.pinPadStopped`.
        case stopPINPad
        /// Send the activation (the performer gives it its idempotency key) and answer `.bankAnswered`.
        case callBank(card: CardReference, cardholder: Cardholder, pinBlock: EncryptedPINBlock, terminalID: String)
        /// The flow is over: no more events; waiters learn `end`.
        case close(FlowEnd)
    }

    enum State: Sendable {
        case waiting(id: IDCardData?, card: SocialSecurityCardReading?, cardInserted: Bool)
        case confirming(Context)
        case pin(Context, first: EncryptedPINBlock?)
        case processing(Context)
        case takeCards
        case ended
    }

    struct Context: Sendable {
        var idCard: IDCardData
        var card: SocialSecurityCardReading
        var bank: BankApplicationData
        var weakPINRetries = 0
    }

    public let id: String
    public let configuration: FlowConfiguration
    var state: State = .waiting(id: nil, card: nil, cardInserted: false)
    public private(set) var stage: FlowStage = .waitingForCards
    private var idPresent = false
    private var cardPresent = false
    private var timerGeneration = 0
    private var extended = false
    private var started = false
    /// Entries begun on the PIN pad (numbers its events).
    private var pinEntries = 0
    private var verifications = 0
    private var verifying: Int?
    /// True while the PIN pad is told to stop before the flow announces its end.
    private var finishing = false
    /// How the flow ended, once it has (set when it starts to end).
    public private(set) var end: FlowEnd?
    /// Why it ended, for the operator's log (masked; never shown to the customer).
    public private(set) var endDetail: String?
    private var actions: [Action] = []

    /// - Parameter id: names this customer's flow in the audit trail and the logs.
    public init(id: String, configuration: FlowConfiguration) {
        self.id = id
        self.configuration = configuration
    }

    /// True while the request is with the bank: the flow cannot be cancelled, and its answer is still to
    /// be journaled.
    public var isWithBank: Bool {
        if case .processing = self.state { return true }
        return false
    }

    public var isEnded: Bool {
        if case .ended = self.state { return true }
        return false
    }

    /// Moves the state for `input`; returns what is to be done, in order.
    public mutating func handle(_ input: Input) -> [Action] {
        self.actions = []
        switch input {
        case .start:
            if !self.started, !self.isEnded {
                self.started = true
                self.enter(.waitingForCards)
            }
        case .device(let input): self.device(input)
        case .verified(let answer, let number): self.verified(answer, number: number)
        case .pinPad(let event, let entry): if entry == self.pinEntries { self.pinEvent(event) }
        case .pinPadStopped: self.pinPadStopped()
        case .bankAnswered(let answer): self.bankAnswered(answer)
        case .timer(let generation, let expired): self.timerFired(generation, expired: expired)
        case .abandon: self.close(self.end ?? .outOfService)
        }
        return self.actions
    }

    // MARK: Inputs

    private mutating func device(_ input: FlowInput) {
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
        case .idCardRead(let data): self.idPresent = true; self.idCard(data)
        case .idCardLeft: self.idCardLeft()
        case .cardInserted: self.cardPresent = true; self.cardInserted()
        case .cardRead(let reading): self.cardPresent = true; self.cardRead(reading)
        case .cardRemoved: self.cardPresent = false; self.removed(what: "social security card")
        case .cardReadFailed(let error): self.refuse(error.customerMessage, operatorMessage: error.operatorMessage)
        case .idModuleFailed(let detail): self.deviceFailed("ID module: \(detail)")
        case .idCardReadFailed(let error): self.idCardReadFailed(error)
        case .readerFailed(let detail): self.deviceFailed("card reader: \(detail)")
        case .confirm: self.confirmed()
        case .reject: self.cancel(reason: "details rejected on the screen")
        case .cancel: self.cancel(reason: "cancelled on the screen")
        case .moreTime: self.moreTime()
        }
    }

    // MARK: Cards

    private mutating func idCard(_ data: IDCardData) {
        guard case .waiting(_, let card, let inserted) = self.state else { return }
        self.state = .waiting(id: data, card: card, cardInserted: inserted)
        self.bothPresent()
    }

    /// The ID card is placed on the reader, not inserted: most modules stop finding a card once it has
    /// been read even while it stays there (Firmware-notes/id-card-module.md), so "left" cannot mean
    /// "taken away". What was read stays valid for this flow (a different card read later replaces it);
    /// only the social security card's removal ends a flow.
    private mutating func idCardLeft() {
        self.idPresent = false
        if case .ended = self.state { return }
        self.actions.append(.audit("\(self.id) ID card no longer found (kept: it was read)"))
    }

    /// The module found a document but could not read it (a corrupt answer, an authentication failure):
    /// nothing is wrong with the kiosk, so the flow keeps waiting and the screen asks for the card again.
    private mutating func idCardReadFailed(_ error: IDModuleError) {
        guard case .waiting(nil, _, _) = self.state else {
            self.actions.append(.audit("\(self.id) ID card read failed after it was read (ignored): \(error.reasonCode)"))
            return
        }
        self.actions.append(.emit(.notice(error.customerMessage, operatorMessage: error.operatorMessage)))
    }

    private mutating func cardInserted() {
        guard case .waiting(let id, let card, _) = self.state else { return }
        self.state = .waiting(id: id, card: card, cardInserted: true)
        if card == nil { self.enter(.reading) }
    }

    private mutating func cardRead(_ reading: SocialSecurityCardReading) {
        guard case .waiting(let id, _, _) = self.state else { return }
        self.state = .waiting(id: id, card: reading, cardInserted: true)
        self.bothPresent()
    }

    /// Both documents read: the checks, then the verifier (its answer comes back as `.verified`).
    private mutating func bothPresent() {
        guard case .waiting(let id?, let card?, _) = self.state else {
            if case .waiting(nil, _, _) = self.state, self.stage == .reading { self.enter(.waitingForCards) }
            return
        }
        if self.stage != .reading { self.enter(.reading) }
        if let refusal = IdentityChecks.check(idCard: id, card: card, today: self.configuration.today) {
            self.refuse(refusal.customerMessage, operatorMessage: refusal.operatorMessage)
            return
        }
        self.verifications += 1
        self.verifying = self.verifications
        self.actions.append(.verify(id, number: self.verifications))
    }

    private mutating func verified(_ answer: IdentityVerification, number: Int) {
        // Only the latest verification counts (a different ID card read meanwhile started another).
        guard number == self.verifying else { return }
        self.verifying = nil
        guard case .waiting(let id?, let card, _) = self.state else { return }
        switch answer {
        case .verified: break
        case .rejected(let detail):
            let refusal = CheckRefusal(.identityNotVerified, detail: detail)
            self.refuse(refusal.customerMessage, operatorMessage: refusal.operatorMessage)
            return
        case .unavailable(let detail):
            self.deviceFailed("identity verifier unavailable: \(detail)")
            return
        }
        // A card may have left, or another been read, while the verifier answered: check what is there now.
        guard self.cardPresent, let card, let bank = card.bank, let identity = card.identity else {
            self.removed(what: "a card")
            return
        }
        if let refusal = IdentityChecks.check(idCard: id, card: card, today: self.configuration.today) {
            self.refuse(refusal.customerMessage, operatorMessage: refusal.operatorMessage)
            return
        }
        self.state = .confirming(Context(idCard: id, card: card, bank: bank))
        self.actions.append(.emit(.details(ConfirmationDetails(
            documentType: id.type.rawValue, document: id.type.customerMessage, name: Masking.name(id.name), idNumber: Masking.citizenID(id.idNumber),
            cardNumber: Masking.tail(identity.cardNumber, keep: 4), bankCardNumber: Masking.pan(bank.pan), cardExpiry: identity.expiryDate?.description))))
        self.enter(.confirming)
    }

    private mutating func removed(what: String) {
        switch self.state {
        case .waiting(let id, let card, let inserted):
            // Before anything was confirmed, a card may come and go: forget what it gave.
            self.state = .waiting(id: id, card: self.cardPresent ? card : nil, cardInserted: self.cardPresent && inserted)
            if self.stage == .reading && !self.cardPresent { self.enter(.waitingForCards) }
        case .confirming, .pin:
            self.finish(.cardRemoved, operatorMessage: "\(what) removed before the bank call: nothing sent")
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

    private mutating func confirmed() {
        guard case .confirming(let context) = self.state else { return }
        self.beginPIN(context, first: nil)
    }

    private mutating func beginPIN(_ context: Context, first: EncryptedPINBlock?) {
        self.state = .pin(context, first: first)
        self.enter(first == nil ? .enteringPIN : .confirmingPIN)
        self.pinEntries += 1
        let request = PINEntryRequest(timeout: self.configuration.timeouts.pinEntry, pan: context.bank.pan, format: self.configuration.pinBlockFormat)
        self.actions.append(.beginPINEntry(request, entry: self.pinEntries))
    }

    private mutating func pinEvent(_ event: PINPadEvent) {
        guard case .pin(let context, let first) = self.state, !self.finishing else { return }
        switch event {
        case .digits(let count): self.actions.append(.emit(.pinProgress(count)))
        case .cancelled: self.cancel(reason: "cancelled on the PIN pad")
        case .timedOut: self.finish(.timedOut, operatorMessage: "PIN pad entry timed out")
        case .failed(let detail): self.deviceFailed("PIN pad: \(detail)")
        case .completed(let block):
            guard let first else {
                self.beginPIN(context, first: block)
                return
            }
            guard first.bytes == block.bytes, first.format == block.format else {
                self.actions.append(.emit(.notice(
                    CustomerMessage(key: "flow.pinMismatch", zhHans: "两次输入的密码不一致，请重新输入。", en: "The two PINs differ. Please enter the new PIN again."),
                    operatorMessage: "PIN confirmation differed; back to entry")))
                self.beginPIN(context, first: nil)
                return
            }
            self.callBank(context, pinBlock: block)
        }
    }

    // MARK: The bank

    private mutating func callBank(_ context: Context, pinBlock: EncryptedPINBlock) {
        self.state = .processing(context)
        self.enter(.processing)
        self.actions.append(.callBank(
            card: CardReference(pan: context.bank.pan, panSequenceNumber: context.bank.panSequenceNumber, expiry: context.bank.expiry),
            cardholder: Cardholder(
                idNumber: PersonalIDNumber.normalised(context.idCard.idNumber), name: context.idCard.name, idType: context.idCard.type.holderIDType),
            pinBlock: pinBlock, terminalID: self.configuration.terminalID))
    }

    private mutating func bankAnswered(_ answer: Result<ExecutionResult, ExecutionRefusal>) {
        guard case .processing(let context) = self.state else { return }
        let result: ExecutionResult
        switch answer {
        case .success(let value): result = value
        case .failure(let error):
            switch error {
            case .unresolvedActivation, .needsReconciliation:
                self.refuse(error.customerMessage, operatorMessage: error.operatorMessage)
            case .journalStopped:
                self.actions.append(.emit(.notice(error.customerMessage, operatorMessage: error.operatorMessage)))
                self.finish(.outOfService, operatorMessage: error.operatorMessage)
            }
            return
        }
        if case .declined(.weakPIN, _) = result.outcome, context.weakPINRetries < 2 {
            var next = context
            next.weakPINRetries += 1
            self.actions.append(.emit(.notice(result.customerMessage, operatorMessage: "weak PIN refused by the bank; back to PIN entry")))
            guard self.cardPresent else {
                self.finish(.cardRemoved, operatorMessage: "card removed during the bank call; weak PIN not retried")
                return
            }
            self.beginPIN(next, first: nil)
            return
        }
        self.enter(.result)
        self.actions.append(.emit(.result(state: result.state.rawValue, result.customerMessage, operatorMessage: result.outcome.operatorMessage)))
        self.finish(
            result.state == .approved ? .completed : result.isPending ? .pending : .refused, operatorMessage: "bank: \(result.state.rawValue) (\(result.key))")
    }

    // MARK: Endings

    private mutating func refuse(_ message: CustomerMessage, operatorMessage: String) {
        guard !self.isClosing, !self.finishing else { return }
        self.actions.append(.emit(.notice(message, operatorMessage: operatorMessage)))
        self.finish(.refused, operatorMessage: operatorMessage)
    }

    private mutating func cancel(reason: String) {
        switch self.state {
        case .waiting, .confirming, .pin: self.finish(.cancelled, operatorMessage: reason)
        case .processing, .takeCards, .ended: break  // too late: the bank has the request
        }
    }

    private mutating func deviceFailed(_ detail: String) {
        switch self.state {
        case .waiting, .confirming, .pin: self.finish(.deviceFailed, operatorMessage: detail)
        case .processing, .takeCards, .ended: break
        }
    }

    private var isClosing: Bool {
        switch self.state {
        case .takeCards, .ended: true
        default: false
        }
    }

    /// Ends the customer's part: the PIN pad stops (awaited: no one hears that the flow ended while the
    /// pad still takes keys), then the cards go back.
    private mutating func finish(_ end: FlowEnd, operatorMessage: String) {
        guard !self.isClosing, !self.finishing else { return }
        // The first reason wins: inputs that arrive while the pad is told to stop find the flow finishing.
        self.end = end
        self.endDetail = operatorMessage
        self.timerGeneration += 1
        guard self.pinEntries > 0 else {
            self.finished(end, operatorMessage: operatorMessage)
            return
        }
        self.finishing = true
        self.actions.append(.stopPINPad)
    }

    private mutating func pinPadStopped() {
        // finish() set the end and its reason before it asked the pad to stop.
        guard self.finishing, let end = self.end, let detail = self.endDetail else { return }
        self.finishing = false
        self.finished(end, operatorMessage: detail)
    }

    private mutating func finished(_ end: FlowEnd, operatorMessage: String) {
        self.actions.append(.audit("\(self.id) ended \(end.rawValue): \(operatorMessage)"))
        if self.cardPresent {
            self.state = .takeCards
            self.enter(.takeCards)
        } else {
            self.close(end)
        }
    }

    private mutating func close(_ end: FlowEnd) {
        if case .ended = self.state { return }
        self.state = .ended
        self.stage = .ended
        self.finishing = false
        self.timerGeneration += 1
        self.end = self.end ?? end
        self.actions.append(.emit(.ended(self.end ?? end)))
        self.actions.append(.close(self.end ?? end))
    }

    // MARK: Stages and timers

    private mutating func enter(_ stage: FlowStage) {
        self.stage = stage
        self.extended = false
        // Every transition goes to the audit trail (no personal data).
        self.actions.append(.audit("\(self.id) stage \(stage.rawValue)"))
        self.actions.append(.emit(.stage(stage, stage.customerMessage)))
        self.startTimer()
    }

    private func timeout(for stage: FlowStage) -> Duration? {
        let timeouts = self.configuration.timeouts
        return switch stage {
        case .waitingForCards, .reading: timeouts.cards
        case .confirming: timeouts.confirm
        case .enteringPIN, .confirmingPIN: timeouts.pinEntry
        case .takeCards: timeouts.takeCards
        case .processing, .result, .ended: nil
        }
    }

    private mutating func startTimer(_ duration: Duration? = nil) {
        self.timerGeneration += 1
        guard let total = duration ?? self.timeout(for: self.stage) else { return }
        let warning = self.configuration.timeouts.warning < total ? self.configuration.timeouts.warning : .zero
        if warning > .zero { self.actions.append(.startTimer(generation: self.timerGeneration, after: total - warning, expired: false)) }
        self.actions.append(.startTimer(generation: self.timerGeneration, after: total, expired: true))
    }

    private mutating func timerFired(_ generation: Int, expired: Bool) {
        guard generation == self.timerGeneration, !self.finishing else { return }
        guard expired else {
            self.actions.append(.emit(.timeoutWarning(self.stage, seconds: Int(self.configuration.timeouts.warning.components.seconds))))
            return
        }
        if self.stage == .takeCards {
            self.actions.append(.audit("cards not taken within \(self.configuration.timeouts.takeCards)"))
            self.close(self.end ?? .completed)
        } else {
            self.finish(.timedOut, operatorMessage: "stage \(self.stage.rawValue) timed out")
        }
    }

    private mutating func moreTime() {
        guard !self.extended, self.timeout(for: self.stage) != nil else { return }
        self.extended = true
        self.startTimer(self.configuration.timeouts.extensionTime)
    }
}
