import NIOCore
import NIOHTTP1
import NIOPosix

/// Collects one HTTP request, lets the server decide on its own task, and carries out the reply on the
/// channel's event loop (including the faults: hang, close, reset, late, twice).
final class BankRequestHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let server: SimulatedBankServer
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []

    init(server: SimulatedBankServer) { self.server = server }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            self.body = []
        case .body(var buffer):
            guard self.body.count + buffer.readableBytes <= 1 << 20 else {
                context.close(promise: nil)
                return
            }
            self.body += buffer.readBytes(length: buffer.readableBytes) ?? []
        case .end:
            guard let head = self.head else { return }
            self.head = nil
            let body = self.body
            let server = self.server
            let channel = context.channel
            let method = head.method
            let uri = head.uri
            let headers = head.headers
            let keepAlive = head.isKeepAlive
            Task {
                let reply = await server.handle(method: method, uri: uri, headers: headers, body: body)
                await server.carryOut(reply, channel: channel, keepAlive: keepAlive, binding: SimulatedBankServer.Binding(headers: headers))
            }
        }
    }
}

extension SimulatedBankServer {
    func carryOut(_ reply: SimulatedBankServer.Reply, channel: any Channel, keepAlive: Bool, binding: Binding) async {
        switch reply {
        case .respond(let status, let body, let mode):
            Self.write(status: status, body: body, headers: self.signedHeaders(status: status, body: body, mode: mode, binding: binding), channel: channel, keepAlive: keepAlive)
        case .twice(let status, let body):
            // Both copies signed first, then written back to back in one turn of the event loop: a request the
            // client sends after the first copy can never get its answer between the two.
            let first = self.signedHeaders(status: status, body: body, mode: .valid, binding: binding)
            let second = self.signedHeaders(status: status, body: body, mode: .valid, binding: binding)
            Self.write([(status, body, first, true), (status, body, second, keepAlive)], channel: channel)
        case .late(let delay, let status, let body):
            try? await Task.sleep(for: delay)
            Self.write(status: status, body: body, headers: self.signedHeaders(status: status, body: body, mode: .valid, binding: binding), channel: channel, keepAlive: false)
        case .hang:
            break
        case .close:
            try? await channel.close()
        case .reset:
            // SO_LINGER 0: close sends RST instead of FIN.
            if let provider = channel as? any SocketOptionProvider {
                try? await provider.setSoLinger(linger(l_onoff: 1, l_linger: 0)).get()
            }
            try? await channel.close()
        }
    }

    static func write(status: HTTPResponseStatus, body: [UInt8], headers: HTTPHeaders, channel: any Channel, keepAlive: Bool) {
        Self.write([(status, body, headers, keepAlive)], channel: channel)
    }

    /// Writes whole responses (head, body, end) in one turn of the channel's event loop. Written part by part
    /// from a task, two responses on one connection (a duplicate answer, the client's next request) could
    /// interleave: a second head before the first end, which NIO's HTTP server traps on (and took the test
    /// process down).
    static func write(_ responses: [(HTTPResponseStatus, [UInt8], HTTPHeaders, Bool)], channel: any Channel) {
        channel.eventLoop.execute {
            for (status, body, headers, keepAlive) in responses {
                var headers = headers
                if !keepAlive { headers.replaceOrAdd(name: "Connection", value: "close") }
                channel.write(HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers)), promise: nil)
                channel.write(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: body))), promise: nil)
                let done = channel.writeAndFlush(HTTPServerResponsePart.end(nil))
                if !keepAlive {
                    done.whenComplete { _ in channel.close(promise: nil) }
                    return
                }
            }
        }
    }
}
