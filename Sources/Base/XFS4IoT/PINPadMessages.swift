public import KioskProtocol

/// The commands an EPP client sends and what it reads from their answers (`xfs4iot.md` §3), as pure builders
/// and parsers. Nothing here reads a key's digit: key events are counted, never looked into.
public enum PINPadMessages {
    /// The command names this client uses.
    public enum Command: String, CaseIterable, Hashable, Sendable {
        case getServices = "ServicePublisher.GetServices"
        case status = "Common.Status"
        case capabilities = "Common.Capabilities"
        case cancel = "Common.Cancel"
        case importKey = "KeyManagement.ImportKey"
        case deleteKey = "KeyManagement.DeleteKey"
        case pinEntry = "Keyboard.PinEntry"
        case getPinBlock = "PinPad.GetPinBlock"

        /// The version sent when the service's capabilities do not list the command (KAL's current ones).
        public var defaultVersion: String {
            switch self {
            case .importKey: "3.0"
            default: "2.0"
            }
        }

        /// The highest major version whose payload this client knows.
        public var highestKnownMajor: Int {
            switch self {
            case .importKey, .status, .capabilities, .getPinBlock: 3
            default: 2
            }
        }
    }

    // MARK: Versions

    /// Each command's versions as `Common.Capabilities` lists them: `interfaces[].commands[name].versions`.
    public static func commandVersions(inCapabilities payload: JSONValue?) -> [String: [String]] {
        var versions: [String: [String]] = [:]
        for interface in payload?["interfaces"]?.array ?? [] {
            guard case .object(let commands)? = interface["commands"] else { continue }
            for (name, entry) in commands {
                versions[name, default: []] += (entry["versions"]?.array ?? []).compactMap(\.string)
            }
        }
        return versions
    }

    /// The version to send `command` with: the highest the service lists whose major this client knows;
    /// the default when the service lists none; `nil` when it lists only versions this client does not know.
    public static func negotiate(_ command: Command, offered: [String]?) -> String? {
        guard let offered, !offered.isEmpty else { return command.defaultVersion }
        func parts(_ version: String) -> (Int, Int)? {
            let pieces = version.split(separator: ".")
            guard let major = pieces.first.flatMap({ Int($0) }) else { return nil }
            return (major, pieces.count > 1 ? Int(pieces[1]) ?? 0 : 0)
        }
        return offered.compactMap { version in parts(version).map { (version, $0) } }
            .filter { $0.1.0 >= 1 && $0.1.0 <= command.highestKnownMajor }
            .max { $0.1 < $1.1 }?.0
    }

    // MARK: Discovery

    /// The service URIs of a `ServicePublisher.GetServices` completion (or `ServiceDetailEvent`).
    public static func serviceURIs(_ payload: JSONValue?) -> [String] {
        (payload?["services"]?.array ?? []).compactMap { $0["serviceURI"]?.string }
    }

    // MARK: Status

    /// What `Common.Status` (or `Common.StatusChangedEvent`) says about the EPP.
    public struct Status: Hashable, Sendable {
        /// `common.device`: online, offline, powerOff, noDevice, hardwareError, userError, deviceBusy, …
        public var device: String?
        /// `keyManagement.encryptionState`: ready, notReady, notInitialized (no master key), busy, undefined, initialized.
        public var encryptionState: String?

        public init(device: String? = nil, encryptionState: String? = nil) {
            self.device = device
            self.encryptionState = encryptionState
        }

        /// Applies a change event's fields over this status (an event carries only what changed).
        public func merged(with change: Status) -> Status {
            Status(device: change.device ?? self.device, encryptionState: change.encryptionState ?? self.encryptionState)
        }
    }

    public static func status(_ payload: JSONValue?) -> Status {
        Status(device: payload?["common"]?["device"]?.string, encryptionState: payload?["keyManagement"]?["encryptionState"]?.string)
    }

    // MARK: Key loading

    /// `KeyManagement.ImportKey` for a PIN key (`P0`, TDEA or a vendor's algorithm code, encrypt only) sent
    /// encrypted under the master key already in the EPP.
    public static func importPINKey(name: String, encrypted: [UInt8], decryptKey: String, algorithm: String = "T") -> JSONValue {
        [
            "key": .string(name),
            "keyAttributes": ["keyUsage": "P0", "algorithm": .string(algorithm), "modeOfUse": "E"],
            "value": .string(XFSBase64.encode(encrypted)),
            "decryptKey": .string(decryptKey),
            "decryptMethod": "ecb",
        ]
    }

    /// The key check value an ImportKey completion returned (`verificationData`), if any.
    public static func verificationData(_ payload: JSONValue?) -> [UInt8]? {
        payload?["verificationData"]?.string.flatMap(XFSBase64.decode)
    }

    /// `KeyManagement.DeleteKey` for one key.
    public static func deleteKey(name: String) -> JSONValue { ["key": .string(name)] }

    // MARK: PIN entry

    /// `Keyboard.PinEntry`: digits, clear and backspace active; enter and cancel terminate.
    public static func pinEntry(minimumLength: Int, maximumLength: Int, autoEnd: Bool = true) -> JSONValue {
        var keys: [String: JSONValue] = [:]
        for digit in ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "clear", "backspace"] {
            keys[digit] = [:]
        }
        keys["enter"] = ["terminate": true]
        keys["cancel"] = ["terminate": true]
        return ["minLen": .number(Double(minimumLength)), "maxLen": .number(Double(maximumLength)), "autoEnd": .bool(autoEnd), "activeKeys": .object(keys)]
    }

    /// What one `Keyboard.KeyEvent` does to the count of entered digits. Only `completion` is read, never `digit`.
    public enum KeyEffect: Hashable, Sendable {
        /// A digit was entered (a hidden key, or any key that is not one of the others).
        case added
        /// `clear` (or `cancel`, which clears the buffer): the count goes to 0.
        case cleared
        /// `backspace`: one digit less.
        case removedOne
        /// `enter` or `auto`: the entry ends; the count stays.
        case terminated
    }

    public static func keyEffect(_ payload: JSONValue?) -> KeyEffect {
        switch payload?["completion"]?.string {
        case "clear", "cancel": .cleared
        case "backspace": .removedOne
        case "enter", "auto": .terminated
        default: .added
        }
    }

    /// A `Keyboard.PinEntry` completion's `digits` and `completion`.
    public struct EntryResult: Hashable, Sendable {
        public var digits: Int
        public var completion: String?
    }

    public static func entryResult(_ payload: JSONValue?) -> EntryResult {
        EntryResult(digits: max(0, payload?["digits"]?.int ?? 0), completion: payload?["completion"]?.string)
    }

    // MARK: PIN block

    /// The `customerData` an ISO 9564 format 0 block is bound to: the PAN's 12 rightmost digits without its
    /// check digit (`xfs4iot.md` §3.3 and §7.3). `nil` for a PAN that cannot bind a block.
    public static func customerData(pan: String) -> String? {
        let digits = Array(pan)
        guard digits.count >= 13, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return String(digits.dropLast().suffix(12))
    }

    /// `PinPad.GetPinBlock` (padding 15, ECB under `key`).
    public static func getPinBlock(customerData: String, key: String, format: String = "iso0") -> JSONValue {
        ["customerData": .string(customerData), "padding": 15, "format": .string(format), "key": .string(key), "cryptoMethod": "ecb"]
    }

    public static func pinBlock(_ payload: JSONValue?) -> [UInt8]? {
        payload?["pinBlock"]?.string.flatMap(XFSBase64.decode)
    }

    /// `Common.Cancel` for the given requests.
    public static func cancel(requestIds: [Int]) -> JSONValue {
        ["requestIds": .array(requestIds.map { .number(Double($0)) })]
    }
}
