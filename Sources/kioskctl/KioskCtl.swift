import ArgumentParser
import Foundation

@main
struct KioskCtl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kioskctl",
        abstract: "CardKiosk control: readers, social security cards, ID cards, and virtual cards.",
        subcommands: [Readers.self, APDUCommand.self, CardCommand.self, IDCardCommand.self, Watch.self, VirtualCardCommand.self]
    )
}

/// Writes a line to standard output at once (no stdio buffering), for streaming commands.
func emitLine(_ text: String) {
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
}
