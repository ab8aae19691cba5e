public import Activation
public import Logging
public import ServiceLifecycle
import Synchronization

/// A new activation's parts: its flow, and what feeds the flow from the devices until it ends.
public struct ActivationRun: Sendable {
    public var flow: ActivationFlow
    /// Feeds `flow` from the card reader and the ID module; returns when the flow has ended. `nil` when the
    /// caller sends the device inputs itself (tests).
    public var devices: (@Sendable (ActivationFlow) async -> Void)?

    public init(flow: ActivationFlow, devices: (@Sendable (ActivationFlow) async -> Void)?) {
        self.flow = flow
        self.devices = devices
    }
}

/// The language a customer chose on the screen (`Activation.Start`'s `language`): Simplified Chinese unless
/// the screen asks for English. Every message carries both; this picks the one shown as `text`.
public enum CustomerLanguage: String, Sendable, Hashable {
    case zhHans = "zh-Hans"
    case en

    /// `zh`, `zh-Hans`, `zh-CN`, … are Chinese, `en`, `en-GB`, … English (BCP 47, any case); anything else
    /// (or nothing) is the default, Chinese.
    public init(tag: String?) {
        let primary = (tag ?? "").split(separator: "-").first.map { $0.lowercased() } ?? ""
        self = primary == "en" ? .en : .zhHans
    }
}

/// Owns "the activation now": one at a time, with its flow, its devices, its `Activation.Start` timeout,
/// its events and the customer's language, all as child tasks of ``run()`` (no task outlives it). The
/// socket server turns commands into calls here and events into messages; it keeps no activation state.
/// On shutdown the activation is cancelled; one whose request is with the bank is waited for (bounded),
/// so its answer is journaled and shown; then it ends.
public final class ActivationService: Service, Sendable {
    /// Who started the activation: a connection and its `Activation.Start` request.
    public struct Owner: Hashable, Sendable {
        public var connection: Int
        public var requestId: Int
        public init(connection: Int, requestId: Int) {
            self.connection = connection
            self.requestId = requestId
        }
    }

    /// What the owner hears.
    public enum Update: Sendable {
        case event(FlowEvent)
        /// The last update: how it ended, and whether the start's own timeout ended it.
        case ended(FlowEnd, timedOut: Bool)
    }

    public enum StartRefusal: Error, Hashable, Sendable {
        /// Another activation is running.
        case busy
        /// The kiosk cannot serve now (journal stopped, shutting down).
        case unavailable
        /// A device the activation needs is not ready (the EPP offline, no PIN key): the operator's reason.
        case outOfService(String)
    }

    struct Current: Sendable {
        var owner: Owner
        /// `nil` while the flow is being made.
        var flow: ActivationFlow?
        var language: CustomerLanguage
        var timedOut = false
    }

    struct State: Sendable {
        var current: Current?
        /// Activations claimed whose owner has not yet heard the end.
        var unfinished = 0
        var closed = false
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
    }

    struct Job: Sendable {
        var run: ActivationRun
        var owner: Owner
        var timeout: Duration?
        var observer: @Sendable (Update) -> Void
    }

    private let make: @Sendable (CustomerLanguage) async -> ActivationRun?
    private let notReadyReason: @Sendable () -> String?
    /// How long a shutdown waits for a request already with the bank.
    private let drainLimit: Duration
    private let logger: Logger
    private let state = Mutex(State())
    private let jobs: AsyncStream<Job>.Continuation
    private let jobStream: AsyncStream<Job>

    /// - Parameters:
    ///   - drain: how long a shutdown waits for a request already with the bank.
    ///   - notReady: why the kiosk's devices cannot serve a customer now (checked before each start), or `nil`.
    ///   - make: a new flow with its devices for a customer's language; `nil` when the kiosk cannot serve now.
    public init(
        logger: Logger, drain: Duration = .seconds(30), notReady: @escaping @Sendable () -> String? = { nil },
        make: @escaping @Sendable (CustomerLanguage) async -> ActivationRun?
    ) {
        self.make = make
        self.notReadyReason = notReady
        self.drainLimit = drain
        self.logger = logger
        (self.jobStream, self.jobs) = AsyncStream.makeStream(of: Job.self)
    }

    /// True while an activation runs.
    public var isRunning: Bool { self.state.withLock { $0.current != nil } }

    /// The running activation's owner and language.
    public var running: (owner: Owner, language: CustomerLanguage)? { self.state.withLock { $0.current.map { ($0.owner, $0.language) } } }

    /// Runs every activation until shutdown, then drains (see ``drain(within:)``); returns once told to shut
    /// down (or cancelled). The socket server drains first when it stops, so its screens see the end.
    public func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask {
                guard (try? await gracefulShutdown()) != nil else { return }
                await self.drain(within: self.drainLimit)
            }
            for await job in self.jobStream { group.addTask { await self.perform(job) } }
        }
    }

    /// Starts an activation for `owner`; its updates go to `observer`, ending with ``Update/ended(_:timedOut:)``.
    /// - Parameter timeout: the start command's own timeout: past it the activation is cancelled.
    public func start(
        language tag: String?, owner: Owner, timeout: Duration?, observer: @escaping @Sendable (Update) -> Void
    ) async throws(StartRefusal) -> ActivationFlow {
        let language = CustomerLanguage(tag: tag)
        if let reason = self.notReadyReason() {
            self.logger.warning("activation refused: out of service", metadata: ["reason": "\(reason)"])
            throw .outOfService(reason)
        }
        // Claimed before the flow is made, so two screens cannot both start one.
        let claimed = self.state.withLock { state -> Bool? in
            guard !state.closed else { return nil }
            guard state.current == nil else { return false }
            state.current = Current(owner: owner, flow: nil, language: language)
            state.unfinished += 1
            return true
        }
        guard let claimed else { throw .unavailable }
        guard claimed else { throw .busy }
        guard let run = await self.make(language) else {
            self.finished(clearing: true)
            throw .unavailable
        }
        self.state.withLock { $0.current?.flow = run.flow }
        self.logger.info("activation started", metadata: ["flow": "\(run.flow.id)", "language": "\(language.rawValue)"])
        if case .terminated = self.jobs.yield(Job(run: run, owner: owner, timeout: timeout, observer: observer)) {
            // Shutting down between the claim and now.
            await run.flow.abandon()
            self.finished(clearing: true)
            throw .unavailable
        }
        return run.flow
    }

    /// Sends a screen input to the activation of `connection`; false when it has none.
    public func send(_ input: FlowInput, from connection: Int) async -> Bool {
        guard let flow = self.flow(of: connection, requestIds: nil) else { return false }
        await flow.send(input)
        return true
    }

    /// Cancels the activation of `connection` (only when its start request is in `requestIds`, if given).
    /// True when one was.
    @discardableResult
    public func cancel(connection: Int, requestIds: [Int]?) async -> Bool {
        guard let flow = self.flow(of: connection, requestIds: requestIds) else { return false }
        await flow.send(.cancel)
        return true
    }

    /// Refuses new activations, cancels the running one, waits up to `limit` for a request already with the
    /// bank (so its answer is journaled and shown), then ends it and waits until it has told its owner.
    /// Past `limit` the journaled intent is settled by the resolver.
    public func drain(within limit: Duration) async {
        self.close()
        guard let flow = self.state.withLock({ $0.current?.flow }) else {
            await self.untilIdle()
            return
        }
        await flow.send(.cancel)
        if !(await flow.settled(within: limit)) {
            self.logger.warning("shutdown: the bank did not answer within the drain; the resolver settles the activation", metadata: ["flow": "\(flow.id)"])
        }
        await flow.abandon()
        await self.untilIdle()
    }

    // MARK: Running one

    private func perform(_ job: Job) async {
        let flow = job.run.flow
        let end = await withTaskGroup(of: Void.self) { group -> FlowEnd in
            if let devices = job.run.devices { group.addTask { await devices(flow) } }
            if let timeout = job.timeout {
                group.addTask {
                    guard (try? await Task.sleep(for: timeout)) != nil else { return }
                    let mine = self.state.withLock { state -> Bool in
                        guard state.current?.owner == job.owner else { return false }
                        state.current?.timedOut = true
                        return true
                    }
                    if mine { await flow.send(.cancel) }
                }
            }
            async let delivered: Void = { for await event in flow.events { job.observer(.event(event)) } }()
            let end = await flow.run()
            // Every event is with the owner before the end is: the stream finishes when the flow closes.
            await delivered
            group.cancelAll()
            return end
        }
        // Free before the owner hears the end, so its next start is never refused as busy.
        let timedOut = self.state.withLock { state in
            defer { state.current = nil }
            return state.current?.timedOut ?? false
        }
        let detail = await flow.endDetail ?? "-"
        self.logger.info("activation ended", metadata: ["flow": "\(flow.id)", "end": "\(end.rawValue)", "detail": "\(detail)"])
        job.observer(.ended(end, timedOut: timedOut))
        self.finished(clearing: false)
    }

    private func flow(of connection: Int, requestIds: [Int]?) -> ActivationFlow? {
        self.state.withLock { state in
            guard let current = state.current, current.owner.connection == connection, requestIds == nil || requestIds!.contains(current.owner.requestId)
            else { return nil }
            return current.flow
        }
    }

    /// One claimed activation is over for its owner; wakes ``drain(within:)`` when none is left.
    private func finished(clearing: Bool) {
        let waiters = self.state.withLock { state -> [CheckedContinuation<Void, Never>] in
            if clearing { state.current = nil }
            state.unfinished -= 1
            guard state.unfinished == 0 else { return [] }
            defer { state.idleWaiters.removeAll() }
            return state.idleWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Refuses new activations and lets ``run()`` end once the running one has.
    private func close() {
        self.state.withLock { $0.closed = true }
        self.jobs.finish()
    }

    private func untilIdle() async {
        await withCheckedContinuation { continuation in
            let idle = self.state.withLock { state -> Bool in
                guard state.unfinished > 0 else { return true }
                state.idleWaiters.append(continuation)
                return false
            }
            if idle { continuation.resume() }
        }
    }
}
