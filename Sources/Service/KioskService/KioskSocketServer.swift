import Activation
import Bytes
import Foundation
public import Glibc
import Journal
import KioskProtocol
import Messages
import NIOCore
import NIOPosix
import ServerSupport
import Synchronization

/// The kiosk socket: protocol v1 (docs/protocol-v1.md) over a Unix stream socket. Every command is
/// acknowledged before it runs, its events carry its requestId, and it ends with exactly one completion;
/// status, capabilities and cancel are answered at once. The server turns activation commands into calls
/// on the ``ActivationService`` (which owns the activation: one at a time; only the connection that
/// started it can confirm or cancel it, and closing that connection cancels it) and its updates into
/// messages; it keeps no activation state. Peer
/// credentials are checked on accept; a client that floods, sends oversized or malformed messages, stops
/// reading or goes idle is answered with typed errors or disconnected, never able to delay the flow or
/// the other clients.
public final class KioskSocketServer: Sendable {
    public let host: any KioskHost
    /// Owns the running activation.
    public let activations: ActivationService
    public let path: String
    public let mode: mode_t
    public let group: gid_t?
    public let limits: ServerLimits
    /// Whether the daemon runs in test mode (see ``init(host:path:mode:group:limits:testMode:)``).
    public let testMode: Bool
    private let clients = Mutex<[Int: Client]>([:])
    private let nextID = Mutex(0)
    private let bound = Mutex<(any Channel)?>(nil)
    private let connectionTasks = Mutex<[Int: Task<Void, Never>]>([:])
    private let stopping = Mutex(false)
    private let nextTaskKey = Mutex(0)

    final class Client: Sendable {
        let id: Int
        let channel: any Channel
        let outbox: AsyncStream<KioskMessage>.Continuation
        /// Who connected (`SO_PEERCRED`), for operator commands.
        let peer: PeerCredentials?
        init(id: Int, channel: any Channel, outbox: AsyncStream<KioskMessage>.Continuation, peer: PeerCredentials? = nil) {
            self.id = id
            self.channel = channel
            self.outbox = outbox
            self.peer = peer
        }

        /// Queues a message; a client too slow to take its messages is disconnected.
        func send(_ message: KioskMessage) {
            if case .dropped = self.outbox.yield(message) { self.channel.close(promise: nil) }
        }
    }

    /// - Parameter testMode: the daemon runs in test mode: `Common.Status` says `mode: test` and every
    ///   `Activation.ResultEvent` carries `test: true`, so a simulated approval never passes for a real one.
    public init(
        host: any KioskHost, activations: ActivationService, path: String, mode: mode_t = 0o660, group: gid_t? = nil, limits: ServerLimits = ServerLimits(),
        testMode: Bool = false
    ) {
        self.testMode = testMode
        self.host = host
        self.activations = activations
        self.path = path
        self.mode = mode
        self.group = group
        self.limits = limits
    }

    /// Connected clients now.
    public var connectionCount: Int { self.clients.withLock { $0.count } }

    /// Binds the socket (or takes `listeningSocket`, passed by systemd socket activation, whose mode
    /// and group the `.socket` unit set) and serves until ``stop(drain:)``.
    ///
    /// Each accepted connection is wrapped and handed to its own task inside the child initializer, so it
    /// is always served and finished through `executeThenClose`. (With NIO's async server channel, a
    /// connection accepted as the listener closes can be dropped unserved, and NIO traps on its unfinished
    /// writer: swift-nio#2813.)
    public func run(listeningSocket: Int32? = nil, onReady: (@Sendable () -> Void)? = nil) async throws {
        let idle = self.limits.idleTimeout
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: .nanoseconds(Int64(idle.components.seconds) * 1_000_000_000)))
                    try channel.pipeline.syncOperations.addHandler(IdleCloser())
                    let connection = try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    self.track { await self.serve(connection) }
                }
            }
        let server: any Channel
        if let listeningSocket {
            server = try await bootstrap.withBoundSocket(listeningSocket).get()
        } else {
            // umask before bind: fchmod on a socket does nothing (reliability.md §1.2); chmod the path after.
            let previous = umask(0o117)
            defer { umask(previous) }
            server = try await bootstrap.bind(unixDomainSocketPath: self.path, cleanupExistingSocketFile: true).get()
            guard chmod(self.path, self.mode) == 0 else {
                try? await server.close()
                throw ServerError("chmod \(self.path): \(String(cString: strerror(errno)))")
            }
            if let group = self.group, lchown(self.path, uid_t.max, group) != 0 {
                try? await server.close()
                throw ServerError("chown \(self.path) to group \(group): \(String(cString: strerror(errno)))")
            }
        }
        self.bound.withLock { $0 = server }
        await withDiscardingTaskGroup { group in
            group.addTask { await self.broadcastStatus(self.host.statusChanges()) }
            if let devices = self.host.deviceStatusChanges() { group.addTask { await self.broadcastStatus(devices) } }
            onReady?()
            try? await server.closeFuture.get()
            group.cancelAll()
        }
        // The listener is closed: wait for the connections' tasks (stop() closed their channels).
        while let pending = self.connectionTasks.withLock({ tasks in tasks.isEmpty ? nil : tasks.removeValue(forKey: tasks.keys.first!) }) {
            await pending.value
        }
    }

    /// Serves a connection in a task kept until it ends, so `run` can wait for every one. (The task is
    /// stored under the lock it takes to remove itself, so it cannot finish before it is stored.)
    private func track(_ work: @escaping @Sendable () async -> Void) {
        let key = self.nextTaskKey.withLock { value -> Int in
            value += 1
            return value
        }
        self.connectionTasks.withLock { tasks in
            tasks[key] = Task {
                await work()
                _ = self.connectionTasks.withLock { $0.removeValue(forKey: key) }
            }
        }
    }

    /// Closes the listening socket and every client connection; `run` returns once they are done. (Let
    /// `run` end this way rather than by cancelling it: connections accepted but not yet taken from the
    /// listener's stream would be dropped unfinished, which NIO traps on.)
    ///
    /// A running activation is cancelled first. One whose request is already with the bank cannot be: the
    /// activation service waits up to `drain` for the bank's answer, so it is journaled and shown before the
    /// screen's connection closes (past `drain`, the journaled intent is settled by the resolver). Each
    /// connection is then closed once its queued messages are written (at most `flush` later).
    public func stop(drain: Duration = .seconds(30), flush: Duration = .seconds(2)) async {
        self.stopping.withLock { $0 = true }
        let channel = self.bound.withLock { $0 }
        try? await channel?.close()
        let notice = KioskMessage(header: MessageHeader(name: "Common.StatusChangedEvent", requestId: nil, type: .unsolicited), payload: ["event": "daemonStopping"])
        for client in self.clients.withLock({ Array($0.values) }) { client.send(notice) }
        // Awaited: the activation's last events and its completion are in its owner's outbox after this.
        await self.activations.drain(within: drain)
        let timeout = TimeAmount.nanoseconds(Int64(flush.components.seconds) * 1_000_000_000 + flush.components.attoseconds / 1_000_000_000)
        for client in self.clients.withLock({ Array($0.values) }) {
            // Its writer closes the connection once the outbox is written; one that does not read is closed anyway.
            client.outbox.finish()
            let channel = client.channel
            channel.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
        }
    }

    // MARK: Connections

    private func serve(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async {
        let channel = connection.channel
        let peer = await self.peerCredentials(channel)
        guard self.peerAllowed(peer) else {
            // executeThenClose finishes the async channel's writer (NIO traps on one deinited unfinished).
            try? await connection.executeThenClose { _, _ in }
            return
        }
        let id = self.nextID.withLock { value -> Int in
            value += 1
            return value
        }
        let (outbox, continuation) = AsyncStream.makeStream(of: KioskMessage.self, bufferingPolicy: .bufferingOldest(self.limits.maximumQueuedMessages))
        let client = Client(id: id, channel: channel, outbox: continuation, peer: peer)
        let admitted = self.clients.withLock { clients -> Bool? in
            // Read under the clients lock: stop() sets `stopping` before it closes every client, so a
            // connection admitted after that sweep cannot exist.
            guard !self.stopping.withLock({ $0 }) else { return nil }
            guard clients.count < self.limits.maximumConnections else { return false }
            clients[id] = client
            return true
        }
        guard let admitted else {
            try? await connection.executeThenClose { _, _ in }
            return
        }
        guard admitted else {
            let refusal = KioskMessage(header: MessageHeader(name: "Common.Error", requestId: nil, type: .unsolicited), payload: ["errorDescription": "too many connections"])
            try? await connection.executeThenClose { _, outbound in try await outbound.write(ByteBuffer(bytes: KioskProtocol.encode(refusal))) }
            return
        }
        defer {
            continuation.finish()
            _ = self.clients.withLock { $0.removeValue(forKey: id) }
        }
        try? await connection.executeThenClose { inbound, outbound in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await message in outbox { try await outbound.write(ByteBuffer(bytes: KioskProtocol.encode(message))) }
                    // Stopping: everything queued is written; now the connection closes.
                    if self.stopping.withLock({ $0 }) { try? await channel.close() }
                }
                // Lines are read, split and charged against the rate here, as they arrive, and handled in
                // order by their own task. (Charged where they were handled, a flood sent at once was
                // admitted at the pace the daemon answered it: each slow answer refilled the bucket.)
                let (admitted, admit) = AsyncStream.makeStream(of: [UInt8].self)
                let backlog = Mutex(0)
                let gone = Mutex(false)
                async let handled: Void = {
                    for await line in admitted {
                        backlog.withLock { $0 -= 1 }
                        // A closed connection's queued commands are dropped, not run for nobody.
                        if gone.withLock({ $0 }) { continue }
                        await self.handle(line, from: client)
                    }
                }()
                var splitter = LineSplitter(limit: KioskProtocol.maximumMessageBytes)
                var bucket = TokenBucket(rate: self.limits.commandsPerSecond)
                do {
                    for try await var buffer in inbound {
                        splitter.append(buffer.readBytes(length: buffer.readableBytes) ?? [])
                        while true {
                            let line: [UInt8]
                            do throws(LineTooLong) {
                                guard let next = try splitter.next() else { break }
                                line = next
                            } catch {
                                let refusal = ProtocolError.tooLarge(limit: error.limit)
                                client.send(Self.refusal(name: "Common.Error", requestId: nil, status: "invalidMessage", "\(refusal)"))
                                continue
                            }
                            let waiting = backlog.withLock { $0 }
                            guard waiting < bucket.burst, bucket.take() else {
                                let peek = Wire.peek(line)
                                let why = waiting < bucket.burst ? "more than \(self.limits.commandsPerSecond) commands per second" : "\(waiting) commands still waiting for their answers"
                                client.send(Self.refusal(name: peek.name, requestId: peek.requestId, status: "tooManyRequests", why))
                                continue
                            }
                            backlog.withLock { $0 += 1 }
                            admit.yield(line)
                        }
                    }
                } catch {}
                gone.withLock { $0 = true }
                admit.finish()
                await handled
                // The client is gone: its activation cannot be confirmed or answered any more.
                await self.activations.cancel(connection: client.id, requestIds: nil)
                continuation.finish()
                try await group.waitForAll()
            }
        }
    }

    /// The connecting process's credentials (`SO_PEERCRED`), nil when they cannot be read.
    private func peerCredentials(_ channel: any Channel) async -> PeerCredentials? {
        guard let provider = channel as? any SocketOptionProvider else { return nil }
        return try? await provider.unsafeGetSocketOption(level: NIOBSDSocket.OptionLevel(rawValue: SOL_SOCKET), name: NIOBSDSocket.Option(rawValue: SO_PEERCRED)).get()
    }

    private func peerAllowed(_ peer: PeerCredentials?) -> Bool {
        guard !self.limits.allowedUIDs.isEmpty || !self.limits.allowedGIDs.isEmpty else { return true }
        guard let peer else { return false }
        return self.limits.allowedUIDs.contains(peer.uid) || self.limits.allowedGIDs.contains(peer.gid)
            || self.limits.operatorUIDs.contains(peer.uid) || self.limits.operatorGIDs.contains(peer.gid)
    }

    /// Whether `client` may run operator commands (`Journal.Settle`): its uid or gid is an operator's.
    private func isOperator(_ client: Client) -> Bool {
        guard let peer = client.peer else { return false }
        return self.limits.operatorUIDs.contains(peer.uid) || self.limits.operatorGIDs.contains(peer.gid)
    }

    // MARK: Commands

    private func handle(_ line: [UInt8], from client: Client) async {
        let command: KioskMessage
        do {
            command = try KioskProtocol.decodeCommand(line)
        } catch {
            let peek = Wire.peek(line)
            let status =
                switch error {
                case .invalidRequestID: "invalidRequestID"
                case .unknownCommand: "unsupportedCommand"
                case .unsupportedVersion: "unsupportedVersion"
                default: "invalidMessage"
                }
            client.send(Self.refusal(name: peek.name, requestId: peek.requestId, status: status, error.description))
            return
        }
        let name = command.header.name
        let requestId = command.header.requestId ?? 0
        client.send(KioskMessage(header: MessageHeader(name: name, requestId: requestId, type: .acknowledge)))
        func complete(_ code: CompletionCode, _ description: String = "OK", _ payload: JSONValue = .object([:])) {
            client.send(KioskMessage(
                header: MessageHeader(name: name, requestId: requestId, type: .completion, completionCode: code, errorDescription: description), payload: payload))
        }
        switch name {
        case "Common.Status":
            var status = await self.host.status()
            if case .object(var object) = status {
                object["activation"] = self.activations.isRunning ? "running" : "idle"
                object["connections"] = .number(Double(self.connectionCount))
                object["mode"] = self.testMode ? "test" : "production"
                status = .object(object)
            }
            complete(.success, "OK", status)
        case "Common.Capabilities":
            let interfaces: [JSONValue] = KioskProtocol.commands.keys.sorted().map { ["name": .string($0), "versions": .array(KioskProtocol.commands[$0]!.map(JSONValue.string))] }
            complete(.success, "OK", ["interfaces": .array(interfaces), "maximumRequests": 1, "deviceInformation": self.host.deviceInformation(), "protocol": .string(KioskProtocol.version)])
        case "Common.Cancel":
            let ids = command.payload["requestIds"]?.array?.compactMap(\.int)
            if await self.activations.cancel(connection: client.id, requestIds: ids) {
                complete(.success)
            } else {
                complete(.commandErrorCode, "no matching command of this connection", ["errorCode": "noMatchingRequestIDs"])
            }
        case "Activation.Start":
            await self.startActivation(command, client: client)
        case "Activation.Confirm", "Activation.Reject", "Activation.MoreTime":
            let input: FlowInput = name == "Activation.Confirm" ? .confirm : name == "Activation.Reject" ? .reject : .moreTime
            guard await self.activations.send(input, from: client.id) else {
                complete(.sequenceError, "no activation of this connection is running")
                return
            }
            complete(.success)
        case "Operations.Metrics":
            complete(.success, "OK", ["format": "prometheus-text-0.0.4", "text": .string(self.host.metricsText())])
        case "Readers.List":
            do { complete(.success, "OK", ["readers": try await self.host.readers()]) } catch { complete(.deviceNotReady, "\(error)") }
        case "Journal.Recent":
            let limit = min(max(command.payload["limit"]?.int ?? 20, 1), 500)
            do {
                let records = try await self.host.journal.recent(limit: limit)
                complete(.success, "OK", ["activations": .array(records.map(Wire.record))])
            } catch {
                complete(.internalError, error.description)
            }
        case "Journal.Settle":
            guard self.isOperator(client) else {
                let who = client.peer.map { "uid \($0.uid)" } ?? "an unknown peer"
                complete(.commandErrorCode, "Journal.Settle is for operators: \(who) is not in socket.operatorUIDs or socket.operatorGIDs", ["errorCode": "notAnOperator"])
                return
            }
            guard let key = command.payload["key"]?.string, let applied = command.payload["applied"]?.bool,
                let name = command.payload["operator"]?.string, !name.trimmingCharacters(in: .whitespaces).isEmpty
            else {
                complete(.invalidData, "Journal.Settle needs key, applied (true or false) and operator (the person's name)")
                return
            }
            do {
                try await self.host.settle(key: key, applied: applied, operator: name, uid: client.peer?.uid ?? UInt32.max, note: command.payload["note"]?.string)
                complete(.success, "OK", ["key": .string(key), "state": .string(applied ? "approved" : "notApplied")])
            } catch {
                switch error {
                case .notFound, .notManual: complete(.commandErrorCode, error.description, ["errorCode": "notManual"])
                case .busy: complete(.commandErrorCode, error.description, ["errorCode": "busy"])
                default: complete(.internalError, error.description)
                }
            }
        case "Journal.Verify":
            do {
                switch try await self.host.journal.verifyChain() {
                case .intact(let entries): complete(.success, "OK", ["intact": true, "entries": .number(Double(entries))])
                case .broken(let seq, let reason):
                    complete(.success, "OK", ["intact": false, "brokenAt": .number(Double(seq)), "reason": .string(reason)])
                }
            } catch {
                complete(.internalError, error.description)
            }
        default:
            complete(.unsupportedCommand, "\(name) is not implemented")
        }
    }

    private func startActivation(_ command: KioskMessage, client: Client) async {
        let requestId = command.header.requestId ?? 0
        let tag = command.payload["language"]?.string
        let language = CustomerLanguage(tag: tag)
        let timeout = command.header.timeout.flatMap { $0 > 0 ? Duration.milliseconds($0) : nil }
        let testMode = self.testMode
        do {
            _ = try await self.activations.start(language: tag, owner: .init(connection: client.id, requestId: requestId), timeout: timeout) { update in
                switch update {
                case .event(let event):
                    if let (name, payload) = Wire.event(event, testMode: testMode, language: language) {
                        client.send(KioskMessage(header: MessageHeader(name: name, requestId: requestId, type: .event), payload: payload))
                    }
                    if case .stage(let stage, _) = event { self.broadcastActivation(["stage": .string(stage.rawValue)], except: client.id) }
                case .ended(let end, let timedOut):
                    self.broadcastActivation(["stage": "ended", "end": .string(end.rawValue)], except: client.id)
                    let code: CompletionCode
                    switch end {
                    case .completed: code = .success
                    case .cancelled: code = timedOut ? .timeOut : .canceled
                    default: code = .commandErrorCode
                    }
                    client.send(KioskMessage(
                        header: MessageHeader(
                            name: "Activation.Start", requestId: requestId, type: .completion, completionCode: code, errorDescription: end.customerMessage.en),
                        payload: [
                            "end": .string(end.rawValue), "errorCode": code == .commandErrorCode ? .string(end.rawValue) : .null,
                            "message": Wire.message(end.customerMessage, language: language), "language": .string(language.rawValue),
                        ]))
                }
            }
        } catch {
            let (code, description): (CompletionCode, String) =
                switch error {
                case .busy: (.sequenceError, "an activation is already running")
                case .unavailable: (.deviceNotReady, "the kiosk cannot serve now")
                case .outOfService(let reason): (.deviceNotReady, "out of service: \(reason)")
                }
            // Out of service has its own customer message, in the customer's language.
            let payload: JSONValue =
                if case .outOfService = error {
                    [
                        "end": .string(FlowEnd.outOfService.rawValue), "errorCode": .string(FlowEnd.outOfService.rawValue),
                        "message": Wire.message(FlowEnd.outOfService.customerMessage, language: language), "language": .string(language.rawValue),
                    ]
                } else {
                    [:]
                }
            client.send(KioskMessage(
                header: MessageHeader(name: "Activation.Start", requestId: requestId, type: .completion, completionCode: code, errorDescription: description),
                payload: payload))
        }
    }

    // MARK: Unsolicited

    private func broadcastStatus(_ changes: any AsyncSequence<JSONValue, Never> & Sendable) async {
        for await change in changes {
            let message = KioskMessage(header: MessageHeader(name: "Common.StatusChangedEvent", requestId: nil, type: .unsolicited), payload: change)
            for client in self.clients.withLock({ Array($0.values) }) { client.send(message) }
        }
    }

    /// `Activation.StateChangedEvent` (stage only, no personal data) to every connection but the activation's own.
    private func broadcastActivation(_ payload: JSONValue, except owner: Int) {
        let message = KioskMessage(header: MessageHeader(name: "Activation.StateChangedEvent", requestId: nil, type: .unsolicited), payload: payload)
        for client in self.clients.withLock({ Array($0.values) }) where client.id != owner { client.send(message) }
    }

    static func refusal(name: String, requestId: Int?, status: String, _ description: String) -> KioskMessage {
        KioskMessage(header: MessageHeader(name: name, requestId: requestId, type: .acknowledge, status: status), payload: ["errorDescription": .string(description)])
    }
}

/// Commands per second with a burst of twice as many.
struct TokenBucket {
    let rate: Double
    var tokens: Double
    var last = ContinuousClock.now

    init(rate: Int) {
        self.rate = Double(max(rate, 1))
        self.tokens = self.rate * 2
    }

    /// The most commands taken at once: twice the rate.
    var burst: Int { Int(self.rate * 2) }

    mutating func take() -> Bool {
        let now = ContinuousClock.now
        let elapsed = now - self.last
        self.last = now
        self.tokens = min(self.rate * 2, self.tokens + self.rate * (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18))
        guard self.tokens >= 1 else { return false }
        self.tokens -= 1
        return true
    }
}

struct ServerError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// `struct ucred` of `SO_PEERCRED` (Linux): the peer's pid, uid and gid.
struct PeerCredentials: Sendable {
    var pid: Int32
    var uid: UInt32
    var gid: UInt32
}
