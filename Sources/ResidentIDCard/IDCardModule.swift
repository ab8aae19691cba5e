import CardCore
import Synchronization

/// Timeouts for the module's answers. Reads take longest: the module authenticates the card and reads
/// 1,295 bytes (2,321 with fingerprints), ~0.1 s on the wire at 115200 baud plus the card's own time.
public struct IDModuleTimeouts: Hashable, Sendable {
    public var command: Duration
    public var read: Duration
    public init(command: Duration = .seconds(1), read: Duration = .seconds(3)) {
        self.command = command
        self.read = read
    }
}

/// The ID-card security module on a serial line. Every exchange runs on the module's own thread
/// (never the cooperative pool); a lost device is reopened on the next command.
public final class IDCardModule: Sendable {
    public let device: String
    public let baudRate: Int
    public let timeouts: IDModuleTimeouts
    private let worker: BlockingWorker
    /// Touched only on `worker`'s thread.
    private let port: SerialPort

    public init(device: String, baudRate: Int = 115_200, timeouts: IDModuleTimeouts = IDModuleTimeouts()) {
        self.device = device
        self.baudRate = baudRate
        self.timeouts = timeouts
        self.worker = BlockingWorker(name: "id-module")
        self.port = SerialPort(path: device, baudRate: baudRate)
    }

    deinit { self.worker.stop() }

    /// Closes the device and stops the module's thread.
    public func close() async {
        _ = try? await self.worker.runUntyped { [port] in port.close() }
        self.worker.stop()
    }

    /// Sends `command` and returns the module's answer frame (any status). Retries once when a frame
    /// was corrupt on either side or the device came back after a disconnect.
    public func perform(_ command: ModuleCommand) async throws(IDModuleError) -> ModuleFrame {
        let timeout: Duration =
            switch command {
            case .readText, .readTextWithFingerprint, .readNewestAddress: self.timeouts.read
            default: self.timeouts.command
            }
        let port = self.port
        do {
            return try await self.worker.runUntyped { () throws -> ModuleFrame in
                do {
                    let frame = try Self.exchange(command, port: port, timeout: timeout)
                    if let status = frame.status, status == .checksumError || status == .lengthError {
                        return try Self.exchange(command, port: port, timeout: timeout)
                    }
                    return frame
                } catch let error as IDModuleError where error.reason == .malformedFrame || error.reason == .deviceGone {
                    return try Self.exchange(command, port: port, timeout: timeout)
                }
            }
        } catch let error as IDModuleError {
            throw error
        } catch {
            throw IDModuleError(.deviceUnavailable, detail: "\(error)")
        }
    }

    /// One request and its answer: flush stale input, write, read until one whole frame arrived.
    static func exchange(_ command: ModuleCommand, port: SerialPort, timeout: Duration) throws(IDModuleError) -> ModuleFrame {
        try port.open()
        port.flushInput()
        try port.write(command.frame.bytes, timeout: timeout)
        let deadline = ContinuousClock.now.advanced(by: timeout)
        var assembler = FrameAssembler()
        var problems: [ModuleFrameError] = []
        while true {
            let chunk = try port.read(until: deadline)
            if chunk.isEmpty && ContinuousClock.now >= deadline {
                if let problem = problems.last {
                    throw IDModuleError(.malformedFrame, detail: "\(command): \(problem)")
                }
                let partial = assembler.bufferedCount > 0 ? " (\(assembler.bufferedCount) bytes of an incomplete frame)" : ""
                throw IDModuleError(.timeout, detail: "\(command): no answer within \(timeout)\(partial)")
            }
            assembler.append(chunk)
            while let result = assembler.next() {
                switch result {
                case .success(let frame): return frame
                case .failure(let problem): problems.append(problem)
                }
            }
        }
    }

    // MARK: Commands

    /// Resets the module.
    public func reset() async throws(IDModuleError) {
        try Self.expect(try await self.perform(.reset), .ok, command: .reset)
    }

    /// The module's self-test status (`90` = fine).
    public func status() async throws(IDModuleError) -> ModuleStatus {
        let frame = try await self.perform(.status)
        return frame.status ?? ModuleStatus(rawValue: 0)
    }

    /// The module's identifier, formatted as vendors print it (`05.01-20160101-0123456789-0123456789`,
    /// a format from one public source only), or in hex when it has another length.
    public func moduleID() async throws(IDModuleError) -> String {
        let frame = try await self.perform(.readModuleID)
        try Self.expect(frame, .ok, command: .readModuleID)
        return Self.formatModuleID(frame.responseData)
    }

    static func formatModuleID(_ data: [UInt8]) -> String {
        guard data.count == 16 else { return data.map { String($0, radix: 16) }.joined() }
        func u32(_ offset: Int) -> UInt32 { (0..<4).reduce(UInt32(0)) { $0 | UInt32(data[offset + $1]) << (8 * $1) } }
        func pad(_ value: UInt32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(UInt32(data[0]), 2)).\(pad(UInt32(data[2]), 2))-\(u32(4))-\(pad(u32(8), 10))-\(pad(u32(12), 10))"
    }

    /// Find card: true when a card answered (`9F`), false when none (`80`).
    public func findCard() async throws(IDModuleError) -> Bool {
        let frame = try await self.perform(.findCard)
        if frame.status == .cardFound { return true }
        if frame.status == .findFailed { return false }
        throw IDModuleError(.moduleStatus(frame.status ?? ModuleStatus(rawValue: 0)), detail: "find card")
    }

    /// Select card.
    public func selectCard() async throws(IDModuleError) {
        try Self.expect(try await self.perform(.selectCard), .ok, command: .selectCard)
    }

    /// Reads text and photo (and fingerprints) of the selected card, decoded.
    public func readSelectedCard(fingerprint: Bool = false) async throws(IDModuleError) -> IDCardData {
        let command: ModuleCommand = fingerprint ? .readTextWithFingerprint : .readText
        let frame = try await self.perform(command)
        try Self.expect(frame, .ok, command: command)
        do {
            let response = try ReadResponse(data: frame.responseData, withFingerprint: fingerprint)
            return try IDCardText.decode(response.text, photo: response.photo, hasFingerprint: !(response.fingerprint ?? []).isEmpty)
        } catch let error as ModuleFrameError {
            throw IDModuleError(.malformedFrame, detail: "read response: \(error)")
        } catch let error as IDCardDataError {
            throw IDModuleError(.invalidCardData, detail: error.description)
        } catch {
            throw IDModuleError(.malformedFrame, detail: "\(error)")
        }
    }

    /// find → select → read: the whole sequence, as every read needs (`cards.md` §3.2).
    public func readCard(fingerprint: Bool = false) async throws(IDModuleError) -> IDCardData {
        guard try await self.findCard() else { throw IDModuleError(.noCard, detail: "find card answered 80") }
        try await self.selectCard()
        return try await self.readSelectedCard(fingerprint: fingerprint)
    }

    /// The newest appended address (after find and select), or `nil` when the card has none.
    public func readNewestAddress() async throws(IDModuleError) -> String? {
        let frame = try await self.perform(.readNewestAddress)
        if frame.status == .noContent || frame.status == .readFailed && frame.responseData.isEmpty { return nil }
        try Self.expect(frame, .ok, command: .readNewestAddress)
        var units: [UInt16] = []
        let data = frame.responseData
        for index in stride(from: 0, to: data.count - 1, by: 2) { units.append(UInt16(data[index]) | UInt16(data[index + 1]) << 8) }
        while let last = units.last, last == 0x20 || last == 0 { units.removeLast() }
        return units.isEmpty ? nil : String(decoding: units, as: UTF16.self)
    }

    /// Switches the module's line speed (the port must then be reopened at that speed by a new
    /// ``IDCardModule``).
    public func setBaudRate(_ rate: ModuleCommand.BaudRate) async throws(IDModuleError) {
        try Self.expect(try await self.perform(.setBaudRate(rate)), .ok, command: .setBaudRate(rate))
    }

    static func expect(_ frame: ModuleFrame, _ status: ModuleStatus, command: ModuleCommand) throws(IDModuleError) {
        guard frame.status == status else {
            throw IDModuleError(.moduleStatus(frame.status ?? ModuleStatus(rawValue: 0)), detail: "\(command)")
        }
    }
}
