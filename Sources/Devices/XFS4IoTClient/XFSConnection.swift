public import KioskProtocol
public import Logging
import NIOCore
import NIOHTTP1
public import NIOPosix
import NIOSSL
import NIOWebSocket
import Synchronization
public import XFS4IoT

/// One long-lived WebSocket connection to an XFS4IoT service (`xfs4iot.md` §1: `Common.Cancel` only reaches
/// requests of its own connection, so there is one). ``run()`` connects, serves the connection and reconnects
/// with backoff until cancelled; ``request(_:version:timeout:payload:)`` sends a command and streams its
/// events and completion. The WebSocket framing is swift-nio's (`NIOWebSocket`), TLS swift-nio-ssl's.
public final class XFSConnection: Sendable {
    /// The connection's state, as subscribers of ``states()`` see it.
    public enum State: Hashable, Sendable {
        case connecting
        case connected
        case disconnected(String)
    }

    private struct Inner {
        var state: State = .disconnected("not started")
        var writer: NIOAsyncChannelOutboundWriter<WebSocketFrame>?
        /// Counts connections; changes before the first command can go over a new one.
        var generation = 0
        var nextRequestId = 1
        var pending: [Int: (name: String, continuation: AsyncThrowingStream<XFSMessage, any Error>.Continuation)] = [:]
        var stateSubscribers: [Int: AsyncStream<State>.Continuation] = [:]
        var unsolicitedSubscribers: [Int: AsyncStream<XFSMessage>.Continuation] = [:]
        var nextSubscriber = 0
    }

    /// Where the connection goes: fixed, or found again before every (re)connection (``XFSDiscovery``).
    private let resolve: @Sendable () async throws -> XFSEndpoint
    private let resolved: Mutex<XFSEndpoint>
    private let group: MultiThreadedEventLoopGroup
    private let logger: Logger
    private let minimumBackoff: Duration
    private let maximumBackoff: Duration
    private let inner = Mutex(Inner())

    public convenience init(
        endpoint: XFSEndpoint, group: MultiThreadedEventLoopGroup = .singleton, logger: Logger = Logger(label: "xfs4iot"),
        minimumBackoff: Duration = .milliseconds(200), maximumBackoff: Duration = .seconds(5)
    ) {
        self.init(
            endpoint: endpoint, resolve: { endpoint }, group: group, logger: logger, minimumBackoff: minimumBackoff, maximumBackoff: maximumBackoff)
    }

    /// A connection whose endpoint `resolve` finds before every (re)connection (discovery: a restarted
    /// service may come back on another port); `endpoint` is what it is called until then.
    public init(
        endpoint: XFSEndpoint, resolve: @escaping @Sendable () async throws -> XFSEndpoint, group: MultiThreadedEventLoopGroup = .singleton,
        logger: Logger = Logger(label: "xfs4iot"), minimumBackoff: Duration = .milliseconds(200), maximumBackoff: Duration = .seconds(5)
    ) {
        self.resolve = resolve
        self.resolved = Mutex(endpoint)
        self.group = group
        self.logger = logger
        self.minimumBackoff = minimumBackoff
        self.maximumBackoff = maximumBackoff
    }

    /// The state now.
    public var state: State { self.inner.withLock { $0.state } }

    /// The service's endpoint (the last one found, with discovery).
    public var endpoint: XFSEndpoint { self.resolved.withLock { $0 } }

    /// Which connection this is (1 for the first, then one more for each reconnection): what a device
    /// remembers may be gone on a new one.
    public var generation: Int { self.inner.withLock { $0.generation } }

    /// Every state change from now on, starting with the state now. A slow subscriber keeps only the newest.
    public func states() -> AsyncStream<State> {
        let (stream, continuation) = AsyncStream.makeStream(of: State.self, bufferingPolicy: .bufferingNewest(1))
        let id = self.inner.withLock { inner -> Int in
            inner.nextSubscriber += 1
            inner.stateSubscribers[inner.nextSubscriber] = continuation
            continuation.yield(inner.state)
            return inner.nextSubscriber
        }
        continuation.onTermination = { [weak self] _ in _ = self?.inner.withLock { $0.stateSubscribers.removeValue(forKey: id) } }
        return stream
    }

    /// Unsolicited events (`type: "unsolicited"`, or an `event` with no request ID) from now on.
    public func unsolicited() -> AsyncStream<XFSMessage> {
        let (stream, continuation) = AsyncStream.makeStream(of: XFSMessage.self, bufferingPolicy: .bufferingNewest(64))
        let id = self.inner.withLock { inner -> Int in
            inner.nextSubscriber += 1
            inner.unsolicitedSubscribers[inner.nextSubscriber] = continuation
            return inner.nextSubscriber
        }
        continuation.onTermination = { [weak self] _ in _ = self?.inner.withLock { $0.unsolicitedSubscribers.removeValue(forKey: id) } }
        return stream
    }

    /// Sends a command. The stream yields its events and then its completion, and ends after the completion;
    /// it fails with ``XFSClientError/refused(command:status:)`` when the acknowledgement refuses it and with
    /// ``XFSClientError/disconnected(_:)`` when the connection drops first.
    /// - Returns: the request ID (for `Common.Cancel`) and the stream.
    public func request(_ name: String, version: String, timeout: Int, payload: JSONValue? = nil) async throws(XFSClientError)
        -> (requestId: Int, messages: AsyncThrowingStream<XFSMessage, any Error>)
    {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: XFSMessage.self)
        let registered = self.inner.withLock { inner -> (Int, NIOAsyncChannelOutboundWriter<WebSocketFrame>)? in
            guard let writer = inner.writer else { return nil }
            let id = inner.nextRequestId
            inner.nextRequestId = inner.nextRequestId == Int(Int32.max) ? 1 : inner.nextRequestId + 1
            inner.pending[id] = (name, continuation)
            return (id, writer)
        }
        guard let (id, writer) = registered else {
            throw .notConnected(self.describe(self.state))
        }
        let message = XFSMessage.command(name, requestId: id, version: version, timeout: timeout, payload: payload)
        do {
            try await writer.write(Self.textFrame(XFSCodec.encode(message)))
        } catch {
            _ = self.inner.withLock { $0.pending.removeValue(forKey: id) }
            throw .notConnected("write failed: \(error)")
        }
        return (id, stream)
    }

    /// Connects, serves and reconnects until the task is cancelled.
    public func run() async {
        var backoff = self.minimumBackoff
        while !Task.isCancelled {
            self.setState(.connecting)
            var reason = "the service closed the connection"
            do {
                let endpoint = try await self.resolve()
                self.resolved.withLock { $0 = endpoint }
                let channel = try await self.connect(endpoint)
                backoff = self.minimumBackoff
                try await channel.executeThenClose { inbound, outbound in
                    self.inner.withLock { inner in
                        inner.writer = outbound
                        inner.generation += 1
                    }
                    self.setState(.connected)
                    self.logger.info("XFS4IoT service connected", metadata: ["endpoint": "\(self.endpoint)"])
                    for try await frame in inbound {
                        if try await self.handle(frame, outbound: outbound) == false { break }
                    }
                }
            } catch {
                reason = "\(error)"
            }
            if Task.isCancelled { reason = "stopped" }
            let orphans = self.inner.withLock { inner in
                inner.writer = nil
                defer { inner.pending.removeAll() }
                return Array(inner.pending.values)
            }
            for orphan in orphans { orphan.continuation.finish(throwing: XFSClientError.disconnected(reason)) }
            self.setState(.disconnected(reason))
            if Task.isCancelled { break }
            self.logger.warning("XFS4IoT service unreachable; retrying", metadata: ["endpoint": "\(self.endpoint)", "reason": "\(reason)", "in": "\(backoff)"])
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, self.maximumBackoff)
        }
        let subscribers = self.inner.withLock { inner in
            defer {
                inner.stateSubscribers.removeAll()
                inner.unsolicitedSubscribers.removeAll()
            }
            return (Array(inner.stateSubscribers.values), Array(inner.unsolicitedSubscribers.values))
        }
        subscribers.0.forEach { $0.finish() }
        subscribers.1.forEach { $0.finish() }
    }

    // MARK: Frames

    /// Handles one frame; false when the peer closed.
    private func handle(_ frame: WebSocketFrame, outbound: NIOAsyncChannelOutboundWriter<WebSocketFrame>) async throws -> Bool {
        switch frame.opcode {
        case .text:
            let bytes = Array(frame.unmaskedData.readableBytesView)
            do {
                self.route(try XFSCodec.decode(bytes))
            } catch {
                self.logger.warning("XFS4IoT message ignored", metadata: ["problem": "\(error)", "bytes": "\(bytes.count)"])
            }
            return true
        case .ping:
            try await outbound.write(WebSocketFrame(fin: true, opcode: .pong, maskKey: .random(), data: frame.unmaskedData))
            return true
        case .connectionClose:
            var data = ByteBuffer()
            data.writeInteger(UInt16(1000))
            try? await outbound.write(WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: data))
            return false
        default:
            return true
        }
    }

    private func route(_ message: XFSMessage) {
        if message.isUnsolicited {
            let subscribers = self.inner.withLock { Array($0.unsolicitedSubscribers.values) }
            for subscriber in subscribers { subscriber.yield(message) }
            return
        }
        guard let id = message.header.requestId else { return }
        let entry = self.inner.withLock { inner -> (name: String, continuation: AsyncThrowingStream<XFSMessage, any Error>.Continuation)? in
            guard let entry = inner.pending[id] else { return nil }
            if message.header.type == .completion { inner.pending.removeValue(forKey: id) }
            if message.header.type == .acknowledge, let status = message.header.status, status != "ok" { inner.pending.removeValue(forKey: id) }
            return entry
        }
        guard let entry else {
            self.logger.debug("XFS4IoT message for no outstanding request", metadata: ["name": "\(message.header.name)", "requestId": "\(id)"])
            return
        }
        switch message.header.type {
        case .acknowledge:
            if let status = message.header.status, status != "ok" {
                entry.continuation.finish(throwing: XFSClientError.refused(command: entry.name, status: status))
            }
        case .event, .unsolicited:
            entry.continuation.yield(message)
        case .completion:
            entry.continuation.yield(message)
            entry.continuation.finish()
        case .command:
            break
        }
    }

    private func setState(_ state: State) {
        let subscribers = self.inner.withLock { inner -> [AsyncStream<State>.Continuation] in
            guard inner.state != state else { return [] }
            inner.state = state
            return Array(inner.stateSubscribers.values)
        }
        for subscriber in subscribers { subscriber.yield(state) }
    }

    private func describe(_ state: State) -> String {
        switch state {
        case .connecting: "connecting to \(self.endpoint)"
        case .connected: "connected"
        case .disconnected(let why): "\(self.endpoint): \(why)"
        }
    }

    static func textFrame(_ bytes: [UInt8]) -> WebSocketFrame {
        WebSocketFrame(fin: true, opcode: .text, maskKey: .random(), data: ByteBuffer(bytes: bytes))
    }

    // MARK: Connecting

    private enum Upgrade: Sendable {
        case websocket(NIOAsyncChannel<WebSocketFrame, WebSocketFrame>)
        case refused
    }

    private func connect(_ endpoint: XFSEndpoint) async throws -> NIOAsyncChannel<WebSocketFrame, WebSocketFrame> {
        let tls: NIOSSLContext? = endpoint.secure ? try NIOSSLContext(configuration: .makeClientConfiguration()) : nil
        let upgrade: EventLoopFuture<Upgrade> = try await ClientBootstrap(group: self.group)
            .connectTimeout(.seconds(3))
            .connect(host: endpoint.host, port: endpoint.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        let serverName = endpoint.host.first?.isNumber == true || endpoint.host.contains(":") ? nil : endpoint.host
                        try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: tls, serverHostname: serverName))
                    }
                    let upgrader = NIOTypedWebSocketClientUpgrader<Upgrade>(
                        maxFrameSize: XFSCodec.maximumMessageBytes,
                        upgradePipelineHandler: { channel, _ in
                            channel.eventLoop.makeCompletedFuture {
                                try channel.pipeline.syncOperations.addHandler(
                                    NIOWebSocketFrameAggregator(
                                        minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: 256, maxAccumulatedFrameSize: XFSCodec.maximumMessageBytes))
                                return Upgrade.websocket(try NIOAsyncChannel<WebSocketFrame, WebSocketFrame>(wrappingChannelSynchronously: channel))
                            }
                        })
                    var headers = HTTPHeaders()
                    headers.add(name: "Host", value: "\(endpoint.host):\(endpoint.port)")
                    let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: endpoint.path, headers: headers)
                    let configuration = NIOTypedHTTPClientUpgradeConfiguration(
                        upgradeRequestHead: head, upgraders: [upgrader],
                        notUpgradingCompletionHandler: { channel in channel.eventLoop.makeCompletedFuture { Upgrade.refused } })
                    return try channel.pipeline.syncOperations.configureUpgradableHTTPClientPipeline(
                        configuration: .init(upgradeConfiguration: configuration))
                }
            }
        switch try await upgrade.get() {
        case .websocket(let channel): return channel
        case .refused: throw XFSClientError.notConnected("\(endpoint) did not upgrade to WebSocket")
        }
    }
}
