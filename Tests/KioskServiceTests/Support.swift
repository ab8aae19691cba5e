import APDU
import Activation
import BankGateway
import BankSimulator
import Foundation
import Glibc
import Journal
import KioskProtocol
import KioskService
import Synchronization
import TestSupport
import UnixSocket

/// A host with the in-process simulated bank, a fresh journal, the simulated PIN pad, and flows whose
/// device inputs the test sends itself.
final class TestHost: KioskHost {
    let bank = SimulatedBank()
    let journal: Journal
    let executor: ActivationExecutor
    let pad: SimulatedPINPad
    let flows = Mutex<[ActivationFlow]>([])
    let changes: AsyncStream<JSONValue>
    let changesContinuation: AsyncStream<JSONValue>.Continuation

    init() throws {
        self.journal = try Journal(path: FileManager.default.temporaryDirectory.appendingPathComponent("svc-\(UUID().uuidString).sqlite").path)
        self.executor = ActivationExecutor(journal: self.journal, gateway: try SimulatorGateway(profile: SimulatorGateway.profile(responseMilliseconds: 2000), bank: self.bank))
        self.pad = try SimulatedPINPad(pinKey: Hex.decode(SimulatedBank.Fixture().pinKey))
        (self.changes, self.changesContinuation) = AsyncStream.makeStream(of: JSONValue.self)
    }

    func status() async -> JSONValue { ["device": "online"] }
    func deviceInformation() -> JSONValue { ["model": "test"] }
    func readers() async throws -> JSONValue { [["name": "Mock Reader 00 00", "cardPresent": false]] }
    func startActivation(language: String) async -> ActivationFlow? {
        let flow = ActivationFlow(executor: self.executor, pinPad: self.pad)
        await flow.start()
        self.flows.withLock { $0.append(flow) }
        return flow
    }
    func statusChanges() -> AsyncStream<JSONValue> { self.changes }
    var lastFlow: ActivationFlow? { self.flows.withLock { $0.last } }
}

/// A server on a fresh socket path, running until `stop`.
struct Served {
    let server: KioskSocketServer
    let host: TestHost
    let task: Task<Void, any Error>
    var path: String { self.server.path }

    static func start(limits: ServerLimits = ServerLimits()) async throws -> Served {
        let host = try TestHost()
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("kiosk-\(UUID().uuidString.prefix(8)).sock").path
        let server = KioskSocketServer(host: host, path: path, limits: limits)
        let ready = Mutex(false)
        let task = Task { try await server.run(onReady: { ready.withLock { $0 = true } }) }
        while !ready.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(5)) }
        return Served(server: server, host: host, task: task)
    }

    func stop() async {
        await self.server.stop()
        _ = await self.task.result
        unlink(self.path)
    }
}

/// A blocking Unix-socket client: lines read on their own thread, waited for with a timeout.
final class TestClient: @unchecked Sendable {
    let fd: Int32
    private let lines = Mutex<[KioskMessage]>([])
    let closed = Mutex(false)

    init(path: String) throws {
        self.fd = try UnixSocket.connect(path)
        let fd = self.fd
        Thread.detachNewThread { [self] in
            UnixSocket.readLines(fd) { line in
                if let message = try? KioskProtocol.decode(line) { self.lines.withLock { $0.append(message) } }
            }
            // The reader owns the descriptor: it closes it once the connection ended (disconnect() or the
            // daemon's close), under the lock disconnect() takes, so a reused descriptor number is never shut.
            self.closed.withLock { closed in
                closed = true
                close(fd)
            }
        }
    }

    /// Closes our side (the reader thread then ends).
    func disconnect() {
        self.closed.withLock { closed in
            if !closed { shutdown(self.fd, Int32(SHUT_RDWR)) }
        }
    }

    func sendRaw(_ bytes: [UInt8]) {
        UnixSocket.writeAll(self.fd, bytes)
    }

    func send(_ name: String, _ requestId: Int, payload: JSONValue = .object([:]), timeout: Int? = nil) {
        self.sendRaw(KioskProtocol.encode(KioskMessage(header: MessageHeader(name: name, requestId: requestId, type: .command, timeout: timeout), payload: payload)))
    }

    var messages: [KioskMessage] { self.lines.withLock { $0 } }

    func messages(for requestId: Int) -> [KioskMessage] { self.messages.filter { $0.header.requestId == requestId } }

    /// Waits up to `timeout` for a message matching `predicate`.
    func wait(timeout: Duration = .seconds(10), _ predicate: @escaping (KioskMessage) -> Bool) async -> KioskMessage? {
        await poll(timeout: timeout) { self.messages.first(where: predicate) }
    }

    func completion(_ requestId: Int, timeout: Duration = .seconds(10)) async -> KioskMessage? {
        await self.wait(timeout: timeout) { $0.header.requestId == requestId && $0.header.type == .completion }
    }

    func waitClosed(timeout: Duration = .seconds(5)) async -> Bool {
        await waitUntil(timeout: timeout) { self.closed.withLock { $0 } }
    }
}
