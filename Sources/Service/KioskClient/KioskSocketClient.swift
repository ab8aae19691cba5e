import Foundation
import Glibc
public import KioskProtocol
import Synchronization
import UnixSocket

/// A client of kioskd's kiosk socket (protocol v1): the one kioskctl, the benchmark and the tests use.
///
/// Messages are read on a thread of the client's own (a blocking read never runs on the cooperative pool),
/// decoded, and kept in order; a caller waits for the message it needs (``wait(after:timeout:where:)``,
/// ``call(_:payload:timeout:)``) or iterates them (``stream(from:)``). Waiting is woken by the message
/// itself, not by polling. The reading thread owns the descriptor and closes it when the connection ends.
public final class KioskSocketClient: Sendable {
    /// The socket's path.
    public let path: String
    private let fd: Int32
    private let state = Mutex(State())
    /// Held while writing; true once the reading thread has closed the descriptor (never written to again).
    private let writing = Mutex(false)

    /// How many of the latest messages ``messages`` keeps (older ones are dropped; indices stay absolute).
    public static let keptMessages = 10_000

    private struct Waiter {
        let after: Int
        let predicate: @Sendable (KioskMessage) -> Bool
        let continuation: CheckedContinuation<KioskMessage?, Never>
    }

    private struct State {
        var kept: [KioskMessage] = []
        var dropped = 0
        var closed = false
        var nextRequest = 0
        var nextWaiter = 0
        /// A waiter, or the mark of one whose time ran out before it registered.
        var waiters: [Int: Waiter?] = [:]
        var streams: [Int: AsyncStream<KioskMessage>.Continuation] = [:]

        var total: Int { self.dropped + self.kept.count }

        func first(from index: Int, where predicate: (KioskMessage) -> Bool) -> KioskMessage? {
            self.kept.dropFirst(max(0, index - self.dropped)).first(where: predicate)
        }
    }

    /// Connects to the kiosk socket at `path`.
    public init(path: String) throws(KioskClientError) {
        self.path = path
        do {
            self.fd = try UnixSocket.connect(path)
        } catch {
            throw KioskClientError("cannot connect to the kiosk socket \(path): \(error.reason) (is kioskd running? --socket or $KIOSK_SOCKET)")
        }
        let fd = self.fd
        Thread.detachNewThread { [self] in
            UnixSocket.readLines(fd) { line in
                if let message = try? KioskProtocol.decode(line) { self.received(message) }
            }
            self.ended()
        }
    }

    /// The default socket path: `$KIOSK_SOCKET`, else kioskd's default.
    public static var defaultPath: String { ProcessInfo.processInfo.environment["KIOSK_SOCKET"] ?? KioskProtocol.defaultSocketPath }

    // MARK: Sending

    /// Sends a command with the next request ID (or `requestId`) and returns that ID.
    @discardableResult
    public func send(_ name: String, payload: JSONValue = .object([:]), timeout: Int? = nil, requestId: Int? = nil) -> Int {
        let id = self.state.withLock { state -> Int in
            state.nextRequest = max(state.nextRequest + 1, requestId ?? 0)
            return requestId ?? state.nextRequest
        }
        let message = KioskMessage(header: MessageHeader(name: name, requestId: id, type: .command, timeout: timeout), payload: payload)
        self.sendRaw(KioskProtocol.encode(message))
        return id
    }

    /// Writes bytes as they are (tests of hostile input).
    public func sendRaw(_ bytes: [UInt8]) {
        // Not under `state`: a write that blocks (the daemon reads slowly) must not stop the reading thread.
        self.writing.withLock { closed in
            if !closed { UnixSocket.writeAll(self.fd, bytes) }
        }
    }

    /// Sends a command and returns its completion, or the acknowledge that refused it.
    /// - Throws: ``KioskClientError`` when the daemon closes the connection or `timeout` passes first.
    public func call(_ name: String, payload: JSONValue = .object([:]), timeout: Duration = .seconds(60)) async throws(KioskClientError) -> KioskMessage {
        let mark = self.count
        let id = self.send(name, payload: payload)
        let answer = await self.wait(after: mark, timeout: timeout) {
            $0.header.requestId == id && ($0.header.type == .completion || ($0.header.type == .acknowledge && $0.header.status != nil))
        }
        guard let answer else {
            throw KioskClientError(self.isClosed ? "the daemon closed the connection" : "no answer to \(name) within \(timeout)")
        }
        return answer
    }

    // MARK: Receiving

    /// How many messages have arrived so far (an index for ``wait(after:timeout:where:)``).
    public var count: Int { self.state.withLock { $0.total } }

    /// The messages kept so far (the latest ``keptMessages``), oldest first.
    public var messages: [KioskMessage] { self.state.withLock { $0.kept } }

    /// The messages kept so far for one request.
    public func messages(for requestId: Int) -> [KioskMessage] { self.messages.filter { $0.header.requestId == requestId } }

    /// True once the connection has ended (either side closed it).
    public var isClosed: Bool { self.state.withLock { $0.closed } }

    /// The first message from index `after` on that matches, waiting up to `timeout` for it; nil when the
    /// time passes, the connection ends or the waiting task is cancelled first (messages that arrived before
    /// the end still count).
    public func wait(
        after index: Int = 0, timeout: Duration = .seconds(10), where predicate: @escaping @Sendable (KioskMessage) -> Bool
    ) async -> KioskMessage? {
        let id = self.state.withLock { state -> Int in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        return await withTaskGroup(of: KioskMessage?.self) { group in
            group.addTask {
                await withCheckedContinuation { continuation in self.register(id, Waiter(after: index, predicate: predicate, continuation: continuation)) }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                self.expire(id)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            self.expire(id)
            await group.waitForAll()
            self.state.withLock { _ = $0.waiters.removeValue(forKey: id) }
            return first
        }
    }

    /// The completion of request `requestId`.
    public func completion(_ requestId: Int, timeout: Duration = .seconds(10)) async -> KioskMessage? {
        await self.wait(timeout: timeout) { $0.header.requestId == requestId && $0.header.type == .completion }
    }

    /// Waits until the connection has ended; false after `timeout`.
    public func waitClosed(timeout: Duration = .seconds(5)) async -> Bool {
        await self.wait(timeout: timeout) { _ in false } == nil && self.isClosed
    }

    /// The messages from index `from` on (those already kept first), then each as it arrives, until the
    /// connection ends or the consumer stops.
    public func stream(from index: Int = 0) -> AsyncStream<KioskMessage> {
        let (stream, continuation) = AsyncStream.makeStream(of: KioskMessage.self)
        let id = self.state.withLock { state -> Int in
            for message in state.kept.dropFirst(max(0, index - state.dropped)) { continuation.yield(message) }
            if state.closed {
                continuation.finish()
                return -1
            }
            state.nextWaiter += 1
            state.streams[state.nextWaiter] = continuation
            return state.nextWaiter
        }
        continuation.onTermination = { [weak self] _ in _ = self?.state.withLock { $0.streams.removeValue(forKey: id) } }
        return stream
    }

    /// Closes our side; the reading thread then ends and closes the descriptor. (Under `state`, so the
    /// descriptor is still ours: the reading thread closes it only after it has marked `closed` there.)
    public func close() {
        self.state.withLock { state in
            if !state.closed { shutdown(self.fd, Int32(SHUT_RDWR)) }
        }
    }

    // MARK: Internals

    private func register(_ id: Int, _ waiter: Waiter) {
        let answer = self.state.withLock { state -> KioskMessage?? in
            if state.waiters.keys.contains(id) { return .some(nil) }  // expired already
            // What arrived before the connection ended still counts.
            if let found = state.first(from: waiter.after, where: waiter.predicate) { return .some(found) }
            if state.closed { return .some(nil) }
            state.waiters[id] = .some(waiter)
            return .none
        }
        if case .some(let message) = answer { waiter.continuation.resume(returning: message) }
    }

    /// Ends a wait with nil: resumes its waiter, or marks it so that a register() still to come gives up.
    private func expire(_ id: Int) {
        let waiter = self.state.withLock { state -> Waiter? in
            let waiter = state.waiters[id] ?? nil
            state.waiters[id] = .some(nil)
            return waiter
        }
        waiter?.continuation.resume(returning: nil)
    }

    private func received(_ message: KioskMessage) {
        let (woken, streams) = self.state.withLock { state -> ([(Waiter, KioskMessage)], [AsyncStream<KioskMessage>.Continuation]) in
            let index = state.total
            state.kept.append(message)
            if state.kept.count > Self.keptMessages {
                state.kept.removeFirst(state.kept.count - Self.keptMessages)
                state.dropped = index + 1 - state.kept.count
            }
            var woken: [(Waiter, KioskMessage)] = []
            for case (let id, let waiter?) in state.waiters where index >= waiter.after && waiter.predicate(message) {
                woken.append((waiter, message))
                state.waiters[id] = .some(nil)
            }
            return (woken, Array(state.streams.values))
        }
        for (waiter, message) in woken { waiter.continuation.resume(returning: message) }
        for continuation in streams { continuation.yield(message) }
    }

    private func ended() {
        let (waiters, streams) = self.state.withLock { state -> ([Waiter], [AsyncStream<KioskMessage>.Continuation]) in
            state.closed = true
            let waiters = state.waiters.values.compactMap { $0 }
            for id in state.waiters.keys { state.waiters[id] = .some(nil) }
            defer { state.streams.removeAll() }
            return (waiters, Array(state.streams.values))
        }
        self.writing.withLock { closed in
            closed = true
            Glibc.close(self.fd)
        }
        for waiter in waiters { waiter.continuation.resume(returning: nil) }
        for continuation in streams { continuation.finish() }
    }
}

/// Why a kiosk-socket call failed, in words for the person at the terminal.
public struct KioskClientError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
