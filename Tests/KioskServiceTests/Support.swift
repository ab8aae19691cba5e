import APDU
import Activation
import ActivationSimulators
import BankGateway
import BankSimulator
import Bytes
import Foundation
import Glibc
import Journal
import KioskClient
import KioskProtocol
import KioskService
import Logging
import Synchronization
import TestSupport
import UnixSocket

/// A host with the in-process simulated bank, a fresh journal, the simulated PIN pad, and flows whose
/// device inputs the test sends itself.
final class TestHost: KioskHost {
    let bank: SimulatedBank
    let journal: any ActivationStore
    let executor: ActivationExecutor
    let pad: SimulatedPINPad
    let flows = Mutex<[ActivationFlow]>([])
    let changes: AsyncStream<JSONValue>
    let changesContinuation: AsyncStream<JSONValue>.Continuation

    init(bank fixture: SimulatedBank.Fixture = .init()) throws {
        self.bank = SimulatedBank(fixture: fixture)
        self.journal = try Journal(path: FileManager.default.temporaryDirectory.appendingPathComponent("svc-\(UUID().uuidString).sqlite").path)
        self.executor = ActivationExecutor(journal: self.journal, gateway: try SimulatorGateway(profile: SimulatorGateway.profile(responseMilliseconds: 2000), bank: self.bank))
        self.pad = try SimulatedPINPad(pinKey: Hex.decode(SimulatedBank.Fixture().pinKey))
        (self.changes, self.changesContinuation) = AsyncStream.makeStream(of: JSONValue.self)
    }

    func status() async -> JSONValue { ["device": "online"] }
    func deviceInformation() -> JSONValue { ["model": "test"] }
    func readers() async throws -> JSONValue { [["name": "Mock Reader 00 00", "cardPresent": false]] }
    /// A flow without devices (the test sends their inputs), for the activation service.
    func makeActivation(language: CustomerLanguage) -> ActivationRun? {
        let gateway = self.executor.gateway
        let flow = ActivationFlow(
            executor: self.executor, pinPad: self.pad, verifier: SimulatedIdentityVerifier(),
            configuration: FlowConfiguration(terminalID: gateway.profile.terminalID, pinBlockFormat: gateway.capabilities.pinBlockFormat))
        self.flows.withLock { $0.append(flow) }
        self.languages.withLock { $0.append(language) }
        return ActivationRun(flow: flow, devices: nil)
    }
    let languages = Mutex<[CustomerLanguage]>([])
    func statusChanges() -> any AsyncSequence<JSONValue, Never> & Sendable { self.changes }
    var lastFlow: ActivationFlow? { self.flows.withLock { $0.last } }
}

/// A server on a fresh socket path, running until `stop`.
struct Served {
    let server: KioskSocketServer
    let host: TestHost
    let task: Task<Void, any Error>
    let activations: ActivationService
    let activationsTask: Task<Void, any Error>
    var path: String { self.server.path }

    static func start(limits: ServerLimits = ServerLimits()) async throws -> Served {
        let host = try TestHost()
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("kiosk-\(UUID().uuidString.prefix(8)).sock").path
        let activations = ActivationService(logger: Logger(label: "test")) { host.makeActivation(language: $0) }
        let activationsTask = Task { try await activations.run() }
        let server = KioskSocketServer(host: host, activations: activations, path: path, limits: limits)
        let ready = Mutex(false)
        let task = Task { try await server.run(onReady: { ready.withLock { $0 = true } }) }
        while !ready.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(5)) }
        return Served(server: server, host: host, task: task, activations: activations, activationsTask: activationsTask)
    }

    func stop() async {
        await self.server.stop()
        _ = await self.task.result
        // Outside a service group nothing tells the service to shut down: its run ends when cancelled.
        self.activationsTask.cancel()
        _ = await self.activationsTask.result
        unlink(self.path)
    }
}

/// The tests' kiosk-socket client is the product's (KioskClient), with the tests' spelling of two calls.
typealias TestClient = KioskSocketClient

extension KioskSocketClient {
    /// Sends a command with the given request ID.
    func send(_ name: String, _ requestId: Int, payload: JSONValue = .object([:]), timeout: Int? = nil) {
        self.send(name, payload: payload, timeout: timeout, requestId: requestId)
    }

    /// Closes our side (the reader thread then ends).
    func disconnect() { self.close() }
}
