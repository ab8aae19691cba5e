public import Activation
import BankGateway
public import KioskCrypto
import Synchronization

/// A simulated PIN pad for the demo and tests: its keys are pressed from outside the flow (`press`), and
/// it builds a real ISO 9564 format-0 block under a test PIN key, as an encrypting PIN pad would. It is a
/// stand-in for hardware: in the daemon it runs behind its own control channel, never the kiosk socket.
public final class SimulatedPINPad: PINPad {
    public enum Key: Hashable, Sendable {
        case digit(Int)
        case enter
        case clear
        case cancel
    }

    private struct Entry {
        var request: PINEntryRequest
        let digits = PressedDigits()
        var continuation: AsyncStream<PINPadEvent>.Continuation
    }

    private let cipher: BlockCipher
    public let keyName: String
    private let entry = Mutex<Entry?>(nil)
    /// Who waits for the next entry to begin (``waitForEntry(timeout:)``), by ticket.
    private let entryWaiters = Mutex<(next: Int, waiting: [Int: CheckedContinuation<Bool, Never>], gaveUp: Set<Int>)>((0, [:], []))

    /// - Parameter pinKey: the test PIN key (3DES, 16 bytes) the block is encrypted under.
    public init(pinKey: [UInt8], keyName: String = "PIK-TEST") throws(BlockCipher.Failure) {
        self.cipher = try BlockCipher(.tripleDES, key: pinKey)
        self.keyName = keyName
    }

    /// True while an entry waits for keys.
    public var isEntering: Bool { self.entry.withLock { $0 != nil } }

    public func beginEntry(_ request: PINEntryRequest) async -> AsyncStream<PINPadEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: PINPadEvent.self)
        let previous = self.entry.withLock { state -> Entry? in
            defer { state = Entry(request: request, continuation: continuation) }
            return state
        }
        previous?.digits.wipe()
        previous?.continuation.yield(.cancelled)
        previous?.continuation.finish()
        let waiting = self.entryWaiters.withLock { state in
            defer { state.waiting.removeAll() }
            return Array(state.waiting.values)
        }
        for waiter in waiting { waiter.resume(returning: true) }
        return stream
    }

    /// Waits until an entry asks for a PIN (at once when one does); false after `timeout` or on cancellation.
    /// Woken by ``beginEntry(_:)``, not by polling.
    public func waitForEntry(timeout: Duration = .seconds(10)) async -> Bool {
        if self.isEntering { return true }
        let ticket = self.entryWaiters.withLock { state -> Int in
            state.next += 1
            return state.next
        }
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await withTaskCancellationHandler {
                    await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                        let now = self.entryWaiters.withLock { state -> Bool? in
                            if state.gaveUp.remove(ticket) != nil { return false }
                            // Checked under the waiters' lock that beginEntry takes after storing the entry.
                            if self.isEntering { return true }
                            state.waiting[ticket] = continuation
                            return nil
                        }
                        if let now { continuation.resume(returning: now) }
                    }
                } onCancel: {
                    let waiter = self.entryWaiters.withLock { state -> CheckedContinuation<Bool, Never>? in
                        guard let waiter = state.waiting.removeValue(forKey: ticket) else {
                            state.gaveUp.insert(ticket)
                            return nil
                        }
                        return waiter
                    }
                    waiter?.resume(returning: false)
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            let answer = await group.next() ?? false
            group.cancelAll()
            return answer
        }
    }

    public func cancelEntry() async { self.finish(with: .cancelled) }

    /// Presses a key. Digits beyond the maximum are ignored; `enter` below the minimum is ignored.
    public func press(_ key: Key) {
        var completed: Result<[UInt8], ISO0PINBlock.Failure>?
        let event: PINPadEvent? = self.entry.withLock { state -> PINPadEvent? in
            guard let current = state else { return nil }
            switch key {
            case .digit(let digit):
                guard (0...9).contains(digit), current.digits.count < current.request.maximumLength else { return nil }
                current.digits.append(UInt8(digit))
                return .digits(current.digits.count)
            case .clear:
                current.digits.wipe()
                return .digits(0)
            case .enter:
                guard current.digits.count >= current.request.minimumLength else { return nil }
                completed = current.digits.withDigits { digits in
                    Result { () throws(ISO0PINBlock.Failure) in try ISO0PINBlock.clearBlock(pinDigits: digits, pan: current.request.pan) }
                }
                current.digits.wipe()
                return nil
            case .cancel:
                return nil
            }
        }
        if let event { _ = self.entry.withLock { $0?.continuation.yield(event) } }
        switch key {
        case .enter:
            switch completed {
            case .success(var clear)?:
                defer { clear.withUnsafeMutableBufferPointer { $0.update(repeating: 0) } }
                if let block = try? self.cipher.encrypt(clear) {
                    self.finish(with: .completed(EncryptedPINBlock(format: .iso0TripleDES, keyName: self.keyName, bytes: block)))
                } else {
                    self.finish(with: .failed("could not encrypt the PIN block"))
                }
            case .failure(let failure)?:
                // A block the pad cannot make (a card number too short to bind it) ends the entry: never a
                // silent enter that leaves the customer waiting.
                self.finish(with: .failed("could not build the PIN block: \(failure.description)"))
            case nil: break
            }
        case .cancel: self.finish(with: .cancelled)
        default: break
        }
    }

    /// The current entry's digit store, for tests of the wipe (the simulator only: a real pad never tells).
    var currentDigits: PressedDigits? { self.entry.withLock { $0?.digits } }

    /// Types `pin` and presses enter.
    public func type(_ pin: String) {
        for character in pin { if let digit = character.wholeNumberValue { self.press(.digit(digit)) } }
        self.press(.enter)
    }

    /// The customer at the pad: waits until an entry asks for a PIN, then types `pin` and presses enter.
    /// False when no entry began within `timeout`.
    @discardableResult
    public func typeWhenAsked(_ pin: String, timeout: Duration = .seconds(10)) async -> Bool {
        guard await self.waitForEntry(timeout: timeout) else { return false }
        self.type(pin)
        return true
    }

    private func finish(with event: PINPadEvent) {
        let ended = self.entry.withLock { state -> Entry? in
            defer { state = nil }
            return state
        }
        ended?.digits.wipe()
        ended?.continuation.yield(event)
        ended?.continuation.finish()
    }
}

/// The digits pressed on the simulated pad, in one fixed buffer that is overwritten with zeros when the
/// block is made, on clear and when the entry ends: never copied into an array or a string that would
/// outlive it unwiped. Used only under the pad's lock.
final class PressedDigits: @unchecked Sendable {
    static let capacity = 12
    private let buffer = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: PressedDigits.capacity)
    private(set) var count = 0

    init() { self.buffer.initialize(repeating: 0) }

    deinit {
        self.wipe()
        self.buffer.deallocate()
    }

    func append(_ digit: UInt8) {
        guard self.count < Self.capacity else { return }
        self.buffer[self.count] = digit
        self.count += 1
    }

    /// Lends the digits to `body` as a temporary array, zeroed when `body` returns.
    func withDigits<R>(_ body: ([UInt8]) -> R) -> R {
        var digits = Array(self.buffer.prefix(self.count))
        defer { digits.withUnsafeMutableBufferPointer { $0.update(repeating: 0) } }
        return body(digits)
    }

    /// Overwrites every digit with zero and empties the store.
    func wipe() {
        self.buffer.update(repeating: 0)
        self.count = 0
    }

    /// The whole buffer as it is in memory (tests check that nothing is left).
    var rawBytes: [UInt8] { Array(self.buffer) }
}
