import APDU
import ArgumentParser
import CardCore
import Foundation
import PCSC

/// `kioskctl readers`: every PC/SC reader with its state and the card's ATR.
struct Readers: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List PC/SC readers, their state and the card's ATR.")

    @Flag(help: "Print a JSON array of {name, cardPresent, atr, cardMute, exclusive}.")
    var json = false

    func run() async throws {
        let readers = try await withPCSCSystem { try await $0.readers() }
        if self.json {
            print(try JSONOutput.encode(readers.map(ReaderJSON.init)))
            return
        }
        if readers.isEmpty {
            print("no readers (is the reader plugged in? `pcsc_scan -r` shows what pcscd sees)")
            return
        }
        let width = readers.map(\.name.count).max() ?? 0
        for reader in readers {
            let name = reader.name.padding(toLength: width, withPad: " ", startingAt: 0)
            let state: String
            if reader.cardMute {
                state = "card (mute: no answer to reset)"
            } else if reader.cardPresent {
                state = "card  ATR \(reader.atr.map { Hex.encode($0, separator: " ") } ?? "?")"
                    + (reader.inUseExclusively ? "  (in exclusive use)" : "")
            } else {
                state = "empty"
            }
            print("\(name)  \(state)")
        }
    }
}

struct ReaderJSON: Encodable {
    let name: String
    let cardPresent: Bool
    let atr: String?
    let cardMute: Bool
    let exclusive: Bool

    init(_ info: ReaderInfo) {
        self.name = info.name
        self.cardPresent = info.cardPresent
        self.atr = info.atr.map { Hex.encode($0) }
        self.cardMute = info.cardMute
        self.exclusive = info.inUseExclusively
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.name, forKey: .name)
        try container.encode(self.cardPresent, forKey: .cardPresent)
        try container.encode(self.atr, forKey: .atr)  // null when absent, not omitted
        try container.encode(self.cardMute, forKey: .cardMute)
        try container.encode(self.exclusive, forKey: .exclusive)
    }

    enum CodingKeys: String, CodingKey { case name, cardPresent, atr, cardMute, exclusive }
}

enum JSONOutput {
    static func encode<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}
