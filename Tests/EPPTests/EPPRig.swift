import Activation
import BankGateway
import Bytes
import EPPSimulator
import KioskCrypto
import Logging
import Synchronization
import TestSupport
import Testing
import XFS4IoTClient
import XFS4IoTPINPad

/// A simulated EPP service on a port of its own and an `XFS4IoTPINPad` connected to it over a real WebSocket.
final class EPPRig: Sendable {
    /// The TEST master key loaded in the simulated EPP "at installation".
    static let masterKey = try! Hex.decode("0123456789ABCDEFFEDCBA9876543210")
    static let pan = "6217000010002345678"

    let device: EPPDevice
    private let server = Mutex<(EPPServer, Task<Void, Never>)?>(nil)
    let pad: XFS4IoTPINPad
    private let padTask: Task<Void, Never>
    let port: Int
    let logs: LogCapture

    /// Starts the service (unless `serviceRunning` is false: the pad then finds nothing on `port`) and the pad.
    init(settings: EPPSettings = EPPSettings(), device: EPPDevice = EPPDevice(masterKey: EPPRig.masterKey), serviceRunning: Bool = true) async throws {
        self.device = device
        let server = try await Self.bindOwnPort(device)
        self.port = server.port
        if serviceRunning {
            self.server.withLock { $0 = (server, Task { await server.run() }) }
        } else {
            // Bound, to reserve a free port, then closed: nothing listens there until startService().
            let task = Task { await server.run() }
            task.cancel()
            await task.value
        }
        let logs = LogCapture()
        self.logs = logs
        var logger = Logger(label: "epp-test") { _ in logs }
        logger.logLevel = .trace
        let connection = XFSConnection(
            endpoint: XFSEndpoint(host: "127.0.0.1", port: self.port, path: "/xfs4iot/v1.0/PinPad1/"), logger: logger,
            minimumBackoff: .milliseconds(50), maximumBackoff: .milliseconds(200))
        let pad = XFS4IoTPINPad(connection: connection, settings: settings, logger: logger)
        self.pad = pad
        self.padTask = Task { await pad.run() }
    }

    /// Ports below the system's ephemeral range (32768–60999 here), handed out once per process: a rig whose
    /// service is down keeps its port, because no other test's port-0 server can be given it meanwhile.
    private static let nextPort = Atomic<Int>(24_000)

    /// A port of that range that nothing binds (a publisher port with nothing behind it).
    static func unusedPort() -> Int { Self.nextPort.add(1, ordering: .relaxed).newValue }

    static func bindOwnPort(_ device: EPPDevice) async throws -> EPPServer {
        var lastError: (any Error)?
        for _ in 0..<100 {
            let port = Self.nextPort.add(1, ordering: .relaxed).newValue
            do { return try await EPPServer(device: device, port: port) } catch { lastError = error }
        }
        throw lastError!
    }

    /// Starts the service on the rig's port (again).
    func startService() async throws {
        let server = try await EPPServer(device: self.device, port: self.port)
        self.server.withLock { $0 = (server, Task { await server.run() }) }
    }

    /// Stops the service: its connections close and the port is free.
    func stopService() async {
        guard let (_, task) = self.server.withLock({ state in defer { state = nil }; return state }) else { return }
        task.cancel()
        await task.value
    }

    func stop() async {
        self.padTask.cancel()
        await self.padTask.value
        await self.stopService()
    }

    /// Runs `body` with a started rig and always stops it.
    static func with(
        settings: EPPSettings = EPPSettings(), device: EPPDevice = EPPDevice(masterKey: EPPRig.masterKey), _ body: (EPPRig) async throws -> Void
    ) async throws {
        let rig = try await EPPRig(settings: settings, device: device)
        do {
            try await body(rig)
        } catch {
            await rig.stop()
            throw error
        }
        await rig.stop()
    }

    /// A PIN key as the bank sends it: encrypted under the master key, with its 4-byte check value.
    static func bankKey(_ hex: String) throws -> (clear: [UInt8], encrypted: [UInt8], check: [UInt8]) {
        let key = try Hex.decode(hex)
        let encrypted = try BlockCipher(.tripleDES, key: Self.masterKey).encrypt(key)
        let check = Array(try BlockCipher(.tripleDES, key: key).encrypt([UInt8](repeating: 0, count: 8)).prefix(4))
        return (key, encrypted, check)
    }

    func waitConnected(timeout: Duration = .seconds(10)) async -> Bool {
        await waitUntil(timeout: timeout) { self.pad.health.connection == "connected" && self.pad.health.device != nil }
    }

    /// Imports `hex` as the PIN key once the pad is connected.
    @discardableResult
    func loadKey(_ hex: String = "89ABCDEF0123456776543210FEDCBA98") async throws -> [UInt8] {
        #expect(await self.waitConnected())
        let key = try Self.bankKey(hex)
        try await self.pad.loadPINKey(encrypted: key.encrypted, checkValue: key.check)
        return key.clear
    }

    /// One entry: `keys` are pressed once the EPP waits for them; returns every event the pad reported.
    func entry(pressing keys: [EPPDevice.Key], minimum: Int = 6, maximum: Int = 6, timeout: Duration = .seconds(30), pan: String = EPPRig.pan) async
        -> [PINPadEvent]
    {
        let events = await self.pad.beginEntry(PINEntryRequest(minimumLength: minimum, maximumLength: maximum, timeout: timeout, pan: pan))
        let presser = Task {
            // Stopped early when the entry ends without ever waiting for keys.
            guard await waitUntil(timeout: .seconds(10), { Task.isCancelled || self.device.isEntering }), !Task.isCancelled else { return }
            for key in keys { await self.device.press(key) }
        }
        var seen: [PINPadEvent] = []
        for await event in events { seen.append(event) }
        presser.cancel()
        await presser.value
        return seen
    }

    static func digits(_ pin: String) -> [EPPDevice.Key] { pin.compactMap(\.wholeNumberValue).map { .digit($0) } }

    /// The PIN inside a block, opened with the clear PIN key (what the bank does).
    static func pin(in event: PINPadEvent?, key: [UInt8], pan: String = EPPRig.pan) throws -> String? {
        guard case .completed(let block)? = event else { return nil }
        let clear = try BlockCipher(.tripleDES, key: key).decrypt(block.bytes)
        return try ISO0PINBlock.pin(fromClearBlock: clear, pan: pan)
    }
}

/// Every log line and its metadata, as text.
final class LogCapture: LogHandler, @unchecked Sendable {
    private let lines = Mutex<[String]>([])
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = self.metadata.merging(event.metadata ?? [:]) { $1 }
        self.lines.withLock { $0.append("\(event.level) \(event.message) \(merged)") }
    }

    var text: String { self.lines.withLock { $0.joined(separator: "\n") } }
}
