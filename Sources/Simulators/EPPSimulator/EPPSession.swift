import KioskProtocol
import Synchronization
import XFS4IoT

/// One client connection to the simulated EPP: acknowledges each command, runs it on the device, and sends
/// its events and its one completion. PIN entries run until a key, `Common.Cancel`, the command's timeout or
/// the `entryTimeout` knob ends them.
final class EPPSession: Sendable {
    let device: EPPDevice
    let connection: Int
    private let post: @Sendable (XFSMessage) -> Void
    private let close: @Sendable () -> Void
    /// PIN entries in progress on this connection: request ID → the device's entry generation.
    private let entries = Mutex<[Int: Int]>([:])

    init(device: EPPDevice, connection: Int, post: @escaping @Sendable (XFSMessage) -> Void, close: @escaping @Sendable () -> Void) {
        self.device = device
        self.connection = connection
        self.post = post
        self.close = close
    }

    /// The publisher endpoint: `ServicePublisher.GetServices` only.
    func publish(_ message: XFSMessage, serviceURI: String) {
        guard message.header.type == .command, let id = message.header.requestId else { return }
        self.acknowledge(message)
        guard message.header.name == "ServicePublisher.GetServices" else {
            self.complete(message.header.name, id, version: message.header.version, .fail("unsupportedCommand", "the publisher serves GetServices only"))
            return
        }
        self.complete(
            message.header.name, id, version: message.header.version,
            EPPDevice.Outcome(payload: ["vendorName": "CardKiosk EPP simulator (TEST)", "services": [["serviceURI": .string(serviceURI)]]]))
    }

    func handle(_ message: XFSMessage, in group: inout ThrowingTaskGroup<Void, any Error>) {
        guard message.header.type == .command, let id = message.header.requestId else { return }
        let name = message.header.name
        let version = message.header.version ?? ""
        self.acknowledge(message)
        guard let versions = EPPDevice.versions[name], versions.contains(version) else {
            self.complete(name, id, version: version, .fail("unsupportedCommand", "\(name) \(version) is not supported"))
            return
        }
        self.device.count(name)
        switch name {
        case "Common.Status": self.complete(name, id, version: version, self.device.status())
        case "Common.Capabilities": self.complete(name, id, version: version, self.device.capabilities())
        case "KeyManagement.ImportKey": self.complete(name, id, version: version, self.device.importKey(message.payload))
        case "KeyManagement.DeleteKey": self.complete(name, id, version: version, self.device.deleteKey(message.payload))
        case "PinPad.GetPinBlock": self.complete(name, id, version: version, self.device.getPinBlock(message.payload))
        case "Common.Cancel": self.cancel(message, id: id)
        case "Keyboard.PinEntry": self.beginEntry(message, id: id, in: &group)
        default: self.complete(name, id, version: version, .fail("unsupportedCommand", "\(name) is not supported"))
        }
    }

    private func beginEntry(_ message: XFSMessage, id: Int, in group: inout ThrowingTaskGroup<Void, any Error>) {
        let name = message.header.name
        let version = message.header.version ?? "2.0"
        let payload = message.payload
        let (immediate, generation) = self.device.beginEntry(payload) { _ in
            EPPDevice.Entry(
                connection: self.connection, requestId: id, version: version,
                minimumLength: payload?["minLen"]?.int ?? 0, maximumLength: payload?["maxLen"]?.int ?? 0, autoEnd: payload?["autoEnd"]?.bool ?? false,
                emit: { message in
                    if message.header.type == .completion { _ = self.entries.withLock { $0.removeValue(forKey: id) } }
                    self.post(message)
                },
                drop: self.close)
        }
        if let immediate {
            self.complete(name, id, version: version, immediate)
            return
        }
        self.entries.withLock { $0[id] = generation }
        self.post(XFSMessage(header: XFSHeader(name: "Keyboard.EnterDataEvent", requestId: id, type: .event, version: "2.0")))
        let timeout = message.header.timeout ?? 0
        if timeout > 0 {
            group.addTask {
                try? await Task.sleep(for: .milliseconds(timeout))
                guard !Task.isCancelled else { return }
                self.end(id, generation: generation, name: name, version: version, .fail("timeOut", "no completion within \(timeout) ms"))
            }
        }
        let entryTimeout = self.device.entryTimeoutMilliseconds()
        if entryTimeout > 0 {
            group.addTask {
                try? await Task.sleep(for: .milliseconds(entryTimeout))
                guard !Task.isCancelled else { return }
                self.end(id, generation: generation, name: name, version: version, .error("entryTimeout", "the EPP's own entry timeout"))
            }
        }
    }

    private func end(_ id: Int, generation: Int, name: String, version: String, _ outcome: EPPDevice.Outcome) {
        guard self.device.endEntry(generation: generation, requestId: id) else { return }
        _ = self.entries.withLock { $0.removeValue(forKey: id) }
        self.complete(name, id, version: version, outcome)
    }

    private func cancel(_ message: XFSMessage, id: Int) {
        let asked = message.payload?["requestIds"]?.array?.compactMap(\.int)
        let matching = self.entries.withLock { entries in entries.filter { asked?.contains($0.key) ?? true } }
        guard !matching.isEmpty else {
            self.complete(message.header.name, id, version: message.header.version, .error("noMatchingRequestIDs", "nothing to cancel"))
            return
        }
        // As KAL's service does: the Cancel completes first, then the cancelled command completes `canceled`.
        self.complete(message.header.name, id, version: message.header.version, EPPDevice.Outcome())
        for (request, generation) in matching.sorted(by: { $0.key < $1.key }) {
            self.end(request, generation: generation, name: "Keyboard.PinEntry", version: "2.0", .fail("canceled", "cancelled by the client"))
        }
    }

    private func acknowledge(_ message: XFSMessage) {
        self.post(XFSMessage(header: XFSHeader(name: message.header.name, requestId: message.header.requestId, type: .acknowledge, version: message.header.version)))
    }

    private func complete(_ name: String, _ id: Int, version: String?, _ outcome: EPPDevice.Outcome) {
        self.post(
            XFSMessage(
                header: XFSHeader(
                    name: name, requestId: id, type: .completion, version: version, completionCode: outcome.code, errorDescription: outcome.errorDescription),
                payload: outcome.payload))
    }
}
