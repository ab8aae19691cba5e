import CardCore
import Foundation
import Glibc
import Synchronization

/// Serves a ``VirtualCard`` to the real pcscd through the vpcd driver (Debian `vsmartcard-vpcd`), so tests
/// and people cross the real PC/SC stack.
///
/// The card connects to vpcd over TCP (127.0.0.1:35963 for slot 0, 35964 for slot 1). Every message is a
/// 2-byte big-endian length and its bytes. A 1-byte message is a control code: `00` power off, `01` power on,
/// `02` reset, `04` get ATR (answered with the ATR); a longer one is a command APDU, answered with the
/// response APDU. Connected = card inserted; closing the socket = card removed. The socket sets
/// `TCP_NODELAY`, and `TCP_QUICKACK` before every read, or each APDU would wait ~40 ms for a delayed ACK.
///
/// While inserted, the card reconnects by itself when pcscd restarts. The protocol runs on its own thread.
public final class VPCDCard: Sendable {
    /// Fault injection at the vpcd level.
    public struct Faults: Sendable, Hashable {
        /// Close the connection (pull the card out) when this command APDU (1-based) arrives,
        /// before answering it.
        public var removeOnCommand: Int? = nil
        public init() {}
    }

    /// One exchange, for a person watching (`kioskctl vcard`).
    public typealias ExchangeObserver = @Sendable (_ command: [UInt8], _ response: [UInt8]?) -> Void

    private struct State {
        var inserted = false
        var socket: Int32 = -1
        var connected = false
        var thread: Int = 0  // generation of the serving thread
        var commands = 0
        var connections = 0
        var unaccepted = 0
        var faults = Faults()
    }

    public let card: any VirtualCard
    public let host: String
    public let port: UInt16
    private let observer: ExchangeObserver?
    private let state = Mutex(State())
    private let changed = NSCondition()

    /// - Parameters:
    ///   - card: the card to serve.
    ///   - host: where vpcd listens.
    ///   - port: vpcd's port for the slot (35963 + slot for the first reader.conf entry).
    ///   - observer: called after every APDU exchange.
    public init(card: any VirtualCard, host: String = "127.0.0.1", port: UInt16 = 35963, observer: ExchangeObserver? = nil) {
        self.card = card
        self.host = host
        self.port = port
        self.observer = observer
    }

    deinit { self.remove() }

    /// Faults in force; change them at any time.
    public var faults: Faults {
        get { self.state.withLock { $0.faults } }
        set { self.state.withLock { $0.faults = newValue } }
    }

    /// Command APDUs answered or refused so far.
    public var commandCount: Int { self.state.withLock { $0.commands } }
    /// Connections made to vpcd so far (each pcscd start, or re-insertion, makes one).
    public var connectionCount: Int { self.state.withLock { $0.connections } }
    /// Connections given up because vpcd said nothing within ``acceptTimeout`` (never accepted).
    public var unacceptedCount: Int { self.state.withLock { $0.unaccepted } }
    /// True while a connection to vpcd is up.
    public var isConnected: Bool { self.state.withLock { $0.connected } }

    /// Inserts the card: connects to vpcd (retrying until it listens) and serves it until ``remove()``.
    public func insert() {
        let generation: Int? = self.state.withLock { state in
            guard !state.inserted else { return nil }
            state.inserted = true
            state.thread += 1
            return state.thread
        }
        guard let generation else { return }
        let thread = Thread { [self] in
            ThreadName.set("vpcd-card")
            self.serve(generation: generation)
        }
        thread.stackSize = 1 << 20
        thread.start()
    }

    /// Removes the card: closes the connection and stops reconnecting. Returns at once.
    public func remove() {
        self.state.withLock { state in
            state.inserted = false
            if state.socket >= 0 { _ = Glibc.shutdown(state.socket, Int32(SHUT_RDWR)) }
        }
        self.signal()
    }

    /// Waits until the card is connected to vpcd (or `timeout` passes). Returns whether it is.
    @discardableResult
    public func waitUntilConnected(timeout: Duration = .seconds(5)) -> Bool {
        self.waitFor(timeout: timeout) { $0.connected }
    }

    /// Waits until the serving connection is down (or `timeout` passes). Returns whether it is.
    @discardableResult
    public func waitUntilDisconnected(timeout: Duration = .seconds(5)) -> Bool {
        self.waitFor(timeout: timeout) { !$0.connected }
    }

    private func waitFor(timeout: Duration, _ predicate: (State) -> Bool) -> Bool {
        let deadline = Date(timeIntervalSinceNow: timeout.inSeconds)
        self.changed.lock()
        defer { self.changed.unlock() }
        while !self.state.withLock({ predicate($0) }) {
            if !self.changed.wait(until: deadline) { return self.state.withLock { predicate($0) } }
        }
        return true
    }

    private func signal() {
        self.changed.lock()
        self.changed.broadcast()
        self.changed.unlock()
    }

    private func stillInserted(_ generation: Int) -> Bool {
        self.state.withLock { $0.inserted && $0.thread == generation }
    }

    private func serve(generation: Int) {
        var backoff = 0.02
        while self.stillInserted(generation) {
            guard let socket = Self.connect(host: self.host, port: self.port, timeout: Self.connectTimeout) else {
                Thread.sleep(forTimeInterval: backoff)
                backoff = min(backoff * 2, 0.25)
                continue
            }
            let accepted = self.state.withLock { state -> Bool in
                guard state.inserted && state.thread == generation else { return false }
                state.socket = socket
                state.connected = true
                state.connections += 1
                return true
            }
            guard accepted else {
                _ = Glibc.close(socket)
                break
            }
            self.signal()
            backoff = 0.02
            self.card.reset()
            self.exchangeLoop(socket: socket)
            self.state.withLock { state in
                state.socket = -1
                state.connected = false
            }
            _ = Glibc.close(socket)
            self.signal()
        }
    }

    /// Answers vpcd until the connection ends.
    private func exchangeLoop(socket: Int32) {
        // vpcd speaks first, and pcscd asks for presence (GET ATR) every 400 ms once vpcd has accepted us.
        // Silence after connecting means vpcd never accepted this connection: it waits behind another in
        // vpcd's one-place queue, or the handshake's last ACK was dropped on a full queue and only our side
        // thinks it is connected. Hang up and connect again instead of waiting for nobody.
        guard Self.waitReadable(socket, timeout: Self.acceptTimeout) else {
            self.state.withLock { $0.unaccepted += 1 }
            return
        }
        while true {
            guard let header = Self.read(socket, count: 2) else { return }
            let length = Int(header[0]) << 8 | Int(header[1])
            guard length > 0, let message = Self.read(socket, count: length) else { return }
            if length == 1 {
                switch message[0] {
                case 0x00: continue  // power off
                case 0x01, 0x02: self.card.reset()  // power on, reset: no answer
                case 0x04: guard Self.write(socket, self.card.atr) else { return }
                default: continue
                }
                continue
            }
            let remove = self.state.withLock { state -> Bool in
                state.commands += 1
                return state.faults.removeOnCommand == state.commands
            }
            if remove {
                self.observer?(message, nil)
                self.state.withLock { $0.inserted = false }
                return
            }
            let response = self.card.process(message)
            self.observer?(message, response)
            guard let response else { continue }  // mute: vpcd waits; removal ends the wait
            guard Self.write(socket, response) else { return }
        }
    }

    // MARK: Socket helpers (POSIX, blocking, on the card's own thread)

    /// How long one connection attempt may take. vpcd listens with a backlog of 0 (`listen(sock, 0)` in
    /// vsmartcard's vpcd.c): while one connection waits to be accepted, Linux drops the next SYN, and a
    /// blocking `connect()` then waits for the kernel's retransmissions (1 s, then 3 s, then 7 s after the
    /// first). vpcd accepts at its next presence poll; a fresh attempt every quarter second meets it there.
    static let connectTimeout = Duration.milliseconds(250)
    /// How long a new connection may wait for vpcd's first message (pcscd polls every 400 ms).
    static let acceptTimeout = Duration.milliseconds(1500)

    /// True when `fd` has something to read (or was closed) within `timeout`.
    private static func waitReadable(_ fd: Int32, timeout: Duration) -> Bool {
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let milliseconds = Int32(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        while true {
            let ready = Glibc.poll(&descriptor, 1, milliseconds)
            if ready < 0 && errno == EINTR { continue }
            return ready > 0
        }
    }

    private static func connect(host: String, port: UInt16, timeout: Duration) -> Int32? {
        let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { return nil }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
            _ = Glibc.close(fd)
            return nil
        }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if rc != 0 {
            guard errno == EINPROGRESS else {
                _ = Glibc.close(fd)
                return nil
            }
            var descriptor = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            var failure: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            guard Glibc.poll(&descriptor, 1, Int32(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)) == 1,
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &failure, &length) == 0, failure == 0
            else {
                _ = Glibc.close(fd)
                return nil
            }
        }
        // Blocking again: the exchange loop reads and writes on the card's own thread.
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        return fd
    }

    private static func read(_ fd: Int32, count: Int) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            var one: Int32 = 1
            _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_QUICKACK, &one, socklen_t(MemoryLayout<Int32>.size))
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + got, count - got) }
            if n > 0 {
                got += n
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                return nil
            }
        }
        return buffer
    }

    private static func write(_ fd: Int32, _ payload: [UInt8]) -> Bool {
        guard payload.count <= 0xFFFF else { return false }
        let frame = [UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)] + payload
        var sent = 0
        while sent < frame.count {
            let n = frame.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, frame.count - sent, Int32(MSG_NOSIGNAL)) }
            if n > 0 {
                sent += n
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                return false
            }
        }
        return true
    }
}
