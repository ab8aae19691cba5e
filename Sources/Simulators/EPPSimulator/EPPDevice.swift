import Bytes
import KioskCrypto
import KioskProtocol
import Synchronization
import XFS4IoT

/// A simulated encrypting PIN pad, as an XFS4IoT PIN pad service presents one (`xfs4iot.md` §3): key storage
/// with a TEST master key, key import under it with check values, PIN entry with hidden-digit key events,
/// ISO 9564 format 0 PIN blocks, cancel, status, and fault knobs. The clear PIN exists only here, in one
/// buffer that is zeroed when a block is made, on clear, on cancel and when an entry ends.
///
/// Keys are pressed through ``press(_:)`` (the control socket of `kiosk-epp-sim`, or a test).
public final class EPPDevice: Sendable {
    /// A key on the pad.
    public enum Key: Hashable, Sendable {
        case digit(Int)
        case enter, clear, backspace, cancel
    }

    /// Faults a test or an operator can switch on.
    public struct Faults: Hashable, Sendable {
        /// The device is offline: commands other than Status and Capabilities complete `deviceNotReady`.
        public var offline = false
        /// ImportKey completes `commandErrorCode` / `accessDenied`.
        public var refuseImport = false
        /// ImportKey returns a check value that does not match the key.
        public var wrongCheckValue = false
        /// Refuse to overwrite a stored key name (`duplicateKey`), as KAL's simulator does. On by default.
        public var duplicateKeyName = true
        /// Each key press is delayed this long before it is reported.
        public var keyDelayMilliseconds = 0
        /// PIN entry ends `commandErrorCode` / `entryTimeout` this long after it starts (0 = never).
        public var entryTimeoutMilliseconds = 0
        /// The next key press during an entry drops the connection instead.
        public var dropOnKey = false
        /// Key events for digits carry the digit's name, as a careless device might.
        public var sendDigitValues = false
        /// Enter below the minimum length completes the entry (some devices cannot ignore it).
        public var acceptShortEnter = false
        /// Unsolicited events as `type: "unsolicited"` instead of KAL's `event` without a request ID.
        public var unsolicitedType = false

        public init() {}
    }

    /// Where a key press goes: the entry in progress, on its connection.
    struct Entry {
        let connection: Int
        let requestId: Int
        let version: String
        let minimumLength: Int
        let maximumLength: Int
        let autoEnd: Bool
        let emit: @Sendable (XFSMessage) -> Void
        let drop: @Sendable () -> Void
    }

    private struct State {
        var keys: [String: StoredKey] = [:]
        var faults = Faults()
        var entry: Entry?
        var entryGeneration = 0
        var statusListeners: [Int: @Sendable (XFSMessage) -> Void] = [:]
        var served: [String: Int] = [:]
    }

    struct StoredKey {
        var value: [UInt8]
        var usage: String
    }

    private let state = Mutex(State())
    private let digits = PINBuffer()
    /// The master key's name (the TEST TMK loaded "at installation").
    public let masterKeyName: String

    /// - Parameters:
    ///   - masterKey: the TEST terminal master key (3DES, 16 bytes), loaded under `masterKeyName`.
    public init(masterKeyName: String = "TMK01", masterKey: [UInt8]?) {
        self.masterKeyName = masterKeyName
        if let masterKey { self.state.withLock { $0.keys[masterKeyName] = StoredKey(value: masterKey, usage: "K0") } }
    }

    // MARK: Control

    /// The fault knobs now.
    public var faults: Faults { self.state.withLock { $0.faults } }

    /// Changes the fault knobs; going offline or online sends `Common.StatusChangedEvent` to every connection.
    public func setFaults(_ change: (inout Faults) -> Void) {
        let (before, after, listeners) = self.state.withLock { state in
            let before = state.faults
            change(&state.faults)
            return (before, state.faults, Array(state.statusListeners.values))
        }
        if before.offline != after.offline {
            let event = XFSMessage(
                header: XFSHeader(name: "Common.StatusChangedEvent", type: after.unsolicitedType ? .unsolicited : .event, version: "2.0"),
                payload: ["common": ["device": .string(after.offline ? "offline" : "online")]])
            for listener in listeners { listener(event) }
        }
    }

    /// True while a PIN entry waits for keys.
    public var isEntering: Bool { self.state.withLock { $0.entry != nil } }

    /// How many of each command were served (tests).
    public var served: [String: Int] { self.state.withLock { $0.served } }

    /// Forgets every key but `kept` (a restarted or replaced EPP); returns how many were forgotten.
    @discardableResult
    public func forgetKeys(except kept: String) -> Int {
        self.state.withLock { state in
            let before = state.keys.count
            state.keys = state.keys.filter { $0.key == kept }
            return before - state.keys.count
        }
    }

    /// Names of the keys stored now.
    public var keyNames: [String] { self.state.withLock { $0.keys.keys.sorted() } }

    /// Presses a key: reported to the entry in progress as a key event with no digit value; ignored without one.
    public func press(_ key: Key) async {
        let delay = self.faults.keyDelayMilliseconds
        if delay > 0 { try? await Task.sleep(for: .milliseconds(delay)) }
        self.pressNow(key)
    }

    /// Types `pin` digit by digit, then enter.
    public func type(_ pin: String) async {
        for character in pin { if let digit = character.wholeNumberValue { await self.press(.digit(digit)) } }
        await self.press(.enter)
    }

    private func pressNow(_ key: Key) {
        let result = self.state.withLock { state -> (Entry, [XFSMessage], drop: Bool)? in
            guard let entry = state.entry else { return nil }
            if state.faults.dropOnKey {
                state.faults.dropOnKey = false
                state.entry = nil
                return (entry, [], true)
            }
            let names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
            func keyEvent(_ payload: JSONValue?) -> XFSMessage {
                XFSMessage(header: XFSHeader(name: "Keyboard.KeyEvent", requestId: entry.requestId, type: .event, version: "2.0"), payload: payload)
            }
            func completion(_ how: String) -> XFSMessage {
                XFSMessage(
                    header: XFSHeader(name: "Keyboard.PinEntry", requestId: entry.requestId, type: .completion, version: entry.version, completionCode: "success"),
                    payload: ["digits": .number(Double(self.digits.count)), "completion": .string(how)])
            }
            switch key {
            case .digit(let digit):
                guard (0...9).contains(digit) else { return nil }
                guard entry.maximumLength == 0 || self.digits.count < entry.maximumLength else { return nil }
                self.digits.append(UInt8(digit))
                // KAL's simulator sends a digit's key event with no payload at all; the knob adds the value.
                var messages = [keyEvent(state.faults.sendDigitValues ? ["completion": "continue", "digit": .string(names[digit])] : nil)]
                if entry.autoEnd && entry.maximumLength > 0 && self.digits.count == entry.maximumLength {
                    messages.append(completion("auto"))
                    state.entry = nil
                }
                return (entry, messages, false)
            case .clear:
                self.digits.wipe()
                return (entry, [keyEvent(["completion": "clear", "digit": "clear"])], false)
            case .backspace:
                self.digits.removeLast()
                return (entry, [keyEvent(["completion": "backspace", "digit": "backspace"])], false)
            case .enter:
                guard self.digits.count >= entry.minimumLength || state.faults.acceptShortEnter else { return nil }
                state.entry = nil
                return (entry, [keyEvent(["completion": "enter", "digit": "enter"]), completion("enter")], false)
            case .cancel:
                // A terminating cancel completes successfully and clears the buffer.
                self.digits.wipe()
                state.entry = nil
                return (entry, [keyEvent(["completion": "cancel", "digit": "cancel"]), completion("cancel")], false)
            }
        }
        guard let (entry, messages, drop) = result else { return }
        if drop {
            self.digits.wipe()
            entry.drop()
            return
        }
        for message in messages { entry.emit(message) }
    }

    // MARK: Connections

    func connectionOpened(_ id: Int, emit: @escaping @Sendable (XFSMessage) -> Void) {
        self.state.withLock { $0.statusListeners[id] = emit }
    }

    /// A connection closed: its entry ends (the buffer is wiped) and it gets no more events.
    func connectionClosed(_ id: Int) {
        let ended = self.state.withLock { state -> Bool in
            state.statusListeners.removeValue(forKey: id)
            guard state.entry?.connection == id else { return false }
            state.entry = nil
            return true
        }
        if ended { self.digits.wipe() }
    }

    // MARK: Commands

    /// The versions this service speaks, per command (published in `Common.Capabilities`).
    static let versions: [String: [String]] = [
        "Common.Status": ["2.0"], "Common.Capabilities": ["2.0"], "Common.Cancel": ["2.0"],
        "KeyManagement.ImportKey": ["3.0"], "KeyManagement.DeleteKey": ["2.0"], "Keyboard.PinEntry": ["2.0"],
        "PinPad.GetPinBlock": ["2.0"], "ServicePublisher.GetServices": ["2.0"],
    ]

    /// What a finished command answers: its completion code, payload, error code.
    struct Outcome {
        var code = "success"
        var payload: JSONValue?
        var errorDescription: String?

        static func error(_ code: String, _ description: String) -> Outcome {
            Outcome(code: "commandErrorCode", payload: ["errorCode": .string(code)], errorDescription: description)
        }
        static func fail(_ code: String, _ description: String) -> Outcome { Outcome(code: code, errorDescription: description) }
    }

    func count(_ name: String) { self.state.withLock { $0.served[name, default: 0] += 1 } }

    func status() -> Outcome {
        let (offline, hasMaster) = self.state.withLock { ($0.faults.offline, $0.keys[self.masterKeyName] != nil) }
        return Outcome(payload: [
            "common": ["device": .string(offline ? "offline" : "online")],
            "keyManagement": ["encryptionState": .string(hasMaster ? "ready" : "notInitialized")],
        ])
    }

    func capabilities() -> Outcome {
        var interfaces: [String: [String: JSONValue]] = [:]
        for (command, versions) in Self.versions {
            let interface = String(command.prefix { $0 != "." })
            interfaces[interface, default: [:]][command] = ["versions": .array(versions.map { .string($0) })]
        }
        return Outcome(payload: [
            "interfaces": .array(interfaces.sorted { $0.key < $1.key }.map { ["name": .string($0.key), "commands": .object($0.value)] }),
            "pinPad": ["pinFormats": ["iso0": true], "pinBlockAttributes": ["P0": ["T": ["E": ["cryptoMethod": ["ecb": true]]]]]],
            "keyManagement": ["decryptAttributes": ["T": ["decryptMethod": ["ecb": true]]]],
        ])
    }

    func importKey(_ payload: JSONValue?) -> Outcome {
        self.state.withLock { state -> Outcome in
            if state.faults.offline { return .fail("deviceNotReady", "the EPP is offline") }
            if state.faults.refuseImport { return .error("accessDenied", "key import refused (fault knob)") }
            guard let name = payload?["key"]?.string, !name.isEmpty else { return .fail("invalidData", "no key name") }
            guard let decryptName = payload?["decryptKey"]?.string else { return .error("formatNotSupported", "clear keys are not accepted") }
            guard let decryptKey = state.keys[decryptName] else { return .error("keyNotFound", "no key \(decryptName)") }
            guard payload?["keyAttributes"]?["algorithm"]?.string == "T" else { return .error("algorithmNotSupported", "only T (TDEA)") }
            guard ["ecb", nil].contains(payload?["decryptMethod"]?.string) else { return .error("cryptoMethodNotSupported", "only ecb") }
            guard let encoded = payload?["value"]?.string, let encrypted = XFSBase64.decode(encoded), [16, 24].contains(encrypted.count) else {
                return .error("invalidKeyLength", "the value is not a 16- or 24-byte key")
            }
            if state.keys[name] != nil && state.faults.duplicateKeyName { return .error("duplicateKey", "\(name) exists and cannot be overwritten") }
            guard let master = try? BlockCipher(.tripleDES, key: decryptKey.value), let key = try? master.decrypt(encrypted),
                let check = try? BlockCipher(.tripleDES, key: key).encrypt([UInt8](repeating: 0, count: 8))
            else { return .error("invalidValue", "could not decrypt the key") }
            state.keys[name] = StoredKey(value: key, usage: payload?["keyAttributes"]?["keyUsage"]?.string ?? "P0")
            var kcv = Array(check.prefix(3))
            if state.faults.wrongCheckValue { kcv[0] ^= 0xFF }
            return Outcome(payload: [
                "verificationData": .string(XFSBase64.encode(kcv)),
                "verifyAttributes": ["keyUsage": "00", "algorithm": "T", "modeOfUse": "V", "cryptoMethod": "kcvZero"],
                "keyLength": .number(Double(key.count * 8)),
            ])
        }
    }

    func deleteKey(_ payload: JSONValue?) -> Outcome {
        self.state.withLock { state -> Outcome in
            guard let name = payload?["key"]?.string else { return .fail("invalidData", "no key name") }
            guard name != self.masterKeyName else { return .error("accessDenied", "the master key is not deleted here") }
            guard state.keys.removeValue(forKey: name) != nil else { return .error("keyNotFound", "no key \(name)") }
            return Outcome()
        }
    }

    /// Starts an entry; `nil` when it started (keys will complete it), or the outcome it ended with at once.
    func beginEntry(_ payload: JSONValue?, entry make: (Int) -> Entry) -> (Outcome?, generation: Int) {
        self.state.withLock { state -> (Outcome?, Int) in
            if state.faults.offline { return (.fail("deviceNotReady", "the EPP is offline"), 0) }
            if state.entry != nil { return (.fail("sequenceError", "a PIN entry is already in progress"), 0) }
            guard case .object(let keys)? = payload?["activeKeys"], !keys.isEmpty else { return (.error("noActivekeys", "no active keys"), 0) }
            guard keys.values.contains(where: { $0["terminate"]?.bool == true }) || (payload?["autoEnd"]?.bool == true) else {
                return (.error("noTerminatekeys", "no terminate keys"), 0)
            }
            let supported: Set<String> = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "enter", "cancel", "clear", "backspace"]
            if let unsupported = keys.keys.first(where: { !supported.contains($0) }) { return (.error("keyNotSupported", "\(unsupported) is not on this pad"), 0) }
            self.digits.wipe()
            state.entryGeneration += 1
            state.entry = make(state.entryGeneration)
            return (nil, state.entryGeneration)
        }
    }

    /// Ends the entry `generation` (cancelled or timed out); true when it was still running.
    func endEntry(generation: Int, requestId: Int) -> Bool {
        self.state.withLock { state -> Bool in
            guard state.entry?.requestId == requestId, state.entryGeneration == generation else { return false }
            state.entry = nil
            return true
        }
    }

    func entryTimeoutMilliseconds() -> Int { self.faults.entryTimeoutMilliseconds }

    func getPinBlock(_ payload: JSONValue?) -> Outcome {
        self.state.withLock { state -> Outcome in
            defer { self.digits.wipe() }
            if state.faults.offline { return .fail("deviceNotReady", "the EPP is offline") }
            guard payload?["format"]?.string == "iso0" else { return .error("formatNotSupported", "only iso0") }
            guard let name = payload?["key"]?.string, let key = state.keys[name] else { return .error("keyNotFound", "no such key") }
            guard key.usage == "P0" else { return .error("useViolation", "\(name) is not a PIN key") }
            guard payload?["padding"]?.int != nil else { return .fail("invalidData", "padding is required") }
            guard let data = payload?["customerData"]?.string, data.count >= 12, data.allSatisfy({ $0.isASCII && $0.isNumber }) else {
                return .fail("invalidData", "customerData must be the PAN's digits without the check digit")
            }
            guard self.digits.count >= 4 else { return .error("noPin", "no PIN was entered") }
            // customerData is the PAN without its check digit: append a stand-in check digit for the PAN field.
            let block = self.digits.withDigits { digits in try? ISO0PINBlock.clearBlock(pinDigits: digits, pan: data + "0") }
            guard var clear = block, let cipher = try? BlockCipher(.tripleDES, key: key.value), let encrypted = try? cipher.encrypt(clear) else {
                return .error("invalidKeyLength", "could not build the block")
            }
            clear.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
            return Outcome(payload: ["pinBlock": .string(XFSBase64.encode(encrypted))])
        }
    }
}

/// The PIN digits, in one fixed buffer zeroed on every wipe; used only under the device's lock.
final class PINBuffer: @unchecked Sendable {
    private let lock = Mutex(())
    private var buffer = [UInt8](repeating: 0, count: 16)
    private(set) var count = 0

    func append(_ digit: UInt8) {
        self.lock.withLock { _ in
            guard self.count < self.buffer.count else { return }
            self.buffer[self.count] = digit
            self.count += 1
        }
    }

    func removeLast() {
        self.lock.withLock { _ in
            guard self.count > 0 else { return }
            self.count -= 1
            self.buffer[self.count] = 0
        }
    }

    func wipe() {
        self.lock.withLock { _ in
            for index in self.buffer.indices { self.buffer[index] = 0 }
            self.count = 0
        }
    }

    func withDigits<R>(_ body: ([UInt8]) -> R) -> R {
        var copy = self.lock.withLock { _ in Array(self.buffer.prefix(self.count)) }
        defer { copy.withUnsafeMutableBufferPointer { $0.update(repeating: 0) } }
        return body(copy)
    }
}
