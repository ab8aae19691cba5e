public import NIOCore

/// Closes a connection that has sent nothing for the idle timeout: put it after an `IdleStateHandler` with a
/// read timeout. Every server of ours (the kiosk socket, the metrics endpoint) drops silent peers this way.
public final class IdleCloser: ChannelInboundHandler, Sendable {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer

    public init() {}

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }
}
