import ISO8583
import NIOCore
import NIOPosix
import Synchronization

/// How a reply is matched to its request: terminal ID, STAN and the reply's MTI.
public struct Correlation: Hashable, Sendable, CustomStringConvertible {
    public var terminalID: String
    public var stan: String
    public var replyMTI: String
    public init(terminalID: String, stan: String, replyMTI: String) {
        self.terminalID = terminalID
        self.stan = stan
        self.replyMTI = replyMTI
    }
    public var description: String { "\(self.replyMTI) for TID \(self.terminalID) STAN \(self.stan)" }
}

/// One TCP connection to the bank host, opened when needed and reopened after it drops. Requests go out
/// as frames; replies come back on the same connection in any order and are matched by ``Correlation``.
/// A reply nobody waits for (late, duplicate, for another STAN) goes to `onStray`, never to a waiter.
/// A frame that breaks the framing or the spec ends the connection: every waiter learns the request was
/// sent and its answer lost. All socket work runs on NIO's event loops; nothing here blocks.
final class ISOLink: Sendable {
    typealias Matcher = @Sendable (Frame) throws(ISO8583GatewayError) -> Correlation
    typealias Reply = Result<Frame, ISO8583GatewayError>

    private let host: String
    private let port: Int
    private let format: FrameFormat
    private let connectTimeout: Duration
    private let matcher: Matcher
    private let onStray: @Sendable (Frame) -> Void
    private let waiters = Mutex<[Correlation: CheckedContinuation<Reply, Never>]>([:])
    private let connection = Mutex<(channel: (any Channel)?, pending: EventLoopFuture<any Channel>?)>((nil, nil))

    init(host: String, port: Int, format: FrameFormat, connectTimeout: Duration, matcher: @escaping Matcher, onStray: @escaping @Sendable (Frame) -> Void) {
        self.host = host
        self.port = port
        self.format = format
        self.connectTimeout = connectTimeout
        self.matcher = matcher
        self.onStray = onStray
    }

    /// Sends `bytes` and waits up to `timeout` for the reply matching `correlation`.
    /// Failures: `notSent` (no connection, nothing written), `noAnswer`, `connectionLost`, `malformedReply`.
    func exchange(_ bytes: [UInt8], correlation: Correlation, timeout: Duration) async -> Reply {
        let channel: any Channel
        do {
            channel = try await self.channel()
        } catch {
            return .failure(.notSent("connect to \(self.host):\(self.port): \(error)"))
        }
        return await withCheckedContinuation { (continuation: CheckedContinuation<Reply, Never>) in
            let duplicate = self.waiters.withLock { waiters -> Bool in
                guard waiters[correlation] == nil else { return true }
                waiters[correlation] = continuation
                return false
            }
            if duplicate {
                continuation.resume(returning: .failure(.notSent("a request for \(correlation) is already waiting")))
                return
            }
            let timer = channel.eventLoop.scheduleTask(in: .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000)) {
                self.resolve(correlation, with: .failure(.noAnswer("no reply within \(timeout)")))
            }
            channel.writeAndFlush(ByteBuffer(bytes: bytes)).whenFailure { error in
                timer.cancel()
                if let channelError = error as? ChannelError, channelError == .ioOnClosedChannel {
                    self.resolve(correlation, with: .failure(.notSent("the connection had closed before the write")))
                } else {
                    self.resolve(correlation, with: .failure(.connectionLost("write failed: \(error)")))
                }
            }
        }
    }

    /// Closes the connection; waiters learn the connection was lost.
    func close() async {
        let channel = self.connection.withLock { state -> (any Channel)? in
            defer { state = (nil, nil) }
            return state.channel
        }
        try? await channel?.close()
    }

    // MARK: Connection

    private func channel() async throws -> any Channel {
        let future = self.connection.withLock { state -> EventLoopFuture<any Channel> in
            if let channel = state.channel, channel.isActive { return channel.eventLoop.makeSucceededFuture(channel) }
            if let pending = state.pending { return pending }
            let pending = self.connect()
            state.pending = pending
            return pending
        }
        do {
            let channel = try await future.get()
            self.connection.withLock { state in
                if state.pending === future || state.pending == nil {
                    state.channel = channel
                    state.pending = nil
                }
            }
            return channel
        } catch {
            self.connection.withLock { state in if state.pending === future { state.pending = nil } }
            throw error
        }
    }

    private func connect() -> EventLoopFuture<any Channel> {
        let format = self.format
        let milliseconds = Int64(self.connectTimeout.components.seconds * 1000 + self.connectTimeout.components.attoseconds / 1_000_000_000_000_000)
        return ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.milliseconds(milliseconds))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameDecoder(format: format)))
                    try channel.pipeline.syncOperations.addHandler(LinkHandler(link: self))
                }
            }
            .connect(host: self.host, port: self.port)
    }

    // MARK: Inbound (event loop)

    fileprivate func received(_ frame: Frame, channel: any Channel) {
        let correlation: Correlation
        do {
            correlation = try self.matcher(frame)
        } catch {
            self.lost(channel, reason: error)
            channel.close(promise: nil)
            return
        }
        if !self.resolve(correlation, with: .success(frame)) { self.onStray(frame) }
    }

    /// The connection ended or broke: every waiter's request was sent, its answer is lost.
    fileprivate func lost(_ channel: any Channel, reason: ISO8583GatewayError) {
        self.connection.withLock { state in if state.channel === channel { state.channel = nil } }
        let waiting = self.waiters.withLock { waiters -> [CheckedContinuation<Reply, Never>] in
            defer { waiters.removeAll() }
            return Array(waiters.values)
        }
        for continuation in waiting { continuation.resume(returning: .failure(reason)) }
    }

    @discardableResult
    private func resolve(_ correlation: Correlation, with reply: Reply) -> Bool {
        guard let continuation = self.waiters.withLock({ $0.removeValue(forKey: correlation) }) else { return false }
        continuation.resume(returning: reply)
        return true
    }
}

/// Cuts the byte stream into frames with ``FrameReader``; a broken length prefix closes the connection.
private final class FrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = Frame
    private var reader: FrameReader

    init(format: FrameFormat) { self.reader = FrameReader(format: format) }

    func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        // Every whole frame now: the reader holds the bytes, so NIO would not call again for a second
        // frame that arrived in the same read.
        if let bytes = buffer.readBytes(length: buffer.readableBytes), !bytes.isEmpty { self.reader.append(bytes) }
        while let frame = try self.reader.next() { context.fireChannelRead(NIOAny(frame)) }
        return .needMoreData
    }

    func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        try self.decode(context: context, buffer: &buffer)
    }
}

private final class LinkHandler: ChannelInboundHandler {
    typealias InboundIn = Frame
    private let link: ISOLink
    init(link: ISOLink) { self.link = link }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.link.received(self.unwrapInboundIn(data), channel: context.channel)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.link.lost(context.channel, reason: .connectionLost("the bank closed the connection"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let reason: ISO8583GatewayError = error is ISO8583Error ? .malformedReply("framing: \(error)") : .connectionLost("\(error)")
        self.link.lost(context.channel, reason: reason)
        context.close(promise: nil)
    }
}
