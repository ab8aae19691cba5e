import Activation
import BankGateway
import BankHTTP
import Foundation
import Journal
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import TestSupport
import Testing

/// A TLS bank that takes the request and then misbehaves: it closes without TLS's close_notify, or resets
/// the connection halfway through its answer. Either way the request reached the bank's application.
final class MisbehavingBank: Sendable {
    enum Misbehaviour: Sendable {
        /// Reads the whole request, then closes the TCP connection without close_notify.
        case closeUncleanly
        /// Starts the answer (head and part of the body), then resets the connection (RST).
        case resetMidResponse
        /// Reads the request, then sends a TLS record whose ciphertext does not decrypt.
        case undecryptableAnswer
    }

    /// Sits next to the socket, below TLS: swallows every write once told to, and closes the TCP connection
    /// from below the TLS layer (which would otherwise send close_notify and wait for the peer's).
    final class WriteDropper: ChannelOutboundHandler, @unchecked Sendable {
        typealias OutboundIn = ByteBuffer
        let dropping = NIOLockedValueBox(false)
        private var context: ChannelHandlerContext?  // event loop only
        func handlerAdded(context: ChannelHandlerContext) { self.context = context }
        func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
            if self.dropping.withLockedValue({ $0 }) {
                promise?.succeed(())
                return
            }
            context.write(data, promise: promise)
        }
        /// Writes `bytes` on the socket as they are, below TLS (call on the event loop).
        func writeBelowTLS(_ bytes: [UInt8]) {
            self.context?.writeAndFlush(NIOAny(ByteBuffer(bytes: bytes)), promise: nil)
        }
        /// Closes the socket without a TLS goodbye (call on the event loop).
        func closeBelowTLS() {
            self.dropping.withLockedValue { $0 = true }
            self.context?.close(promise: nil)
        }
    }

    final class Handler: ChannelInboundHandler, Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let misbehaviour: Misbehaviour
        let dropper: WriteDropper
        let bank: MisbehavingBank
        init(_ misbehaviour: Misbehaviour, dropper: WriteDropper, bank: MisbehavingBank) {
            self.misbehaviour = misbehaviour
            self.dropper = dropper
            self.bank = bank
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard case .end = self.unwrapInboundIn(data) else { return }
            self.bank.requests.withLockedValue { $0 += 1 }
            switch self.misbehaviour {
            case .closeUncleanly:
                self.dropper.closeBelowTLS()
            case .undecryptableAnswer:
                // An application-data record (type 23, TLS 1.2 framing) of 48 bytes that no key opens.
                self.dropper.writeBelowTLS([0x17, 0x03, 0x03, 0x00, 0x30] + (0..<48).map { _ in UInt8.random(in: 0...255) })
            case .resetMidResponse:
                var head = HTTPResponseHead(version: .http1_1, status: .ok)
                head.headers.add(name: "Content-Type", value: "application/json")
                head.headers.add(name: "Content-Length", value: "400")
                context.write(self.wrapOutboundOut(.head(head)), promise: nil)
                context.writeAndFlush(self.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: #"{"code":"00","reference":"#)))), promise: nil)
                let channel = context.channel
                let dropper = self.dropper
                context.eventLoop.scheduleTask(in: .milliseconds(50)) {
                    // SO_LINGER 0: the close sends RST instead of FIN.
                    guard let provider = channel as? any SocketOptionProvider else { return dropper.closeBelowTLS() }
                    provider.setSoLinger(linger(l_onoff: 1, l_linger: 0)).whenComplete { _ in dropper.closeBelowTLS() }
                }
            }
        }
    }

    let requests = NIOLockedValueBox(0)
    private let channel = NIOLockedValueBox<(any Channel)?>(nil)

    /// Serves TLS with `tls` on a free loopback port; returns the port.
    func start(tls: TLSConfiguration, misbehaviour: Misbehaviour) async throws -> Int {
        let context = try NIOSSLContext(configuration: tls)
        let bank = self
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let dropper = WriteDropper()
                    try channel.pipeline.syncOperations.addHandler(dropper)
                    try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withPipeliningAssistance: false, withErrorHandling: false)
                    try channel.pipeline.syncOperations.addHandler(Handler(misbehaviour, dropper: dropper, bank: bank))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        self.channel.withLockedValue { $0 = channel }
        return channel.localAddress?.port ?? 0
    }

    func stop() async { try? await self.channel.withLockedValue { $0 }?.close() }
}

/// An error after the request was written is `unknown` (settled by inquiry), never "nothing applied".
@Suite(.timeLimit(.minutes(2))) struct TransportErrorTests {
    @Test("a TLS bank that reads the request, then closes without close_notify, resets mid-answer or sends an undecryptable record: unknown, to inquiry, never notApplied", arguments: [
        MisbehavingBank.Misbehaviour.closeUncleanly, .resetMidResponse, .undecryptableAnswer,
    ])
    func afterTheRequestWasWritten(_ misbehaviour: MisbehavingBank.Misbehaviour) async throws {
        let pki = try await TestPKI.make()
        let bank = MisbehavingBank()
        let port = try await bank.start(tls: try pki.serverTLS(), misbehaviour: misbehaviour)
        var profile = pki.profile(port: port, settings: [:])
        profile.timeouts.responseMilliseconds = 800
        let gateway = try HTTPGateway(profile: profile)
        let outcome = await gateway.activate(try request())
        guard case .unknown = outcome else {
            Issue.record("\(misbehaviour): \(outcome), not unknown")
            await gateway.shutdown()
            await bank.stop()
            return
        }
        print("\(misbehaviour): \(outcome)")
        #expect(bank.requests.withLockedValue { $0 } == 1, "the request reached the bank")

        // Through the executor: journaled unknown, then inquiry (answered the same way), never notApplied.
        let journalPath = FileManager.default.temporaryDirectory.appendingPathComponent("transport-\(UUID().uuidString).sqlite").path
        defer { for suffix in ["", "-wal", "-shm", ".hashkey"] { try? FileManager.default.removeItem(atPath: journalPath + suffix) } }
        let executor = ActivationExecutor(
            journal: try Journal(path: journalPath), gateway: gateway,
            policy: ResolverPolicy(firstDelay: .milliseconds(10), maximumDelay: .milliseconds(40), inquiries: 1, reversals: 1))
        let result = try await executor.execute(try request(pan: "6228230029000001234"))
        #expect(result.state == .unknown, "\(misbehaviour): \(result.state)")
        #expect(bank.requests.withLockedValue { $0 } >= 3, "activation, inquiry and reversal all went to the bank")
        await gateway.shutdown()
        await bank.stop()
    }
}
