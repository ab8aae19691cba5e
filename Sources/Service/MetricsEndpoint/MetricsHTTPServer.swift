import NIOCore
import NIOHTTP1
import NIOPosix
import ServerSupport
import Synchronization
import KioskSettings

/// Prometheus' scrape endpoint: `GET /metrics` over HTTP/1.1 on a loopback address only (the kiosk's
/// node exporter or an agent on the machine scrapes it; nothing off the machine can). Everything else is
/// 404 / 405; a connection idle for 10 s is closed.
public final class MetricsHTTPServer: Sendable {
    public let host: String
    public let port: Int
    private let text: @Sendable () -> String
    private let channel = Mutex<(any Channel)?>(nil)

    /// `host` must be a loopback address (`127.0.0.0/8` or `::1`); `port` 0 picks a free one.
    public init(host: String = "127.0.0.1", port: Int, text: @escaping @Sendable () -> String) {
        self.host = host
        self.port = port
        self.text = text
    }

    /// Binds and returns the port it listens on; serves until ``stop()``.
    public func start() async throws -> Int {
        guard KioskSettings.isLoopback(self.host) else { throw MetricsEndpointError("metrics endpoint: \(self.host) is not a loopback address") }
        let text = self.text
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: .seconds(10)))
                    try channel.pipeline.syncOperations.addHandler(IdleCloser())
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(MetricsHandler(text: text))
                }
            }
            .bind(host: self.host, port: self.port).get()
        self.channel.withLock { $0 = channel }
        return channel.localAddress?.port ?? self.port
    }

    public func stop() async {
        let channel = self.channel.withLock { $0 }
        try? await channel?.close()
    }
}

/// Answers one request at a time on its connection.
final class MetricsHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    let text: @Sendable () -> String
    private var head: HTTPRequestHead?

    init(text: @escaping @Sendable () -> String) { self.text = text }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head(let head): self.head = head
        case .body: break
        case .end:
            guard let head = self.head else { return }
            self.head = nil
            let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
            let status: HTTPResponseStatus
            let body: String
            var type = "text/plain; charset=utf-8"
            if path != "/metrics" {
                (status, body) = (.notFound, "not found: the metrics are at /metrics\n")
            } else if head.method != .GET && head.method != .HEAD {
                (status, body) = (.methodNotAllowed, "GET /metrics\n")
            } else {
                (status, body, type) = (.ok, self.text(), "text/plain; version=0.0.4; charset=utf-8")
            }
            let buffer = context.channel.allocator.buffer(string: body)
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: type)
            headers.add(name: "Content-Length", value: "\(buffer.readableBytes)")
            let keepAlive = head.isKeepAlive
            if !keepAlive { headers.add(name: "Connection", value: "close") }
            context.write(self.wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
            if head.method != .HEAD { context.write(self.wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil) }
            let closing = context.writeAndFlush(self.wrapOutboundOut(.end(nil)))
            if !keepAlive {
                let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
                closing.whenComplete { _ in loopBound.value.close(promise: nil) }
            }
        }
    }
}

/// Why the metrics endpoint did not start.
public struct MetricsEndpointError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
