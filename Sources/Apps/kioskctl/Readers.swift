import APDU
import ArgumentParser
import Bytes
import CardCore
import Foundation
import KioskClient
import KioskProtocol
import PCSC

/// `kioskctl readers`: every reader with its state and the card's ATR, as kioskd sees them (`Readers.List`
/// over the kiosk socket), or straight from pcscd with `--pcsc`.
struct Readers: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the readers, their state and the card's ATR (from kioskd; --pcsc asks pcscd directly).")

    @Option(help: "The kiosk socket.") var socket = KioskSocketClient.defaultPath
    @Flag(help: "Ask pcscd directly instead of kioskd (when kioskd is not running).") var pcsc = false
    @Flag(help: "Print a JSON array of {name, cardPresent, atr, cardMute, exclusive[, role]}.")
    var json = false

    func run() async throws {
        let readers: [ReaderJSON]
        if self.pcsc {
            readers = try await withPCSCSystem { try await $0.readers() }.map(ReaderJSON.init)
        } else {
            let client = try KioskSocketClient(path: self.socket)
            defer { client.close() }
            let answer = try await client.call("Readers.List")
            guard answer.header.completionCode == .success else {
                throw SocketClientError("Readers.List: \(answer.header.completionCode?.rawValue ?? answer.header.status ?? "?"): \(answer.header.errorDescription ?? "")")
            }
            readers = (answer.payload["readers"]?.array ?? []).map(ReaderJSON.init)
        }
        if self.json {
            print(try JSONOutput.encode(readers))
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
                state = "card  ATR \(reader.atr.map { Hex.encode((try? Hex.decode($0)) ?? [], separator: " ") } ?? "?")" + (reader.exclusive ? "  (in exclusive use)" : "")
            } else {
                state = "empty"
            }
            let role = reader.role.map { ["socialSecurityCard": "  [social security card]", "psam": "  [PSAM]"][$0] ?? "" } ?? ""
            print("\(name)  \(state)\(role)")
        }
    }
}

struct ReaderJSON: Encodable {
    let name: String
    let cardPresent: Bool
    let atr: String?
    let cardMute: Bool
    let exclusive: Bool
    /// What kioskd uses the reader for (only from kioskd).
    let role: String?

    init(_ info: ReaderInfo) {
        self.name = info.name
        self.cardPresent = info.cardPresent
        self.atr = info.atr.map { Hex.encode($0) }
        self.cardMute = info.cardMute
        self.exclusive = info.inUseExclusively
        self.role = nil
    }

    /// A reader of `Readers.List`.
    init(_ value: JSONValue) {
        self.name = value["name"]?.string ?? "?"
        self.cardPresent = value["cardPresent"]?.bool ?? false
        self.atr = value["atr"]?.string
        self.cardMute = value["cardMute"]?.bool ?? false
        self.exclusive = value["exclusive"]?.bool ?? false
        self.role = value["role"]?.string
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.name, forKey: .name)
        try container.encode(self.cardPresent, forKey: .cardPresent)
        try container.encode(self.atr, forKey: .atr)  // null when absent, not omitted
        try container.encode(self.cardMute, forKey: .cardMute)
        try container.encode(self.exclusive, forKey: .exclusive)
        try container.encodeIfPresent(self.role, forKey: .role)
    }

    enum CodingKeys: String, CodingKey { case name, cardPresent, atr, cardMute, exclusive, role }
}

enum JSONOutput {
    static func encode<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}
