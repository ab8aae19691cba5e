import ISO8583
import NIOCore
import NIOPosix

/// Reads request frames from one terminal connection, lets the server decide on its own task, and
/// carries out the reply on the channel (including the faults: hang, close, reset, late, twice, partial).
/// A byte stream that breaks the framing closes the connection, as a host would.
final class ISOServerHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let server: SimulatedISO8583Server
    private var reader: FrameReader

    init(server: SimulatedISO8583Server, format: FrameFormat) {
        self.server = server
        self.reader = FrameReader(format: format)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = self.unwrapInboundIn(data)
        self.reader.append(buffer.readBytes(length: buffer.readableBytes) ?? [])
        while true {
            let frame: Frame?
            do {
                frame = try self.reader.next()
            } catch {
                context.close(promise: nil)
                return
            }
            guard let frame else { return }
            Self.dispatch(frame, server: self.server, channel: context.channel)
        }
    }

    private static func dispatch(_ frame: Frame, server: SimulatedISO8583Server, channel: any Channel) {
        Task { await Self.carryOut(await server.handle(frame), channel: channel) }
    }

    static func carryOut(_ action: SimulatedISO8583Server.Action, channel: any Channel) async {
        switch action {
        case .send(let bytes):
            channel.writeAndFlush(ByteBuffer(bytes: bytes), promise: nil)
        case .twice(let bytes):
            channel.write(ByteBuffer(bytes: bytes), promise: nil)
            channel.writeAndFlush(ByteBuffer(bytes: bytes), promise: nil)
        case .late(let delay, let bytes):
            try? await Task.sleep(for: delay)
            channel.writeAndFlush(ByteBuffer(bytes: bytes), promise: nil)
        case .hang:
            break
        case .close:
            try? await channel.close()
        case .reset:
            await Self.reset(channel)
        case .partial(let bytes, let reset):
            try? await channel.writeAndFlush(ByteBuffer(bytes: bytes))
            if reset { await Self.reset(channel) } else { try? await channel.close() }
        }
    }

    /// SO_LINGER 0: close sends RST instead of FIN.
    static func reset(_ channel: any Channel) async {
        if let provider = channel as? any SocketOptionProvider {
            try? await provider.setSoLinger(linger(l_onoff: 1, l_linger: 0)).get()
        }
        try? await channel.close()
    }
}
