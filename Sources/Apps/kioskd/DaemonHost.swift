import Activation
import BankGateway
import Bytes
import CardCore
import Foundation
import Journal
import KioskDevices
import KioskProtocol
import KioskService
import Logging
import Metrics
import Prometheus
import ResidentIDCard
import SocialSecurityCard
import Synchronization
import XFS4IoTClient
import XFS4IoTPINPad

/// The daemon's side of the kiosk socket: its readers and its journal; and a new flow with the devices
/// attached for each activation (``makeActivation(language:)``, called by the ``ActivationService``).
final class DaemonHost: KioskHost {
    let system: any SmartCardSystem
    let journal: any ActivationStore
    let executor: ActivationExecutor
    let pinPad: any PINPad
    /// The EPP, when the PIN pad is one (`pinPad.kind: xfs4iot`): its state is part of the status, and a
    /// kiosk whose EPP cannot take a PIN refuses new activations as out of service.
    let epp: XFS4IoTPINPad?
    let verifier: any IdentityVerifier
    let cardReader: String
    let psamReader: String?
    /// The PSAM session for 3.00 cards: one for the daemon's life, shared by every flow, closed by ``close()``.
    let psam: PSAMSecurityModule?
    let idModule: IDCardModule?
    let logger: Logger
    let timeouts: FlowTimeouts
    /// Where the daemon's metrics are collected (MetricsSystem is bootstrapped with it).
    let registry: PrometheusCollectorRegistry?

    init(
        system: any SmartCardSystem, journal: any ActivationStore, executor: ActivationExecutor, pinPad: any PINPad, verifier: any IdentityVerifier,
        cardReader: String, psamReader: String?, idModule: IDCardModule?, timeouts: FlowTimeouts = FlowTimeouts(), logger: Logger,
        registry: PrometheusCollectorRegistry? = nil
    ) {
        self.registry = registry
        self.system = system
        self.journal = journal
        self.executor = executor
        self.pinPad = pinPad
        self.epp = pinPad as? XFS4IoTPINPad
        self.verifier = verifier
        self.cardReader = cardReader
        self.psamReader = psamReader
        self.psam = psamReader.map { PSAMSecurityModule(system: system, reader: $0) }
        self.idModule = idModule
        self.timeouts = timeouts
        self.logger = logger
    }

    func status() async -> JSONValue {
        let readers = (try? await self.system.readers()) ?? []
        return [
            "device": self.journal.stoppedReason == nil ? "online" : "hardwareError",
            "readerService": readers.isEmpty ? "noReaders" : "online",
            "cardReader": ["name": .string(self.cardReader), "media": readers.first { $0.name == self.cardReader }?.cardPresent == true ? "present" : "notPresent"],
            "journal": .string(self.journal.stoppedReason.map { "stopped: \($0)" } ?? "ok"),
            "bank": .string("\(self.executor.gateway.profile.name) (\(self.executor.gateway.profile.kind))"),
            "pinPad": self.pinPadStatus(),
        ]
    }

    /// The PIN pad in `Common.Status`: for the EPP its connection, device state, encryption state (no master
    /// key = `notInitialized`), PIN key and why it is not ready.
    func pinPadStatus() -> JSONValue {
        guard let epp = self.epp else { return ["kind": "simulated", "ready": true] }
        return Self.pinPadStatus(epp, epp.health)
    }

    static func pinPadStatus(_ epp: XFS4IoTPINPad, _ health: EPPHealth) -> JSONValue {
        [
            "kind": "xfs4iot", "service": .string("\(epp.connection.endpoint)"), "connection": .string(health.connection),
            "device": health.device.map { .string($0) } ?? .null, "encryptionState": health.encryptionState.map { .string($0) } ?? .null,
            "pinKey": health.pinKey.map { .string($0) } ?? .null, "ready": .bool(health.isReady),
            "problem": health.notReadyReason.map { .string($0) } ?? .null,
        ]
    }

    /// The EPP's changes as `Common.StatusChangedEvent` payloads (`pinPadChanged` with the `pinPad` status).
    func deviceStatusChanges() -> (any AsyncSequence<JSONValue, Never> & Sendable)? {
        guard let epp = self.epp else { return nil }
        return epp.healthChanges().map { @Sendable health -> JSONValue in ["event": "pinPadChanged", "pinPad": Self.pinPadStatus(epp, health)] }
    }

    /// Why a customer cannot be served now (the EPP not ready), or `nil`.
    func notReadyReason() -> String? { self.epp?.health.notReadyReason.map { "PIN pad: \($0)" } }

    func deviceInformation() -> JSONValue {
        ["model": "CardKiosk kioskd", "software": .string("kioskd protocol \(KioskProtocol.version)"), "bankGateway": .string(self.executor.gateway.profile.kind)]
    }

    func readers() async throws -> JSONValue {
        .array(
            try await self.system.readers().map { reader in
                [
                    "name": .string(reader.name), "cardPresent": .bool(reader.cardPresent), "atr": reader.atr.map { .string(Hex.encode($0)) } ?? .null,
                    "cardMute": .bool(reader.cardMute), "exclusive": .bool(reader.inUseExclusively),
                    "role": .string(reader.name == self.cardReader ? "socialSecurityCard" : reader.name == self.psamReader ? "psam" : "other"),
                ]
            })
    }

    /// A new flow with the devices that feed it, for the ``ActivationService``; `nil` once the journal
    /// stopped. The terminal ID and PIN-block format are the gateway's, read here once.
    func makeActivation(language: CustomerLanguage) -> ActivationRun? {
        guard self.journal.stoppedReason == nil else { return nil }
        let configuration = FlowConfiguration(
            terminalID: self.executor.gateway.profile.terminalID, pinBlockFormat: self.executor.gateway.capabilities.pinBlockFormat, timeouts: self.timeouts)
        let flow = ActivationFlow(executor: self.executor, audit: self.journal, pinPad: self.pinPad, verifier: self.verifier, configuration: configuration)
        let devices = FlowDevices(
            system: self.system, cardReader: self.cardReader, securityModule: self.psam, idWatcher: self.idModule.map { IDCardWatcher(module: $0) })
        return ActivationRun(flow: flow, devices: { await devices.drive($0) })
    }

    /// Closes the PSAM session (at shutdown, after the last flow).
    func close() async { await self.psam?.close() }

    func metricsText() -> String { self.registry?.emitToString() ?? "" }

    func settle(key: String, applied: Bool, operator name: String, uid: UInt32, note: String?) async throws(JournalError) {
        try await self.executor.settleByOperator(key, applied: applied, operator: name, uid: uid, note: note)
    }

    /// The reader events as `Common.StatusChangedEvent` payloads (and the reader-online gauge), mapped from
    /// the smart-card system's fan-out as they are read: no task of its own.
    func statusChanges() -> any AsyncSequence<JSONValue, Never> & Sendable {
        self.system.events().map { @Sendable event -> JSONValue in
            switch event {
            case .readerAttached(let name): Gauge(label: "kiosk_reader_online", dimensions: [("reader", name)]).record(1)
            case .readerDetached(let name): Gauge(label: "kiosk_reader_online", dimensions: [("reader", name)]).record(0)
            default: break
            }
            return switch event {
            case .readerAttached(let name): ["event": "readerAttached", "reader": .string(name)]
            case .readerDetached(let name): ["event": "readerDetached", "reader": .string(name)]
            case .cardInserted(let name, _): ["event": "mediaPresent", "reader": .string(name)]
            case .cardRemoved(let name): ["event": "mediaNotPresent", "reader": .string(name)]
            case .cardMute(let name): ["event": "mediaMute", "reader": .string(name)]
            case .serviceOffline: ["event": "readerServiceOffline"]
            case .serviceOnline: ["event": "readerServiceOnline"]
            }
        }
    }
}
