public import ArgumentParser
import CardCore
import CardSimulator
public import Logging
import PCSC
import ServiceLifecycle
import UnixSignals

/// The kiosk daemon. For now: it watches the readers (PC/SC, or the mock reader) and logs what happens;
/// `--mock --demo` runs one whole activation with a scripted customer so a person can watch every step.
@main
struct Kioskd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kioskd",
        abstract: "CardKiosk daemon: social security card bank activation kiosk backend."
    )

    @Flag(help: "Use the in-process mock reader instead of pcscd.")
    var mock = false

    @Flag(help: "With --mock: a scripted customer does one whole activation against the simulated bank, then the daemon stops.")
    var demo = false

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    func validate() throws {
        if self.demo && !self.mock { throw ValidationError("--demo needs --mock") }
    }

    func run() async throws {
        let level = self.logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardOutput(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "kioskd")
        let system: any SmartCardSystem
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if self.mock {
            let mockSystem = MockCardSystem(readers: [DemoService.reader, DemoService.psamReader])
            system = mockSystem
            if self.demo {
                services.append(.init(
                    service: DemoService(system: mockSystem, logger: logger), successTerminationBehavior: .gracefullyShutdownGroup))
            }
        } else {
            system = PCSCSystem()
        }
        services.insert(.init(service: ReaderWatchService(system: system, logger: logger)), at: 0)
        logger.info("kioskd starting", metadata: ["readers": "\(self.mock ? "mock" : "pcsc")"])
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        logger.info("kioskd stopped")
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
