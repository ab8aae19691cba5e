public import BankGateway
import APDU
public import KioskCrypto
import Synchronization

/// What the flow asks of the PIN pad for one entry.
public struct PINEntryRequest: Hashable, Sendable {
    public var minimumLength: Int
    public var maximumLength: Int
    public var timeout: Duration
    /// The block is bound to this card number (ISO 9564 format 0).
    public var pan: String
    public var format: PINBlockFormat

    public init(minimumLength: Int = 6, maximumLength: Int = 6, timeout: Duration = .seconds(30), pan: String, format: PINBlockFormat = .iso0TripleDES) {
        self.minimumLength = minimumLength
        self.maximumLength = maximumLength
        self.timeout = timeout
        self.pan = pan
        self.format = format
    }
}

/// What an encrypting PIN pad reports during an entry. Key events carry no digits: the screen shows dots.
public enum PINPadEvent: Hashable, Sendable {
    /// A key was pressed; `digits` are now entered (the screen shows that many dots).
    case digits(Int)
    /// The entry is complete: the PIN block, encrypted inside the pad.
    case completed(EncryptedPINBlock)
    /// The customer pressed cancel on the pad.
    case cancelled
    /// No key within the entry's timeout.
    case timedOut
    /// The pad failed (unplugged, key missing, tamper).
    case failed(String)
}

/// An encrypting PIN pad. The clear PIN stays inside it; the daemon sees key counts and the encrypted block.
public protocol PINPad: Sendable {
    /// Starts an entry; events arrive until `completed`, `cancelled`, `timedOut` or `failed`.
    func beginEntry(_ request: PINEntryRequest) async -> AsyncStream<PINPadEvent>
    /// Ends the current entry (the flow was cancelled); the stream ends with `cancelled`.
    func cancelEntry() async
}

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
        var digits: [Int] = []
        var continuation: AsyncStream<PINPadEvent>.Continuation
    }

    private let cipher: BlockCipher
    public let keyName: String
    private let entry = Mutex<Entry?>(nil)

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
        previous?.continuation.yield(.cancelled)
        previous?.continuation.finish()
        return stream
    }

    public func cancelEntry() async { self.finish(with: .cancelled) }

    /// Presses a key. Digits beyond the maximum are ignored; `enter` below the minimum is ignored.
    public func press(_ key: Key) {
        var completed: [UInt8]?
        var pan = ""
        let event: PINPadEvent? = self.entry.withLock { state -> PINPadEvent? in
            guard var current = state else { return nil }
            switch key {
            case .digit(let digit):
                guard (0...9).contains(digit), current.digits.count < current.request.maximumLength else { return nil }
                current.digits.append(digit)
                state = current
                return .digits(current.digits.count)
            case .clear:
                current.digits.removeAll()
                state = current
                return .digits(0)
            case .enter:
                guard current.digits.count >= current.request.minimumLength else { return nil }
                pan = current.request.pan
                completed = (try? ISO0PINBlock.clearBlock(pin: current.digits.map(String.init).joined(), pan: pan))
                current.digits = Array(repeating: 0, count: current.digits.count)
                return nil
            case .cancel:
                return nil
            }
        }
        if let event { _ = self.entry.withLock { $0?.continuation.yield(event) } }
        switch key {
        case .enter where completed != nil:
            if let clear = completed, let block = try? self.cipher.encrypt(clear) {
                self.finish(with: .completed(EncryptedPINBlock(format: .iso0TripleDES, keyName: self.keyName, bytes: block)))
            } else {
                self.finish(with: .failed("could not build the PIN block"))
            }
        case .cancel: self.finish(with: .cancelled)
        default: break
        }
    }

    /// Types `pin` and presses enter.
    public func type(_ pin: String) {
        for character in pin { if let digit = character.wholeNumberValue { self.press(.digit(digit)) } }
        self.press(.enter)
    }

    /// The customer at the pad: waits until an entry asks for a PIN, then types `pin` and presses enter.
    /// False when no entry began within `timeout`.
    @discardableResult
    public func typeWhenAsked(_ pin: String, timeout: Duration = .seconds(10)) async -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while !self.isEntering {
            guard clock.now < deadline else { return false }
            try? await Task.sleep(for: .milliseconds(5))
        }
        self.type(pin)
        return true
    }

    private func finish(with event: PINPadEvent) {
        let ended = self.entry.withLock { state -> Entry? in
            defer { state = nil }
            return state
        }
        ended?.continuation.yield(event)
        ended?.continuation.finish()
    }
}
