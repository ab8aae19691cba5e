import BankGateway
import Foundation
public import Journal

/// One customer's activation: ``FlowMachine``'s rules, performed. The machine decides; this actor shows
/// its events, writes its audit notes, and runs what it asks for (timers on the injected clock, the
/// identity verifier, the PIN pad, the bank call) as child tasks of ``run()``, feeding each answer back
/// to the machine. A card taken out, a reader or ID-module failure before the bank call ends the flow with
/// nothing sent. Stage changes go to the screen as ``FlowEvent``s and to the audit trail (no personal
/// data).
public actor ActivationFlow {
    public let executor: ActivationExecutor
    /// Where the flow's audit notes go (the executor's store in the daemon).
    public let audit: any ActivationStore
    public let pinPad: any PINPad
    public let verifier: any IdentityVerifier
    public nonisolated let configuration: FlowConfiguration
    /// Names this customer's flow in the audit trail and the logs.
    public nonisolated let id: String
    private var machine: FlowMachine
    private let clock: FlowClock
    /// Work for ``run()``'s task group, in the order the machine asked for it.
    private let jobs: AsyncStream<@Sendable () async -> Void>.Continuation
    private let jobStream: AsyncStream<@Sendable () async -> Void>
    private let continuation: AsyncStream<FlowEvent>.Continuation
    /// What the screen shows, in order; ends after ``FlowEvent/ended(_:)``.
    public nonisolated let events: AsyncStream<FlowEvent>
    private var endWaiters: [CheckedContinuation<FlowEnd, Never>] = []
    private var bankWaiters: [Int: CheckedContinuation<Bool, Never>] = [:]
    private var nextWaiter = 0

    /// - Parameters:
    ///   - configuration: the terminal ID, PIN-block format and timeouts (from the gateway's profile, read
    ///     once by whoever makes the flow).
    ///   - clock: what the stage timers run on (a test steps a manual clock).
    public init<C: Clock>(
        executor: ActivationExecutor, audit: (any ActivationStore)? = nil, pinPad: any PINPad, verifier: any IdentityVerifier,
        configuration: FlowConfiguration, clock: C
    ) where C.Duration == Duration {
        self.executor = executor
        self.audit = audit ?? executor.journal
        self.pinPad = pinPad
        self.verifier = verifier
        self.configuration = configuration
        self.clock = FlowClock(clock)
        self.id = "flow-" + String(UUID().uuidString.prefix(8)).lowercased()
        self.machine = FlowMachine(id: self.id, configuration: configuration)
        (self.events, self.continuation) = AsyncStream.makeStream(of: FlowEvent.self)
        (self.jobStream, self.jobs) = AsyncStream.makeStream(of: (@Sendable () async -> Void).self)
    }

    /// A flow on the continuous clock.
    public init(
        executor: ActivationExecutor, audit: (any ActivationStore)? = nil, pinPad: any PINPad, verifier: any IdentityVerifier,
        configuration: FlowConfiguration
    ) {
        self.init(executor: executor, audit: audit, pinPad: pinPad, verifier: verifier, configuration: configuration, clock: ContinuousClock())
    }

    /// Shows the first stage and arms its timer (``run()`` does it too). Cards already present are
    /// announced with inputs.
    public func start() {
        self.apply(.start)
    }

    /// Runs the flow until it has ended: every timer, PIN entry, verification and bank call it starts is a
    /// child task of this call, cancelled once the flow is over. Cancelling the caller abandons the flow
    /// (a request with the bank is settled by the resolver from the journal).
    @discardableResult
    public func run() async -> FlowEnd {
        self.apply(.start)
        await withTaskCancellationHandler {
            await withDiscardingTaskGroup { group in
                for await job in self.jobStream { group.addTask { await job() } }
                group.cancelAll()
            }
        } onCancel: {
            self.jobs.finish()
        }
        if !self.machine.isEnded { self.apply(.abandon) }
        return self.machine.end ?? .outOfService
    }

    public var currentStage: FlowStage { self.machine.stage }

    /// How the flow ended, once it has.
    public var end: FlowEnd? { self.machine.end }

    /// Why it ended, for the operator's log (masked; never shown to the customer).
    public var endDetail: String? { self.machine.endDetail }

    /// True while the request is with the bank: the flow cannot be cancelled, and its answer is still to
    /// be journaled (a shutdown waits for it).
    public var isWithBank: Bool { self.machine.isWithBank }

    public func send(_ input: FlowInput) {
        self.apply(.device(input))
    }

    /// Gives up waiting for the customer (shutdown): the flow closes with its end so far. A request with
    /// the bank is not abandoned here; wait for ``settled()`` first.
    public func abandon() {
        self.apply(.abandon)
    }

    /// Returns once the flow has ended (the cards are back or the take-cards stage expired).
    public func ended() async -> FlowEnd {
        if self.machine.isEnded, let end = self.machine.end { return end }
        return await withCheckedContinuation { self.endWaiters.append($0) }
    }

    /// Waits until no request of this flow is with the bank (at once when none is), at most `limit` on
    /// the flow's clock (the wait is one of ``run()``'s tasks). True when none is.
    public func settled(within limit: Duration) async -> Bool {
        guard self.machine.isWithBank else { return true }
        self.nextWaiter += 1
        let token = self.nextWaiter
        let deadline = self.clock.deadline(after: limit)
        let clock = self.clock
        self.jobs.yield {
            try? await clock.sleep(until: deadline)
            await self.bankWaitEnded(token)
        }
        return await withCheckedContinuation { self.bankWaiters[token] = $0 }
    }

    private func bankWaitEnded(_ token: Int) {
        self.bankWaiters.removeValue(forKey: token)?.resume(returning: !self.machine.isWithBank)
    }

    // MARK: Performing

    private func apply(_ input: FlowMachine.Input) {
        for action in self.machine.handle(input) { self.perform(action) }
        if !self.machine.isWithBank, !self.bankWaiters.isEmpty {
            for waiter in self.bankWaiters.values { waiter.resume(returning: true) }
            self.bankWaiters.removeAll()
        }
    }

    private func perform(_ action: FlowMachine.Action) {
        switch action {
        case .emit(let event):
            self.continuation.yield(event)
        case .audit(let note):
            self.audit.post("flow", detail: note)
        case .startTimer(let generation, let after, let expired):
            let deadline = self.clock.deadline(after: after)
            let clock = self.clock
            self.jobs.yield {
                guard (try? await clock.sleep(until: deadline)) != nil else { return }
                await self.apply(.timer(generation: generation, expired: expired))
            }
        case .verify(let idCard, let number):
            let verifier = self.verifier
            self.jobs.yield {
                let answer = await verifier.verify(idCard: idCard)
                await self.apply(.verified(answer, number: number))
            }
        case .beginPINEntry(let request, let entry):
            let pad = self.pinPad
            self.jobs.yield {
                for await event in await pad.beginEntry(request) {
                    await self.apply(.pinPad(event, entry: entry))
                }
            }
        case .stopPINPad:
            let pad = self.pinPad
            self.jobs.yield {
                await pad.cancelEntry()
                await self.apply(.pinPadStopped)
            }
        case .callBank(let card, let cardholder, let pinBlock, let terminalID):
            let executor = self.executor
            let request = ActivationRequest(key: .random(), card: card, cardholder: cardholder, pinBlock: pinBlock, terminalID: terminalID)
            self.jobs.yield {
                let answer: Result<ExecutionResult, ExecutionRefusal>
                do throws(ExecutionRefusal) {
                    answer = .success(try await executor.execute(request))
                } catch {
                    answer = .failure(error)
                }
                await self.apply(.bankAnswered(answer))
            }
        case .close(let end):
            self.continuation.finish()
            self.jobs.finish()
            for waiter in self.endWaiters { waiter.resume(returning: end) }
            self.endWaiters.removeAll()
        }
    }
}

/// A clock erased to what the flow needs: deadlines as offsets from when the flow was made.
struct FlowClock: Sendable {
    let elapsed: @Sendable () -> Duration
    let sleepUntil: @Sendable (Duration) async throws -> Void

    init<C: Clock>(_ clock: C) where C.Duration == Duration {
        let origin = clock.now
        self.elapsed = { origin.duration(to: clock.now) }
        self.sleepUntil = { offset in try await clock.sleep(until: origin.advanced(by: offset), tolerance: nil) }
    }

    func deadline(after: Duration) -> Duration { self.elapsed() + after }
    func sleep(until deadline: Duration) async throws { try await self.sleepUntil(deadline) }
}
