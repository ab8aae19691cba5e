public import ArgumentParser
import Activation
import ActivationSimulators
import BankGateway
import BankHTTP
import BankSimulator
import Bytes
import CardCore
import CardSimulator
import Foundation
import IDModuleSimulator
import ISO8583Gateway
import Journal
import KioskService
import KioskSettings
import Metrics
import MetricsEndpoint
import Prometheus
public import Logging
import PCSC
import ResidentIDCard
import ServiceLifecycle
import SystemdSupport
import UnixSignals
import XFS4IoTClient
import XFS4IoTPINPad
import VirtualCards

/// The kiosk daemon: serves the kiosk socket (protocol v1) that the kiosk screen and `kioskctl` use,
/// runs activations with the configured readers, ID module, PIN pad and bank, and settles unfinished
/// activations at start-up before it reports ready. `--mock` uses the in-process mock reader and an ID-module
/// simulator on a pty, driven through `--sim-control`. The PIN pad is always the EPP's XFS4IoT service
/// (`kiosk-epp-sim` in tests and the demo, `scripts/demo.sh`): no PIN digit ever enters kioskd.
@main
struct Kioskd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kioskd",
        abstract: "CardKiosk daemon: social security card bank activation kiosk backend.",
        discussion: """
            Simulator control (--mock, --sim-control PATH), one command per line: card insert NAME|FILE.json, card remove,
            id place demo|FILE.json, id remove, latency card|id MS, stats. PIN keys are pressed on the EPP (kiosk-epp-sim --control).
            """
    )

    @Flag(help: "Use the in-process mock reader and an ID-module simulator (test mode); the PIN pad is still the EPP service (pinPad.url).")
    var mock = false

    @Flag(help: "Test mode with the configured readers and ttys: simulated banks, verifiers and test keys are allowed, and every status and result says TEST. Also mode: test, KIOSKD_MODE=test.")
    var test = false


    @Option(help: "The kiosk socket.") var socket: String?
    @Option(help: "The activation journal (SQLite).") var journal: String?
    @Option(help: "A bank profile (JSON); without one, the in-process simulated bank.") var bankProfile: String?
    @Option(help: "The PC/SC reader that holds the social security card.") var cardReader: String?
    @Option(help: "The PC/SC reader that holds the PSAM (3.00 cards).") var psamReader: String?
    @Option(help: "The ID-card module's serial device.") var idDevice: String?
    @Option(help: "The simulated devices' control socket: the simulated PIN pad, and with --mock the mock reader and ID module.") var simControl: String?
    @Option(help: "Identity verification before the bank call: simulated-accept or simulated-reject (a face-comparison or clerk service plugs in here).")
    var identityVerifier: String?
    @Option(help: "Peer user IDs allowed on the kiosk socket (repeatable; none = anyone who can open it).") var allowUID: [UInt32] = []
    @Option(help: "Peer group IDs allowed on the kiosk socket (repeatable).") var allowGID: [UInt32] = []
    @Option(help: "Group owning the kiosk socket (numeric gid).") var socketGroup: UInt32?
    @Option(help: "Serve Prometheus' GET /metrics on this loopback port (0 = any free port; default: metrics.port, unset = off).")
    var metricsPort: Int?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical (default: logging.level).")
    var logLevel: Logger.Level?

    @Option(help: "The configuration file (YAML); the default one may be missing.") var config: String?
    @Flag(help: "Print the resolved configuration and exit (nonzero when it is not valid).") var checkConfig = false

    /// The mock reader and the PSAM's reader in `--mock` mode.
    static let mockReader = "Mock Reader 00 00"
    static let mockPSAMReader = "Mock PSAM 00 01"

    func validate() throws {
        if let verifier = self.identityVerifier, !["simulated-accept", "simulated-reject"].contains(verifier) {
            throw ValidationError("--identity-verifier: simulated-accept or simulated-reject")
        }
    }

    func run() async throws {
        var settings: KioskSettings
        do {
            settings = try await KioskSettings.load(file: self.config ?? "/etc/cardkiosk/kioskd.yaml", fileRequired: self.config != nil)
            if let port = self.metricsPort { settings.metricsPort = port }
            try settings.validate()
        } catch {
            FileHandle.standardError.write(Data("kioskd: \(error)\n".utf8))
            throw ExitCode(78)  // EX_CONFIG
        }
        let testMode = self.mock || self.test || settings.mode == "test"
        let profilePath = self.bankProfile ?? settings.bankProfile
        let loadedProfile: BankProfile?
        do { loadedProfile = try profilePath.map(BankProfile.load(path:)) } catch {
            FileHandle.standardError.write(Data("kioskd: bank profile \(profilePath ?? ""): \(error)\n".utf8))
            throw ExitCode(78)
        }
        let refusals = testMode ? [] : ProductionGuard.refusals(
            .init(settings: settings, profilePath: profilePath, profile: loadedProfile, simControl: self.simControl, identityVerifier: self.identityVerifier))
        // The gateway is built once before anything starts, so a profile it cannot use (a missing key file,
        // plain http:// off this machine) is a configuration error (78) that --check-config reports too.
        let bank = SimulatedBank()
        var registry = GatewayRegistry()
        registry.registerSimulator(bank: bank)
        registry.registerHTTPJSON()
        registry.registerISO8583()
        let profile = loadedProfile ?? SimulatorGateway.profile(responseMilliseconds: 10_000)
        var gatewayProblem: String?
        do {
            await (try registry.makeGateway(for: profile)).shutdown()
        } catch {
            gatewayProblem = "bank profile \(profilePath ?? "(the in-process simulator)"): \(error)"
        }
        if self.checkConfig {
            print(settings.rendered)
            print("effective mode: \(testMode ? "test (TEST MODE: nothing here is a real activation)" : "production")")
            for refusal in refusals { print("production refuses: \(refusal)") }
            if let gatewayProblem { print("error: \(gatewayProblem)") }
            if !refusals.isEmpty || gatewayProblem != nil { throw ExitCode(78) }
            return
        }
        if !refusals.isEmpty {
            FileHandle.standardError.write(Data("kioskd: production mode refuses to start (\(refusals.count) settings to fix):\n".utf8))
            for refusal in refusals { FileHandle.standardError.write(Data("kioskd: \(refusal)\n".utf8)) }
            throw ExitCode(78)  // EX_CONFIG
        }
        if let gatewayProblem {
            FileHandle.standardError.write(Data("kioskd: \(gatewayProblem)\n".utf8))
            throw ExitCode(78)  // EX_CONFIG
        }
        let level = self.logLevel ?? Logger.Level(rawValue: settings.logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = JournaldLogHandler(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "kioskd")
        if testMode {
            logger.warning("TEST MODE: simulated devices, simulated banks and test keys are allowed; no result of this daemon is a real activation")
        }

        // Command line over environment over file.
        let socketPath = self.socket ?? settings.socketPath
        let journalPath = self.journal ?? settings.journalPath

        let system: any SmartCardSystem
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        // The PIN pad: the kiosk's EPP through XFS4IoT. The clear PIN stays in the EPP; kioskd sees key counts
        // and the encrypted block.
        let endpoint: XFSEndpoint
        do { endpoint = try XFSEndpoint(url: settings.pinPadURL ?? "") } catch { throw ValidationError("pinPad.url: \(error)") }
        let eppSettings = EPPSettings(
            masterKeyName: settings.pinPadMasterKeyName, pinKeyNames: settings.pinPadKeyNames,
            rotation: EPPSettings.Rotation(rawValue: settings.pinPadRotation) ?? .replace, keyAlgorithm: settings.pinPadKeyAlgorithm,
            sm4PinFormat: settings.pinPadSM4Format)
        let connection: XFSConnection
        if let host = settings.pinPadDiscoverHost {
            // Found through the service publisher before every connection: a restarted service may move.
            let service = settings.pinPadServiceName
            connection = XFSConnection(
                endpoint: .publisher(host: host, port: XFSEndpoint.publisherPorts[2]),
                resolve: { try await XFSDiscovery.find(host: host, service: service, logger: logger) }, logger: logger)
        } else {
            connection = XFSConnection(endpoint: endpoint, logger: logger)
        }
        let pad = XFS4IoTPINPad(connection: connection, settings: eppSettings, logger: logger)
        let cardReader: String
        let psamReader: String?
        var idModule: IDCardModule?
        var simulator: IDModuleSimulator?
        if self.mock {
            let mockSystem = MockCardSystem(readers: [Self.mockReader, Self.mockPSAMReader])
            mockSystem.insert(VirtualPSAM(), into: Self.mockPSAMReader)
            system = mockSystem
            cardReader = Self.mockReader
            psamReader = Self.mockPSAMReader
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kioskd-mock-\(getpid())").path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let idSimulator = IDModuleSimulator(linkPath: directory + "/ttyID")
            try idSimulator.plug()
            simulator = idSimulator
            idModule = IDCardModule(device: idSimulator.linkPath)
            if let control = self.simControl {
                try SimulatorControl(path: control, system: mockSystem, cardReader: cardReader, idSimulator: idSimulator, logger: logger).start()
                logger.info("simulated devices' control socket ready", metadata: ["path": "\(control)"])
            }
        } else {
            guard let reader = self.cardReader ?? settings.cardReader else {
                throw ValidationError("configuration readers.card (or --card-reader) is needed without --mock (see `kioskctl readers`)")
            }
            system = PCSCSystem()
            cardReader = reader
            psamReader = self.psamReader ?? settings.psamReader
            idModule = (self.idDevice ?? settings.idDevice).map { IDCardModule(device: $0, baudRate: settings.idBaudRate) }
            if let control = self.simControl {
                try SimulatorControl(path: control, system: nil, cardReader: reader, idSimulator: nil, logger: logger).start()
            }
        }
        defer { simulator?.stop() }

        let gateway: any BankGateway
        do { gateway = try registry.makeGateway(for: profile) } catch { throw ValidationError("bank profile: \(error)") }
        try FileManager.default.createDirectory(atPath: (journalPath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let journal = try Journal(path: journalPath, hashKeyFile: settings.journalHashKeyFile)
        let purged = try await journal.purge(olderThanDays: settings.journalRetentionDays)
        if purged > 0 { logger.info("journal retention", metadata: ["purged": "\(purged)", "days": "\(settings.journalRetentionDays)"]) }
        let executor = ActivationExecutor(journal: journal, gateway: gateway)
        let metrics = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: metrics))
        let host = DaemonHost(
            system: system, journal: journal, executor: executor, pinPad: pad,
            verifier: SimulatedIdentityVerifier(
                answer: (self.identityVerifier ?? settings.identityVerifier) == "simulated-reject" ? .rejected("simulated verifier set to reject") : .verified),
            cardReader: cardReader,
            psamReader: psamReader, idModule: idModule,
            timeouts: FlowTimeouts(
                cards: .seconds(settings.timeouts.cards), confirm: .seconds(settings.timeouts.confirm), pinEntry: .seconds(settings.timeouts.pinEntry),
                takeCards: .seconds(settings.timeouts.takeCards), warning: .seconds(settings.timeouts.warning)),
            logger: logger, registry: metrics)
        let drain = min(executor.gateway.profile.timeouts.response + .seconds(5), .seconds(50))
        let activations = ActivationService(logger: logger, drain: drain, notReady: { host.notReadyReason() }) { language in
            host.makeActivation(language: language)
        }
        let server = KioskSocketServer(
            host: host, activations: activations, path: socketPath, group: (self.socketGroup ?? settings.socketGroup).map { gid_t($0) },
            limits: {
                var limits = ServerLimits(
                    allowedUIDs: Set(self.allowUID.isEmpty ? settings.allowedUIDs : self.allowUID),
                    allowedGIDs: Set(self.allowGID.isEmpty ? settings.allowedGIDs : self.allowGID))
                limits.operatorUIDs = Set(settings.operatorUIDs)
                limits.operatorGIDs = Set(settings.operatorGIDs)
                return limits
            }(),
            testMode: testMode)
        if server.limits.allowedUIDs.isEmpty && server.limits.allowedGIDs.isEmpty {
            logger.warning("socket.allowUIDs and socket.allowGIDs are empty: the kiosk socket's file mode and group alone decide who may drive activations", metadata: ["socket": "\(socketPath)"])
        }
        let notifier = SystemdNotifier()
        services.append(.init(service: ReaderWatchService(system: system, logger: logger)))
        services.append(.init(service: EPPService(pad: pad, gateway: gateway, logger: logger)))
        // Shut down in reverse order: the socket (which drains the activation first), then the activation service.
        services.append(.init(service: activations))
        services.append(.init(service: SocketService(server: server, executor: executor, notifier: notifier, logger: logger)))
        services.append(.init(service: ResolverService(
            executor: executor, interval: .seconds(settings.resolverIntervalSeconds), perRound: settings.resolverPerRound,
            concurrency: settings.resolverConcurrency, logger: logger)))
        if let interval = notifier.watchdogInterval { services.append(.init(service: WatchdogService(notifier: notifier, interval: interval))) }
        if let port = settings.metricsPort {
            let endpoint = MetricsHTTPServer(host: settings.metricsAddress, port: port) { metrics.emitToString() }
            services.append(.init(service: MetricsService(server: endpoint, logger: logger)))
        }
        logger.info("kioskd starting", metadata: ["mode": "\(testMode ? "TEST" : "production")", "readers": "\(self.mock ? "mock" : "pcsc")", "socket": "\(socketPath)", "journal": "\(journalPath)", "bank": "\(profile.name) (\(profile.kind))"])
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        var failure: (any Error)?
        do { try await group.run() } catch { failure = error }
        notifier.notify("STOPPING=1")
        await host.close()
        await gateway.shutdown()
        logger.info("kioskd stopped")
        if let failure { throw failure }
    }
}

/// Settles unfinished activations in the background: a round at start and then every `interval`, each
/// bounded (`perRound` activations, `concurrency` at a time), so it never delays readiness and a slow bank
/// never starves the watchdog (fed by its own service). Activations this process is sending or resolving
/// are left alone; a card with an unsettled activation stays refused until its round settles it.
struct ResolverService: Service {
    let executor: ActivationExecutor
    let interval: Duration
    let perRound: Int
    let concurrency: Int
    let logger: Logger

    func run() async throws {
        // Cancelled at shutdown (an inquiry or reversal cut short leaves its activation unknown for the next
        // start); it returns rather than throws, so the daemon still exits 0.
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do throws(ExecutionRefusal) {
                    let settled = try await self.executor.resolveRound(limit: self.perRound, concurrency: self.concurrency)
                    if !settled.isEmpty {
                        self.logger.info("resolver round", metadata: [
                            "looked at": "\(settled.count)", "settled": "\(settled.values.filter(\.isFinal).count)",
                            "stillUnknown": "\(settled.values.filter { !$0.isFinal }.count)",
                        ])
                    }
                } catch {
                    self.logger.error("resolver round failed", metadata: ["error": "\(error.operatorMessage)"])
                }
                try? await Task.sleep(for: self.interval)
            }
        }
    }
}

/// Serves the socket and tells systemd it is ready.
struct SocketService: Service {
    let server: KioskSocketServer
    let executor: ActivationExecutor
    let notifier: SystemdNotifier
    let logger: Logger

    func run() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                // systemd socket activation (kioskd.socket) passes the listening socket as fd 3.
                let activated = SystemdNotifier.listenFileDescriptors().first
                if activated != nil { self.logger.info("using the socket passed by systemd", metadata: ["fd": "3"]) }
                try await self.server.run(listeningSocket: activated, onReady: {
                    self.notifier.notify("READY=1\nSTATUS=serving \(self.server.path)")
                    self.logger.notice("ready", metadata: ["socket": "\(self.server.path)"])
                })
            }
            // Until shutdown (a cancelled group stops the server the same way).
            try? await gracefulShutdown()
            // A request already with the bank gets its answer journaled and shown before the socket closes
            // (bounded by the bank's response timeout; systemd's TimeoutStopSec=60s is above it).
            let drain = min(self.executor.gateway.profile.timeouts.response + .seconds(5), .seconds(50))
            self.notifier.notify("STATUS=stopping: finishing the activation with the bank, if any")
            // The watchdog service has stopped; keep systemd's watchdog fed while draining.
            let notifier = self.notifier
            await withDiscardingTaskGroup { draining in
                draining.addTask {
                    while let interval = notifier.watchdogInterval, (try? await Task.sleep(for: interval)) != nil { notifier.notify("WATCHDOG=1") }
                }
                await self.server.stop(drain: drain)
                draining.cancelAll()
            }
            // The server's run ends once its connections have their last messages.
            try await group.waitForAll()
        }
    }
}

/// Prometheus' scrape endpoint on loopback, until shutdown.
struct MetricsService: Service {
    let server: MetricsHTTPServer
    let logger: Logger

    func run() async throws {
        let port = try await self.server.start()
        self.logger.info("metrics endpoint ready", metadata: ["url": "http://\(self.server.host):\(port)/metrics"])
        try? await gracefulShutdown()
        await self.server.stop()
    }
}

/// Pings systemd's watchdog at half its interval while the daemon runs.
struct WatchdogService: Service {
    let notifier: SystemdNotifier
    let interval: Duration

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                self.notifier.notify("WATCHDOG=1")
                try await Task.sleep(for: self.interval)
            }
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
