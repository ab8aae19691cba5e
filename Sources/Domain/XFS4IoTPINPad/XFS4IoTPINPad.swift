public import Activation
import BankGateway
import Bytes
import KioskProtocol
public import Logging
import Synchronization
import XFS4IoT
public import XFS4IoTClient

/// The kiosk's encrypting PIN pad, reached as an XFS4IoT PIN pad service (`xfs4iot.md`). The clear PIN
/// never leaves the EPP: kioskd sees one count per key event (never a digit, even when a device sends one)
/// and the encrypted PIN block.
///
/// ``run()`` keeps the connection up, reads `Common.Capabilities` (to pick each command's version) and
/// `Common.Status` on every connection and follows `Common.StatusChangedEvent`; after a reconnection it
/// imports the last PIN key again. ``loadPINKey(encrypted:checkValue:)`` imports the bank's PIN key under
/// the EPP's master key and compares check values.
public final class XFS4IoTPINPad: PINPad {
    private struct Entry {
        let number: Int
        let task: Task<Void, Never>
        let continuation: AsyncStream<PINPadEvent>.Continuation
    }

    private struct State {
        var health = EPPHealth(connection: "disconnected")
        var versions: [String: [String]] = [:]
        /// The last PIN key the bank gave (encrypted under the master key), to import again after a reconnection.
        var lastKey: (encrypted: [UInt8], checkValue: [UInt8])?
        var nextNameIndex = 0
        /// The connection (``XFSConnection/generation``) the current PIN key was imported on.
        var importedOn: Int?
        var entry: Entry?
        var entries = 0
        /// The PinEntry request of each running entry, by entry number, and the entries being stopped.
        var requestIds: [Int: Int] = [:]
        var stopping: Set<Int> = []
    }

    public let connection: XFSConnection
    public let settings: EPPSettings
    private let logger: Logger
    private let state = Mutex(State())
    private let healthSubscribers = Mutex<(next: Int, all: [Int: AsyncStream<EPPHealth>.Continuation])>((0, [:]))
    /// Key imports, one at a time (a new key from the bank, or the last one again after a reconnection).
    private struct ImportRequest: Sendable {
        /// A new key from the bank; `nil` for the last one again.
        var key: (encrypted: [UInt8], checkValue: [UInt8])?
        /// Only when the last key was not imported on this connection yet (a reconnection).
        var connection: Int?
        let reply: (@Sendable (Result<String, EPPError>) -> Void)?
    }
    private let imports = AsyncStream.makeStream(of: ImportRequest.self)

    public init(connection: XFSConnection, settings: EPPSettings, logger: Logger = Logger(label: "epp")) {
        self.connection = connection
        self.settings = settings
        self.logger = logger
    }

    /// The EPP's state now.
    public var health: EPPHealth { self.state.withLock { $0.health } }

    /// Every change of ``health`` from now on, starting with the current one.
    public func healthChanges() -> AsyncStream<EPPHealth> {
        let (stream, continuation) = AsyncStream.makeStream(of: EPPHealth.self, bufferingPolicy: .bufferingNewest(1))
        let id = self.healthSubscribers.withLock { subscribers -> Int in
            subscribers.next += 1
            subscribers.all[subscribers.next] = continuation
            return subscribers.next
        }
        continuation.yield(self.health)
        continuation.onTermination = { [weak self] _ in _ = self?.healthSubscribers.withLock { $0.all.removeValue(forKey: id) } }
        return stream
    }

    // MARK: Running

    /// Connects and keeps the EPP's state current until cancelled.
    public func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.connection.run() }
            group.addTask {
                for await request in self.imports.stream {
                    if let key = request.key { self.state.withLock { $0.lastKey = key } }
                    if let connection = request.connection, self.state.withLock({ $0.importedOn == connection || $0.lastKey == nil }) { continue }
                    let result: Result<String, EPPError>
                    do throws(EPPError) { result = .success(try await self.importLastKey()) } catch { result = .failure(error) }
                    request.reply?(result)
                }
            }
            group.addTask {
                for await message in self.connection.unsolicited() where message.header.name == "Common.StatusChangedEvent" {
                    let change = PINPadMessages.status(message.payload)
                    self.update { health in
                        let merged = PINPadMessages.Status(device: health.device, encryptionState: health.encryptionState).merged(with: change)
                        health.device = merged.device
                        health.encryptionState = merged.encryptionState
                    }
                }
            }
            group.addTask {
                for await state in self.connection.states() {
                    switch state {
                    case .connecting:
                        self.update { $0.connection = "connecting" }
                    case .disconnected(let why):
                        self.update { health in
                            health.connection = "disconnected"
                            health.device = nil
                            // A new connection may reach a restarted or replaced EPP: the key goes in again.
                            health.pinKey = nil
                            health.problem = "the EPP service at \(self.connection.endpoint) is unreachable: \(why)"
                        }
                    case .connected:
                        await self.prepare()
                    }
                }
                // The connection stopped for good: no more imports.
                self.imports.continuation.finish()
            }
        }
        let subscribers = self.healthSubscribers.withLock { subscribers in
            defer { subscribers.all.removeAll() }
            return Array(subscribers.all.values)
        }
        for subscriber in subscribers { subscriber.finish() }
    }

    /// After each connection: capabilities, status, and the PIN key again if the bank gave one.
    private func prepare() async {
        do {
            let capabilities = try await self.command(.capabilities, payload: nil)
            let versions = PINPadMessages.commandVersions(inCapabilities: capabilities.payload)
            self.state.withLock { $0.versions = versions }
            let status = PINPadMessages.status(try await self.command(.status, payload: nil).payload)
            self.update { health in
                health.connection = "connected"
                health.device = status.device
                health.encryptionState = status.encryptionState
                health.problem = nil
            }
            self.logger.info("EPP ready for commands", metadata: ["device": "\(status.device ?? "?")", "encryptionState": "\(status.encryptionState ?? "?")"])
            // The bank's last PIN key again, unless it already went in on this connection.
            self.imports.continuation.yield(ImportRequest(key: nil, connection: self.connection.generation, reply: nil))
        } catch {
            self.update { health in
                health.connection = "connected"
                health.problem = "the EPP did not answer Capabilities/Status: \(error)"
            }
        }
    }

    private func update(_ change: (inout EPPHealth) -> Void) {
        let (changed, health) = self.state.withLock { state -> (Bool, EPPHealth) in
            let before = state.health
            change(&state.health)
            return (before != state.health, state.health)
        }
        guard changed else { return }
        let subscribers = self.healthSubscribers.withLock { Array($0.all.values) }
        for subscriber in subscribers { subscriber.yield(health) }
    }

    // MARK: Key loading

    /// Imports the bank's PIN key, encrypted under the EPP's master key, and checks it against the host's
    /// check value (the common prefix: EPPs return 3 bytes, UnionPay sends 4). On any failure the EPP has no
    /// usable PIN key and ``health`` says why.
    /// - Returns: the key's name in the EPP.
    @discardableResult
    public func loadPINKey(encrypted: [UInt8], checkValue: [UInt8]) async throws(EPPError) -> String {
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<String, EPPError>, Never>) in
            let request = ImportRequest(key: (encrypted, checkValue), connection: nil, reply: { continuation.resume(returning: $0) })
            if case .terminated = self.imports.continuation.yield(request) {
                continuation.resume(returning: .failure(EPPError(.offline, detail: "the EPP connection is stopped")))
            }
        }
        return try result.get()
    }

    private func importLastKey() async throws(EPPError) -> String {
        let (key, name) = self.state.withLock { state -> ((encrypted: [UInt8], checkValue: [UInt8])?, String) in
            let names = self.settings.pinKeyNames.isEmpty ? ["PIK01"] : self.settings.pinKeyNames
            let name = self.settings.rotation == .alternate ? names[state.nextNameIndex % names.count] : names[0]
            return (state.lastKey, name)
        }
        guard let key else { throw EPPError(.noPINKey, detail: "the bank has not given a PIN key yet") }
        let generation = self.connection.generation
        do throws(EPPError) {
            let payload = PINPadMessages.importPINKey(name: name, encrypted: key.encrypted, decryptKey: self.settings.masterKeyName, algorithm: self.settings.keyAlgorithm)
            var completion = try await self.command(.importKey, payload: payload)
            if completion.completionCode == .commandErrorCode && completion.errorCode == "duplicateKey" {
                // The EPP will not overwrite the name: delete the old key, then import again.
                let deleted = try await self.command(.deleteKey, payload: PINPadMessages.deleteKey(name: name))
                guard deleted.completionCode == .success || deleted.errorCode == "keyNotFound" else {
                    throw EPPError(completion: deleted, command: "KeyManagement.DeleteKey \(name)")
                }
                completion = try await self.command(.importKey, payload: payload)
            }
            guard completion.completionCode == .success else { throw EPPError(completion: completion, command: "KeyManagement.ImportKey \(name)") }
            if let eppCheck = PINPadMessages.verificationData(completion.payload) {
                let common = min(eppCheck.count, key.checkValue.count)
                guard common >= 2, eppCheck.prefix(common) == key.checkValue.prefix(common) else {
                    throw EPPError(
                        .checkValueMismatch,
                        detail: "\(name): the EPP's check value \(Hex.encode(eppCheck)) is not the bank's \(Hex.encode(key.checkValue)) (wrong master key in the EPP?)")
                }
            } else {
                self.logger.warning("the EPP returned no check value for the imported PIN key; it cannot be verified here", metadata: ["key": "\(name)"])
            }
            self.state.withLock { state in
                state.nextNameIndex += 1
                state.importedOn = generation
            }
            self.update { health in
                health.pinKey = name
                health.problem = nil
            }
            self.logger.info("PIN key imported into the EPP", metadata: ["key": "\(name)"])
            return name
        } catch {
            self.update { health in
                health.pinKey = nil
                health.problem = "PIN key import failed: \(error)"
            }
            self.logger.error("PIN key import failed; activations stop until the next sign-on", metadata: ["problem": "\(error)"])
            throw error
        }
    }

    // MARK: PIN entry

    public func beginEntry(_ request: PINEntryRequest) async -> AsyncStream<PINPadEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: PINPadEvent.self)
        let previous = self.state.withLock { state -> Entry? in
            defer {
                state.entries += 1
                let number = state.entries
                let task = Task { await self.runEntry(request, number: number, continuation: continuation) }
                state.entry = Entry(number: number, task: task, continuation: continuation)
            }
            return state.entry
        }
        if let previous { await self.stop(previous) }
        return stream
    }

    public func cancelEntry() async {
        guard let entry = self.state.withLock({ $0.entry }) else { return }
        await self.stop(entry)
    }

    /// Cancels an entry at the EPP (`Common.Cancel` for its PinEntry) and waits for it to end; an EPP that
    /// does not answer within 2 s is given up on, and the stream still ends with `cancelled`.
    private func stop(_ entry: Entry) async {
        // Marked under the lock the entry sets its request ID under: whichever comes second sends the Cancel.
        let id = self.state.withLock { state -> Int? in
            state.stopping.insert(entry.number)
            return state.requestIds[entry.number]
        }
        if let id { await self.sendCancel(id) }
        let ended = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await entry.task.value
                return true
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(2))
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        if !ended {
            entry.task.cancel()
            await entry.task.value
        }
        entry.continuation.yield(.cancelled)
        entry.continuation.finish()
    }

    private func runEntry(_ request: PINEntryRequest, number: Int, continuation: AsyncStream<PINPadEvent>.Continuation) async {
        let event: PINPadEvent
        do throws(EPPError) {
            event = try await self.enter(request, number: number, continuation: continuation)
        } catch {
            event = error.reason == .cancelled ? .cancelled : .failed(error.description)
        }
        let current = self.state.withLock { state -> Bool in
            state.requestIds.removeValue(forKey: number)
            state.stopping.remove(number)
            guard state.entry?.number == number else { return false }
            state.entry = nil
            return true
        }
        if current || Task.isCancelled {
            continuation.yield(event)
            continuation.finish()
        }
    }

    private func enter(_ request: PINEntryRequest, number: Int, continuation: AsyncStream<PINPadEvent>.Continuation) async throws(EPPError) -> PINPadEvent {
        let health = self.health
        guard let key = health.pinKey else { throw EPPError(.noPINKey, detail: health.notReadyReason ?? "no PIN key") }
        guard let customerData = PINPadMessages.customerData(pan: request.pan) else {
            throw EPPError(.invalidRequest, detail: "the card number cannot bind a format 0 PIN block")
        }
        let format: String
        switch request.format {
        case .iso0TripleDES: format = "iso0"
        case .iso0SM4:
            guard let vendor = self.settings.sm4PinFormat else {
                throw EPPError(.unsupported, detail: "SM4 PIN blocks need the EPP vendor's format name (pinPad.sm4PinFormat)")
            }
            format = vendor
        }
        while true {
            if self.state.withLock({ $0.stopping.contains(number) }) { throw EPPError(.cancelled, detail: "stopped before the entry began") }
            guard let version = self.version(of: .pinEntry) else { throw EPPError(.unsupported, detail: "no common version of Keyboard.PinEntry") }
            let (id, messages): (Int, AsyncThrowingStream<XFSMessage, any Error>)
            do {
                (id, messages) = try await self.connection.request(
                    PINPadMessages.Command.pinEntry.rawValue, version: version, timeout: Int(request.timeout.components.seconds * 1000),
                    payload: PINPadMessages.pinEntry(minimumLength: request.minimumLength, maximumLength: request.maximumLength))
            } catch {
                throw EPPError(.offline, detail: error.description)
            }
            let stopped = self.state.withLock { state -> Bool in
                state.requestIds[number] = id
                return state.stopping.contains(number)
            }
            if stopped { await self.sendCancel(id) }
            var count = 0
            var completion: XFSMessage?
            do {
                for try await message in messages {
                    if message.header.type == .completion {
                        completion = message
                        break
                    }
                    guard message.header.name == "Keyboard.KeyEvent" else { continue }
                    // Only the event's `completion` is read, never its `digit`.
                    switch PINPadMessages.keyEffect(message.payload) {
                    case .added: count = min(count + 1, max(request.maximumLength, 1))
                    case .cleared: count = 0
                    case .removedOne: count = max(0, count - 1)
                    case .terminated: continue
                    }
                    continuation.yield(.digits(count))
                }
            } catch {
                throw EPPError(.offline, detail: "\(error)")
            }
            guard let completion else { throw EPPError(.cancelled, detail: "the entry was stopped") }
            switch completion.completionCode {
            case .success?:
                let result = PINPadMessages.entryResult(completion.payload)
                if result.completion == "cancel" { throw EPPError(.cancelled, detail: "cancel pressed on the EPP") }
                guard result.digits >= request.minimumLength, result.digits <= request.maximumLength else {
                    // Not a PIN (some devices end on enter below the minimum): the dots go back to none and the
                    // customer types again.
                    self.logger.info("EPP ended an entry outside the PIN length; asking again", metadata: ["digits": "\(result.digits)"])
                    continuation.yield(.digits(0))
                    continue
                }
                return try await self.pinBlock(customerData: customerData, key: key, format: format, request: request)
            case .canceled?:
                throw EPPError(.cancelled, detail: "cancelled")
            case .timeOut?:
                return .timedOut
            case .commandErrorCode? where completion.errorCode == "entryTimeout":
                return .timedOut
            default:
                throw EPPError(completion: completion, command: "Keyboard.PinEntry")
            }
        }
    }

    private func pinBlock(customerData: String, key: String, format: String, request: PINEntryRequest) async throws(EPPError) -> PINPadEvent {
        let completion = try await self.command(.getPinBlock, payload: PINPadMessages.getPinBlock(customerData: customerData, key: key, format: format))
        guard completion.completionCode == .success else { throw EPPError(completion: completion, command: "PinPad.GetPinBlock") }
        guard let block = PINPadMessages.pinBlock(completion.payload), [8, 16].contains(block.count) else {
            throw EPPError(.invalidAnswer, detail: "GetPinBlock returned no 8- or 16-byte pinBlock")
        }
        return .completed(EncryptedPINBlock(format: request.format, keyName: key, bytes: block))
    }

    // MARK: Commands

    /// `Common.Cancel` for one request; its own completion is not waited for (the request completes `canceled`).
    private func sendCancel(_ id: Int) async {
        _ = try? await self.connection.request(
            PINPadMessages.Command.cancel.rawValue, version: self.version(of: .cancel) ?? "2.0", timeout: 0, payload: PINPadMessages.cancel(requestIds: [id]))
    }

    private func version(of command: PINPadMessages.Command) -> String? {
        let offered = self.state.withLock { $0.versions[command.rawValue] }
        return PINPadMessages.negotiate(command, offered: offered)
    }

    /// Sends a short command and returns its completion.
    private func command(_ command: PINPadMessages.Command, payload: JSONValue?) async throws(EPPError) -> XFSMessage {
        guard let version = self.version(of: command) else {
            throw EPPError(.unsupported, detail: "the EPP offers no version of \(command.rawValue) this kiosk speaks")
        }
        do {
            let (_, messages) = try await self.connection.request(command.rawValue, version: version, timeout: self.settings.commandTimeoutMilliseconds, payload: payload)
            for try await message in messages where message.header.type == .completion { return message }
        } catch {
            throw EPPError(.offline, detail: "\(command.rawValue): \(error)")
        }
        throw EPPError(.offline, detail: "\(command.rawValue): no completion")
    }
}

/// Why the EPP could not do what was asked, with what the operator needs.
public struct EPPError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Reason: Hashable, Sendable {
        /// No connection, or it dropped.
        case offline
        /// The device said `deviceNotReady`, `hardwareError`, …
        case device
        /// No PIN key (not imported yet, or the import failed).
        case noPINKey
        /// The EPP's key check value is not the bank's.
        case checkValueMismatch
        /// The EPP refused the command with a command error (`keyNotFound`, `noPin`, `keyNotSupported`, …).
        case refused(String)
        /// Neither side supports what is needed (versions, SM4 mapping).
        case unsupported
        case invalidRequest
        case invalidAnswer
        case cancelled
    }

    public let reason: Reason
    public let detail: String

    public init(_ reason: Reason, detail: String) {
        self.reason = reason
        self.detail = detail
    }

    init(completion: XFSMessage, command: String) {
        let code = completion.completionCode ?? .other("none")
        let detail = "\(command) completed \(code)\(completion.errorCode.map { " (\($0))" } ?? "")\(completion.errorDescription.map { ": \($0)" } ?? "")"
        switch code {
        case .commandErrorCode: self.init(.refused(completion.errorCode ?? "unknown"), detail: detail)
        case .canceled: self.init(.cancelled, detail: detail)
        default: self.init(.device, detail: detail)
        }
    }

    public var description: String { "EPP: \(self.detail)" }
}
