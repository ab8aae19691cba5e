import Configuration
import Glibc
public import Foundation
import KioskProtocol
import SystemPackage

/// kioskd's settings: the YAML file (`Config/kioskd.yaml`, installed as `/etc/cardkiosk/kioskd.yaml`),
/// overridden by `KIOSKD_*` environment variables (`KIOSKD_READERS_CARD` for `readers.card`,
/// `KIOSKD_ID_MODULE_DEVICE` for `idModule.device`) and by command
/// line options. Read through swift-configuration; validated once at start with messages that name the key
/// and the fix.
public struct KioskSettings: Sendable, Hashable {
    /// `production` (the default: refuses anything simulated) or `test` (`mode: test`, `KIOSKD_MODE=test`).
    public var mode: String = "production"
    /// The configuration file read, or nil when there was none (production refuses to run without one).
    public var configurationFile: String?
    public var cardReader: String?
    public var psamReader: String?
    public var idDevice: String?
    public var idBaudRate: Int
    public var pinPad: String
    /// `pinPad.kind: xfs4iot`: the EPP service's URL (`ws://…/xfs4iot/v1.0/{Service}/`), its master key's name,
    /// the PIN key name(s), how keys rotate, and the vendor's SM4 PIN-block names (`pinPad.*`).
    public var pinPadURL: String?
    /// An EPP service on this machine at XFS4IoT's first port (5846): where a kiosk vendor's service usually listens.
    public static let defaultPINPadURL = "ws://127.0.0.1:5846/xfs4iot/v1.0/PinPad1/"
    /// Find the EPP service through `ServicePublisher.GetServices` on this host's publisher ports (80, 443,
    /// 5846–5856) instead of `pinPad.url`; the first service whose URI contains `pinPadServiceName`.
    public var pinPadDiscoverHost: String?
    public var pinPadServiceName: String = "PinPad"
    public var pinPadMasterKeyName: String = "TMK01"
    public var pinPadKeyNames: [String] = ["PIK01"]
    public var pinPadRotation: String = "replace"
    public var pinPadKeyAlgorithm: String = "T"
    public var pinPadSM4Format: String?
    public var identityVerifier: String
    public var bankProfile: String?
    public var journalPath: String
    public var journalRetentionDays: Int
    /// The key of the journal's card and ID fingerprints, a file outside the database (created 0600 when
    /// missing for a new journal): `journal.hashKeyFile`, else the systemd credential `journal-hash-key`
    /// (`LoadCredential=`), else the journal's path + `.hashkey`.
    public var journalHashKeyFile: String?
    public var socketPath: String
    /// Where the kiosk socket lives unless `socket.path` says otherwise: a directory of its own, outside the
    /// service's RuntimeDirectory (0750, group kioskd), which the screen's group could not traverse.
    public static let defaultSocketPath = KioskProtocol.defaultSocketPath
    public var socketGroup: UInt32?
    public var allowedUIDs: [UInt32]
    public var allowedGIDs: [UInt32]
    /// Peers that may run operator commands (`Journal.Settle`, `kioskctl journal settle`) and connect for
    /// them: root by default.
    public var operatorUIDs: [UInt32] = [0]
    public var operatorGIDs: [UInt32] = []
    public var timeouts: Timeouts
    public var logLevel: String
    /// The background resolver: a round at start and then every `resolverIntervalSeconds`, settling at most
    /// `resolverPerRound` unsettled activations, `resolverConcurrency` at a time.
    public var resolverIntervalSeconds: Int = 60
    public var resolverPerRound: Int = 20
    public var resolverConcurrency: Int = 4
    /// Prometheus' scrape endpoint (`GET /metrics`): off unless a port is set; loopback addresses only.
    public var metricsAddress: String = "127.0.0.1"
    public var metricsPort: Int?

    public struct Timeouts: Sendable, Hashable {
        public var cards: Int
        public var confirm: Int
        public var pinEntry: Int
        public var takeCards: Int
        public var warning: Int
    }

    /// Keys and what they mean, for `--check-config` and the error messages.
    public static let keys: [(key: String, meaning: String)] = [
        ("mode", "production (default: refuses simulated devices, banks and test keys) or test"),
        ("readers.card", "the PC/SC reader holding the social security card"),
        ("readers.psam", "the PC/SC reader holding the PSAM (3.00 cards)"),
        ("idModule.device", "the ID-card module's serial device"), ("idModule.baudRate", "its baud rate"),
        ("pinPad.kind", "the encrypting PIN pad: xfs4iot (the kiosk's EPP as an XFS4IoT service; kiosk-epp-sim in tests and the demo)"),
        ("pinPad.url", "the EPP's XFS4IoT service URL, ws://HOST:PORT/xfs4iot/v1.0/SERVICE/ (wss:// for TLS; default ws://127.0.0.1:5846/xfs4iot/v1.0/PinPad1/)"),
        ("pinPad.discoverHost", "find the EPP through XFS4IoT service discovery on this host instead of pinPad.url"),
        ("pinPad.serviceName", "with discovery: a part of the EPP service's URI (default PinPad)"),
        ("pinPad.masterKeyName", "the terminal master key's name in the EPP (default TMK01)"),
        ("pinPad.pinKeyNames", "the PIN key's name, or two names used in turn (default PIK01)"),
        ("pinPad.rotation", "replace (delete and import again when the EPP refuses to overwrite) or alternate (two names)"),
        ("pinPad.keyAlgorithm", "the PIN key's XFS4IoT algorithm code: T (TDEA, the default), or the EPP vendor's digit for SM4"),
        ("pinPad.sm4PinFormat", "the EPP vendor's PIN-block format name for SM4 (no XFS4IoT standard)"),
        ("identityVerifier", "simulated-accept or simulated-reject"),
        ("bank.profile", "the bank profile file (JSON)"), ("journal.path", "the SQLite journal"),
        ("journal.retentionDays", "days final activations are kept"),
        ("journal.hashKeyFile", "the fingerprints' key file, outside the database"),
        ("resolver.intervalSeconds", "seconds between background resolver rounds"), ("resolver.perRound", "unsettled activations per round"),
        ("resolver.concurrency", "of them at a time"), ("socket.path", "the kiosk socket"),
        ("socket.group", "numeric gid owning the socket"), ("socket.allowUIDs", "peer uids allowed"), ("socket.allowGIDs", "peer gids allowed"),
        ("socket.operatorUIDs", "peer uids that may settle manual reconciliations (default root)"), ("socket.operatorGIDs", "peer gids that may"),
        ("timeouts.cards", "seconds to present the cards"), ("timeouts.confirm", "seconds to confirm the details"),
        ("timeouts.pinEntry", "seconds per PIN entry"), ("timeouts.takeCards", "seconds to take the cards"),
        ("timeouts.warning", "seconds of warning before a timeout"), ("logging.level", "trace, debug, info, notice, warning, error, critical"),
        ("metrics.address", "loopback address of the Prometheus endpoint"), ("metrics.port", "its TCP port (unset = off)"),
    ]

    /// Reads `file` (when given; a missing default file is fine) and the environment.
    public static func load(file: String?, fileRequired: Bool, environment: [String: String] = ProcessInfo.processInfo.environment) async throws(SettingsError) -> KioskSettings {
        var providers: [any ConfigProvider] = []
        var overrides: [String: String] = [:]
        for (name, value) in environment where name.hasPrefix("KIOSKD_") { overrides[String(name.dropFirst("KIOSKD_".count))] = value }
        providers.append(EnvironmentVariablesProvider(environmentVariables: overrides))
        if let file {
            do {
                providers.append(try await FileProvider<YAMLSnapshot>(filePath: FilePath(file), allowMissing: !fileRequired))
            } catch {
                throw SettingsError(key: "(file)", problem: "cannot read \(file): \(error)", fix: "check the YAML syntax against Config/kioskd.yaml")
            }
        }
        let config = ConfigReader(providers: providers)
        let state = environment["STATE_DIRECTORY"].flatMap { $0.split(separator: ":").first.map(String.init) } ?? "/var/lib/kioskd"
        func ids(_ key: String, default fallback: [Int] = []) throws(SettingsError) -> [UInt32] {
            try config.intArray(forKey: ConfigKey(key), default: fallback).map { value throws(SettingsError) in
                guard value >= 0, value <= Int(UInt32.max) else { throw SettingsError(key: key, problem: "\(value) is not a uid/gid", fix: "use numeric ids ≥ 0") }
                return UInt32(value)
            }
        }
        var settings = KioskSettings(
            cardReader: config.string(forKey: "readers.card"), psamReader: config.string(forKey: "readers.psam"),
            idDevice: config.string(forKey: "idModule.device"), idBaudRate: config.int(forKey: "idModule.baudRate", default: 115_200),
            pinPad: config.string(forKey: "pinPad.kind", default: "xfs4iot"),
            identityVerifier: config.string(forKey: "identityVerifier", default: "simulated-accept"), bankProfile: config.string(forKey: "bank.profile"),
            journalPath: config.string(forKey: "journal.path", default: state + "/journal.sqlite"),
            journalRetentionDays: config.int(forKey: "journal.retentionDays", default: 400),
            socketPath: config.string(forKey: "socket.path", default: Self.defaultSocketPath),
            socketGroup: config.int(forKey: "socket.group").map { UInt32(clamping: $0) }, allowedUIDs: [], allowedGIDs: [],
            timeouts: Timeouts(
                cards: config.int(forKey: "timeouts.cards", default: 90), confirm: config.int(forKey: "timeouts.confirm", default: 60),
                pinEntry: config.int(forKey: "timeouts.pinEntry", default: 45), takeCards: config.int(forKey: "timeouts.takeCards", default: 30),
                warning: config.int(forKey: "timeouts.warning", default: 10)),
            logLevel: config.string(forKey: "logging.level", default: "info"))
        settings.mode = config.string(forKey: "mode", default: "production")
        settings.pinPadURL = config.string(forKey: "pinPad.url", default: Self.defaultPINPadURL)
        settings.pinPadDiscoverHost = config.string(forKey: "pinPad.discoverHost")
        settings.pinPadServiceName = config.string(forKey: "pinPad.serviceName", default: "PinPad")
        settings.pinPadMasterKeyName = config.string(forKey: "pinPad.masterKeyName", default: "TMK01")
        settings.pinPadKeyNames = config.stringArray(forKey: "pinPad.pinKeyNames", default: ["PIK01"])
        settings.pinPadRotation = config.string(forKey: "pinPad.rotation", default: "replace")
        settings.pinPadKeyAlgorithm = config.string(forKey: "pinPad.keyAlgorithm", default: "T")
        settings.pinPadSM4Format = config.string(forKey: "pinPad.sm4PinFormat")
        let credential = environment["CREDENTIALS_DIRECTORY"].map { $0 + "/journal-hash-key" }.flatMap { FileManager.default.fileExists(atPath: $0) ? $0 : nil }
        settings.journalHashKeyFile = config.string(forKey: "journal.hashKeyFile") ?? credential
        settings.configurationFile = file.flatMap { FileManager.default.isReadableFile(atPath: $0) ? $0 : nil }
        settings.metricsAddress = config.string(forKey: "metrics.address", default: "127.0.0.1")
        settings.metricsPort = config.int(forKey: "metrics.port")
        settings.resolverIntervalSeconds = config.int(forKey: "resolver.intervalSeconds", default: 60)
        settings.resolverPerRound = config.int(forKey: "resolver.perRound", default: 20)
        settings.resolverConcurrency = config.int(forKey: "resolver.concurrency", default: 4)
        settings.allowedUIDs = try ids("socket.allowUIDs")
        settings.allowedGIDs = try ids("socket.allowGIDs")
        settings.operatorUIDs = try ids("socket.operatorUIDs", default: [0])
        settings.operatorGIDs = try ids("socket.operatorGIDs")
        try settings.validate()
        return settings
    }

    /// Checks every value; the error names the key and the fix.
    public func validate() throws(SettingsError) {
        guard ["production", "test"].contains(self.mode) else {
            throw SettingsError(key: "mode", problem: "\"\(self.mode)\" is not a mode", fix: "use production (the default) or test")
        }
        guard self.pinPad == "xfs4iot" else {
            throw SettingsError(
                key: "pinPad.kind", problem: "\"\(self.pinPad)\" is not a PIN pad this build drives",
                fix: "use xfs4iot (the EPP's XFS4IoT service; in tests and the demo, kiosk-epp-sim)")
        }
        do {
            guard let url = self.pinPadURL, url.hasPrefix("ws://") || url.hasPrefix("wss://") else {
                throw SettingsError(key: "pinPad.url", problem: "missing or not a ws:// or wss:// URL", fix: "set the EPP's XFS4IoT service URL, e.g. ws://127.0.0.1:5846/xfs4iot/v1.0/PinPad1/")
            }
            guard ["replace", "alternate"].contains(self.pinPadRotation) else {
                throw SettingsError(key: "pinPad.rotation", problem: "\"\(self.pinPadRotation)\" is not a rotation", fix: "use replace or alternate")
            }
            let names = self.pinPadKeyNames.filter { !$0.isEmpty }
            guard names.count == (self.pinPadRotation == "alternate" ? 2 : 1), Set(names).count == names.count else {
                throw SettingsError(
                    key: "pinPad.pinKeyNames", problem: "\(names.count) name(s) for rotation \(self.pinPadRotation)",
                    fix: "give one name for replace, two different names for alternate")
            }
        }
        guard ["simulated-accept", "simulated-reject"].contains(self.identityVerifier) else {
            throw SettingsError(key: "identityVerifier", problem: "\"\(self.identityVerifier)\" is unknown", fix: "use simulated-accept or simulated-reject")
        }
        guard (1...3600).contains(self.resolverIntervalSeconds) else {
            throw SettingsError(key: "resolver.intervalSeconds", problem: "\(self.resolverIntervalSeconds) s", fix: "use 1 to 3600 (default 60)")
        }
        guard (1...1000).contains(self.resolverPerRound), (1...16).contains(self.resolverConcurrency) else {
            throw SettingsError(key: "resolver.perRound", problem: "\(self.resolverPerRound) per round, \(self.resolverConcurrency) at a time", fix: "use 1 to 1000 per round (default 20), concurrency 1 to 16 (default 4)")
        }
        guard [9600, 19200, 38400, 57600, 115_200].contains(self.idBaudRate) else {
            throw SettingsError(key: "idModule.baudRate", problem: "\(self.idBaudRate) is not a module baud rate", fix: "use 115200 (or 9600…57600)")
        }
        guard (1...3650).contains(self.journalRetentionDays) else {
            throw SettingsError(key: "journal.retentionDays", problem: "\(self.journalRetentionDays) days", fix: "use 1 to 3650")
        }
        for (key, value) in [("timeouts.cards", self.timeouts.cards), ("timeouts.confirm", self.timeouts.confirm), ("timeouts.pinEntry", self.timeouts.pinEntry), ("timeouts.takeCards", self.timeouts.takeCards)] {
            guard (5...900).contains(value) else { throw SettingsError(key: key, problem: "\(value) s", fix: "use 5 to 900 seconds") }
            guard value > self.timeouts.warning else {
                throw SettingsError(key: key, problem: "\(value) s is not longer than timeouts.warning (\(self.timeouts.warning) s)", fix: "raise it or lower timeouts.warning")
            }
        }
        guard ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(self.logLevel) else {
            throw SettingsError(key: "logging.level", problem: "\"\(self.logLevel)\"", fix: "use trace, debug, info, notice, warning, error or critical")
        }
        guard self.socketPath.hasPrefix("/"), self.journalPath.hasPrefix("/") else {
            throw SettingsError(key: self.socketPath.hasPrefix("/") ? "journal.path" : "socket.path", problem: "not an absolute path", fix: "use an absolute path")
        }
        if let port = self.metricsPort, !(0...65535).contains(port) {
            throw SettingsError(key: "metrics.port", problem: "\(port) is not a TCP port", fix: "use 1 to 65535, or leave it unset to turn the endpoint off")
        }
        guard Self.isLoopback(self.metricsAddress) else {
            throw SettingsError(
                key: "metrics.address", problem: "\(self.metricsAddress) is not a loopback address",
                fix: "use 127.0.0.1 or ::1 (scrape through a local agent; the kiosk's metrics do not leave the machine)")
        }
        if let profile = self.bankProfile, !FileManager.default.isReadableFile(atPath: profile) {
            throw SettingsError(key: "bank.profile", problem: "\(profile) cannot be read", fix: "install the bank's profile there or correct the path")
        }
    }

    /// `127.0.0.0/8`, `::1` or `localhost`, checked on the parsed address (not the text). The metrics
    /// endpoint refuses anything else too.
    public static func isLoopback(_ host: String) -> Bool {
        let text = host == "localhost" ? "127.0.0.1" : host
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: v4) { $0.first == 127 } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: v6) { $0.elementsEqual([UInt8](repeating: 0, count: 15) + [1]) } }
        return false
    }

    /// The resolved settings, one `key: value` per line (nothing secret is a setting here: keys live in
    /// files the bank profile names, and only their paths show).
    public var rendered: String {
        var lines: [String] = []
        func add(_ key: String, _ value: Any?) { lines.append("\(key): \(value.map { "\($0)" } ?? "(not set)")") }
        add("mode", self.mode)
        add("(file)", self.configurationFile ?? "none read")
        add("readers.card", self.cardReader)
        add("readers.psam", self.psamReader)
        add("idModule.device", self.idDevice)
        add("idModule.baudRate", self.idBaudRate)
        add("pinPad.kind", self.pinPad)
        if self.pinPad == "xfs4iot" {
            if let host = self.pinPadDiscoverHost {
                add("pinPad.discoverHost", host)
                add("pinPad.serviceName", self.pinPadServiceName)
            } else {
                add("pinPad.url", self.pinPadURL ?? "")
            }
            add("pinPad.masterKeyName", self.pinPadMasterKeyName)
            add("pinPad.pinKeyNames", self.pinPadKeyNames.joined(separator: ","))
            add("pinPad.rotation", self.pinPadRotation)
        }
        add("identityVerifier", self.identityVerifier)
        add("bank.profile", self.bankProfile)
        add("journal.path", self.journalPath)
        add("journal.retentionDays", self.journalRetentionDays)
        add("journal.hashKeyFile", self.journalHashKeyFile ?? self.journalPath + ".hashkey")
        add("resolver", "a round every \(self.resolverIntervalSeconds) s, \(self.resolverPerRound) at most, \(self.resolverConcurrency) at a time")
        add("socket.path", self.socketPath)
        add("socket.group", self.socketGroup)
        add("socket.allowUIDs", self.allowedUIDs.map(String.init).joined(separator: ","))
        add("socket.allowGIDs", self.allowedGIDs.map(String.init).joined(separator: ","))
        add("socket.operatorUIDs", self.operatorUIDs.map(String.init).joined(separator: ","))
        add("socket.operatorGIDs", self.operatorGIDs.map(String.init).joined(separator: ","))
        add("metrics", self.metricsPort.map { "http://\(self.metricsAddress):\($0)/metrics" } ?? "off (socket command Operations.Metrics only)")
        add("timeouts", "cards \(self.timeouts.cards) s, confirm \(self.timeouts.confirm) s, pinEntry \(self.timeouts.pinEntry) s, takeCards \(self.timeouts.takeCards) s, warning \(self.timeouts.warning) s")
        add("logging.level", self.logLevel)
        return lines.joined(separator: "\n")
    }
}

/// A setting that cannot work: the key, what is wrong, and the fix.
public struct SettingsError: Error, Hashable, Sendable, CustomStringConvertible {
    public let key: String
    public let problem: String
    public let fix: String
    public init(key: String, problem: String, fix: String) {
        self.key = key
        self.problem = problem
        self.fix = fix
    }
    public var description: String { "configuration \(self.key): \(self.problem); \(self.fix)" }
}
