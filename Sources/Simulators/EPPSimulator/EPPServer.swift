import KioskProtocol
public import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import Synchronization
import XFS4IoT

/// `kiosk-epp-sim`'s XFS4IoT service: a WebSocket server (swift-nio's upgrader and frame codec) serving the
/// publisher at `/xfs4iot/v1.0` (`ServicePublisher.GetServices`) and the PIN pad at
/// `/xfs4iot/v1.0/{service}/`, both on one port. Every connection gets acknowledgements, events and one
/// completion per command, as `xfs4iot.md` §2 describes.
public final class EPPServer: Sendable {
    public let device: EPPDevice
    public let serviceName: String
    public let host: String
    /// The port bound (the one asked for, or the one the system chose for 0).
    public let port: Int
    private let channel: NIOAsyncChannel<EventLoopFuture<Upgrade>, Never>
    private let logger: Logger
    private let nextConnection = Atomic<Int>(0)
    /// Open connections by number, to close them (``dropConnections()``).
    private let open = Mutex<[Int: any Channel]>([:])

    enum Upgrade: Sendable {
        case websocket(NIOAsyncChannel<WebSocketFrame, WebSocketFrame>, path: String)
        case refused(any Channel)
    }

    /// Binds the service; call ``run()`` to serve.
    public init(device: EPPDevice, host: String = "127.0.0.1", port: Int, serviceName: String = "PinPad1", logger: Logger = Logger(label: "epp-sim"))
        async throws
    {
        self.device = device
        self.serviceName = serviceName
        self.host = host
        self.logger = logger
        let servicePath = "/xfs4iot/v1.0/\(serviceName)"
        self.channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let upgrader = NIOTypedWebSocketServerUpgrader<Upgrade>(
                        maxFrameSize: XFSCodec.maximumMessageBytes,
                        shouldUpgrade: { channel, head in
                            let path = head.uri.hasSuffix("/") ? String(head.uri.dropLast()) : head.uri
                            let known = path == "/xfs4iot/v1.0" || path == servicePath
                            return channel.eventLoop.makeSucceededFuture(known ? HTTPHeaders() : nil)
                        },
                        upgradePipelineHandler: { channel, head in
                            channel.eventLoop.makeCompletedFuture {
                                try channel.pipeline.syncOperations.addHandler(
                                    NIOWebSocketFrameAggregator(
                                        minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: 256, maxAccumulatedFrameSize: XFSCodec.maximumMessageBytes))
                                let path = head.uri.hasSuffix("/") ? String(head.uri.dropLast()) : head.uri
                                return Upgrade.websocket(try NIOAsyncChannel(wrappingChannelSynchronously: channel), path: path)
                            }
                        })
                    let configuration = NIOTypedHTTPServerUpgradeConfiguration(
                        upgraders: [upgrader], notUpgradingCompletionHandler: { channel in channel.eventLoop.makeCompletedFuture { Upgrade.refused(channel) } })
                    return try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(
                        configuration: .init(upgradeConfiguration: configuration))
                }
            }
        self.port = self.channel.channel.localAddress?.port ?? port
    }

    /// The PIN pad service's URL.
    public var serviceURL: String { "ws://\(self.host):\(self.port)/xfs4iot/v1.0/\(self.serviceName)/" }

    /// Serves until cancelled; then closes every connection.
    public func run() async {
        await withDiscardingTaskGroup { group in
            do {
                try await self.channel.executeThenClose { inbound in
                    for try await upgrade in inbound {
                        group.addTask { await self.serve(upgrade) }
                    }
                }
            } catch {
                self.logger.debug("EPP service stopped", metadata: ["reason": "\(error)"])
            }
            for connection in self.open.withLock({ Array($0.values) }) { connection.close(promise: nil) }
        }
    }

    /// Closes every open connection (a test's "the service went away" without stopping it).
    public func dropConnections() {
        for connection in self.open.withLock({ Array($0.values) }) { connection.close(promise: nil) }
    }

    private func serve(_ upgrade: EventLoopFuture<Upgrade>) async {
        let result: Upgrade
        do { result = try await upgrade.get() } catch { return }
        switch result {
        case .refused(let channel):
            try? await channel.close()
        case .websocket(let channel, let path):
            let id = self.nextConnection.add(1, ordering: .relaxed).newValue
            self.open.withLock { $0[id] = channel.channel }
            defer {
                self.open.withLock { _ = $0.removeValue(forKey: id) }
                self.device.connectionClosed(id)
            }
            await self.serve(channel, id: id, publisher: path == "/xfs4iot/v1.0")
        }
    }

    private func serve(_ channel: NIOAsyncChannel<WebSocketFrame, WebSocketFrame>, id: Int, publisher: Bool) async {
        let (outbox, post) = AsyncStream.makeStream(of: XFSMessage.self)
        let session = EPPSession(device: self.device, connection: id, post: { post.yield($0) }, close: { [channel] in channel.channel.close(promise: nil) })
        if !publisher { self.device.connectionOpened(id) { post.yield($0) } }
        do {
            try await channel.executeThenClose { inbound, outbound in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for await message in outbox {
                            try await outbound.write(WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(bytes: XFSCodec.encode(message))))
                        }
                    }
                    for try await frame in inbound {
                        switch frame.opcode {
                        case .text:
                            guard let message = try? XFSCodec.decode(Array(frame.unmaskedData.readableBytesView)) else { continue }
                            if publisher {
                                session.publish(message, serviceURI: self.serviceURL)
                            } else {
                                session.handle(message, in: &group)
                            }
                        case .ping:
                            try await outbound.write(WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData))
                        case .connectionClose:
                            try? await outbound.write(WebSocketFrame(fin: true, opcode: .connectionClose, data: ByteBuffer()))
                            post.finish()
                            group.cancelAll()
                            return
                        default:
                            continue
                        }
                    }
                    post.finish()
                    group.cancelAll()
                }
            }
        } catch {
            self.logger.debug("EPP connection ended", metadata: ["connection": "\(id)", "reason": "\(error)"])
        }
        post.finish()
    }
}
