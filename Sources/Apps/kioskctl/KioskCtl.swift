import ArgumentParser
import Foundation
import PCSC

@main
struct KioskCtl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kioskctl",
        abstract: "CardKiosk control: readers, social security cards, ID cards, and virtual cards.",
        subcommands: [
            Status.self, Activate.self, JournalCommand.self, MetricsCommand.self, Sim.self, Readers.self, APDUCommand.self, CardCommand.self, IDCardCommand.self, Watch.self,
            VirtualCardCommand.self,
        ]
    )
}

/// Writes a line to standard output at once (no stdio buffering), for streaming commands.
func emitLine(_ text: String) {
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
}

/// Runs `body` with a PC/SC system and shuts the system down afterwards, whatever happens: a short-lived
/// process must not exit while its context is still being released.
func withPCSCSystem<T>(_ body: (PCSCSystem) async throws -> T) async throws -> T {
    let system = PCSCSystem()
    do {
        let value = try await body(system)
        await system.shutdown()
        return value
    } catch {
        await system.shutdown()
        throw error
    }
}
