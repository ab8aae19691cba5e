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

/// The daemon's side of the kiosk socket: its readers, its journal, and a new flow with the devices
/// attached for each `Activation.Start`.
final class DaemonHost: KioskHost {
    let system: any SmartCardSystem
    let journal: any ActivationStore
    let executor: ActivationExecutor
    let pinPad: any PINPad
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
        ]
    }

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

    func startActivation(language: String) async -> ActivationFlow? {
        guard self.journal.stoppedReason == nil else { return nil }
        let flow = ActivationFlow(executor: self.executor, pinPad: self.pinPad, verifier: self.verifier, timeouts: self.timeouts)
        let devices = FlowDevices(
            system: self.system, cardReader: self.cardReader, securityModule: self.psam, idWatcher: self.idModule.map { IDCardWatcher(module: $0) })
        await flow.start()
        self.logger.info("activation started", metadata: ["flow": "\(flow.id)"])
        let logger = self.logger
        Task {
            await devices.drive(flow)
            let end = await flow.end
            let detail = await flow.endDetail
            logger.info("activation ended", metadata: ["flow": "\(flow.id)", "end": "\(end?.rawValue ?? "-")", "detail": "\(detail ?? "-")"])
        }
        return flow
    }

    /// Closes the PSAM session (at shutdown, after the last flow).
    func close() async { await self.psam?.close() }

    func metricsText() -> String { self.registry?.emitToString() ?? "" }

    func settle(key: String, applied: Bool, operator name: String, uid: UInt32, note: String?) async throws(JournalError) {
        try await self.executor.settleByOperator(key, applied: applied, operator: name, uid: uid, note: note)
    }

    func statusChanges() -> AsyncStream<JSONValue> {
        let events = self.system.events()
        return AsyncStream { continuation in
            let task = Task {
                for await event in events {
                    switch event {
                    case .readerAttached(let name): Gauge(label: "kiosk_reader_online", dimensions: [("reader", name)]).record(1)
                    case .readerDetached(let name): Gauge(label: "kiosk_reader_online", dimensions: [("reader", name)]).record(0)
                    default: break
                    }
                    let change: JSONValue =
                        switch event {
                        case .readerAttached(let name): ["event": "readerAttached", "reader": .string(name)]
                        case .readerDetached(let name): ["event": "readerDetached", "reader": .string(name)]
                        case .cardInserted(let name, _): ["event": "mediaPresent", "reader": .string(name)]
                        case .cardRemoved(let name): ["event": "mediaNotPresent", "reader": .string(name)]
                        case .cardMute(let name): ["event": "mediaMute", "reader": .string(name)]
                        case .serviceOffline: ["event": "readerServiceOffline"]
                        case .serviceOnline: ["event": "readerServiceOnline"]
                        }
                    continuation.yield(change)
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}
