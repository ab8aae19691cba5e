import CardCore
import Foundation
import Synchronization

/// Timeouts and retries for the module's answers. Reads take longest: the module authenticates the card and
/// reads 1,295 bytes (2,321 with fingerprints), ~0.1 s on the wire at 115200 baud plus the card's own time.
public struct IDModuleTimeouts: Hashable, Sendable {
    public var command: Duration
    public var read: Duration
    /// How often a cheap, repeatable command (find, select, status, module ID) is sent while its answers
    /// arrive corrupt (bad checksum or length, garbage, the module's own `10`/`11`). USB-serial lines pick up
    /// noise in bursts; these commands change nothing on the card, so they ride a burst out.
    public var queryAttempts: Int
    /// Once a corrupt answer or stray bytes have arrived for such a command, this much silence ends the wait
    /// (the rest of a frame whose length was corrupted never comes): the command is sent again at once
    /// instead of after the whole timeout.
    public var quietGap: Duration
    public init(command: Duration = .seconds(1), read: Duration = .seconds(3), queryAttempts: Int = 5, quietGap: Duration = .milliseconds(100)) {
        self.command = command
        self.read = read
        self.queryAttempts = max(1, queryAttempts)
        self.quietGap = quietGap
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

    /// Sends `command` and returns the module's answer frame (any status but `10`/`11`).
    ///
    /// Corrupt answers (a bad checksum or length, garbage, or the module's own "checksum error"/"length
    /// error" for our request) are handled by what the command does to the card:
    /// - find, select, status and module ID change nothing: sent again (input flushed, the line resynchronised)
    ///   up to ``IDModuleTimeouts/queryAttempts`` times, then ``IDModuleError/Reason/noisyLine``, a module fault;
    /// - a read makes the module count the card as read: one corrupt answer is
    ///   ``IDModuleError/Reason/malformedFrame`` (the customer places the card again);
    /// - other commands are sent once more.
    /// A device that went away is reopened once.
    public func perform(_ command: ModuleCommand) async throws(IDModuleError) -> ModuleFrame {
        let policy = ExchangePolicy(command, self.timeouts)
        let port = self.port
        do {
            return try await self.worker.runUntyped { () throws -> ModuleFrame in try Self.perform(command, port: port, policy: policy) }
        } catch let error as IDModuleError {
            throw error
        } catch {
            throw IDModuleError(.deviceUnavailable, detail: "\(error)")
        }
    }

    /// How one command is exchanged: its timeout, how many corrupt answers it may meet, and what it reports
    /// when they run out.
    struct ExchangePolicy {
        var timeout: Duration
        var attempts: Int
        var quietGap: Duration?
        var exhausted: IDModuleError.Reason

        init(_ command: ModuleCommand, _ timeouts: IDModuleTimeouts) {
            switch command {
            case .findCard, .selectCard, .status, .readModuleID:
                self = ExchangePolicy(timeout: timeouts.command, attempts: timeouts.queryAttempts, quietGap: timeouts.quietGap, exhausted: .noisyLine)
            case .readText, .readTextWithFingerprint:
                self = ExchangePolicy(timeout: timeouts.read, attempts: 1, quietGap: nil, exhausted: .malformedFrame)
            case .readNewestAddress:
                self = ExchangePolicy(timeout: timeouts.read, attempts: 2, quietGap: nil, exhausted: .malformedFrame)
            case .reset, .setBaudRate:
                self = ExchangePolicy(timeout: timeouts.command, attempts: 2, quietGap: nil, exhausted: .malformedFrame)
            }
        }

        init(timeout: Duration, attempts: Int, quietGap: Duration?, exhausted: IDModuleError.Reason) {
            self.timeout = timeout
            self.attempts = attempts
            self.quietGap = quietGap
            self.exhausted = exhausted
        }
    }

    /// The exchange with its retries, on the module's thread.
    static func perform(_ command: ModuleCommand, port: SerialPort, policy: ExchangePolicy) throws(IDModuleError) -> ModuleFrame {
        var corrupt: [String] = []
        var reopened = false
        while true {
            let problem: String
            do {
                let frame = try Self.exchange(command, port: port, timeout: policy.timeout, quietGap: policy.quietGap)
                guard let status = frame.status, status == .checksumError || status == .lengthError else { return frame }
                problem = "module answered \(status)"
            } catch let error where error.reason == .malformedFrame {
                problem = error.detail
            } catch let error where error.reason == .deviceGone && !reopened {
                reopened = true
                continue
            }
            corrupt.append(problem)
            guard corrupt.count < policy.attempts else {
                let times = corrupt.count == 1 ? "" : " (\(corrupt.count) corrupt answers in a row)"
                throw IDModuleError(policy.exhausted, detail: "\(command)\(times): \(problem)")
            }
            // Let the rest of a noise burst arrive; exchange() flushes it before sending again.
            Thread.sleep(forTimeInterval: 0.02)
        }
    }

    /// One request and its answer: flush stale input, write, read until one whole frame arrived.
    /// With `quietGap`, a wait that has seen only corrupt or partial data ends after that much silence.
    static func exchange(_ command: ModuleCommand, port: SerialPort, timeout: Duration, quietGap: Duration? = nil) throws(IDModuleError) -> ModuleFrame {
        try port.open()
        port.flushInput()
        try port.write(command.frame.bytes, timeout: timeout)
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        var assembler = FrameAssembler()
        var problems: [ModuleFrameError] = []
        var lastByte = clock.now
        while true {
            let sawNoise = !problems.isEmpty || assembler.bufferedCount > 0 || assembler.discardedCount > 0
            let wakeUp = quietGap.map { sawNoise ? min(deadline, lastByte.advanced(by: $0)) : deadline } ?? deadline
            let chunk = try port.read(until: wakeUp)
            if chunk.isEmpty && clock.now >= wakeUp {
                if let problem = problems.last {
                    throw IDModuleError(.malformedFrame, detail: "\(command): \(problem)")
                }
                if assembler.bufferedCount > 0 {
                    throw IDModuleError(.malformedFrame, detail: "\(command): \(assembler.bufferedCount) bytes of a frame that never completed")
                }
                if assembler.discardedCount > 0 {
                    throw IDModuleError(.malformedFrame, detail: "\(command): \(assembler.discardedCount) bytes that are not a frame")
                }
                throw IDModuleError(.timeout, detail: "\(command): no answer within \(timeout)")
            }
            if !chunk.isEmpty { lastByte = clock.now }
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
