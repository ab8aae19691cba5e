import APDU
import ArgumentParser
import Bytes
import CardCore
import Foundation
import KioskClient
import KioskProtocol
import PCSC

/// `kioskctl watch`: what happens at the kiosk as it happens, until Ctrl-C: kioskd's unsolicited events
/// (readers, cards, the reader service, activation stages) over the kiosk socket, or pcscd's reader events
/// directly with `--pcsc`.
struct Watch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print reader, card and activation events as they happen, until Ctrl-C.")

    @Option(help: "The kiosk socket.") var socket = KioskSocketClient.defaultPath
    @Flag(help: "Watch pcscd directly instead of kioskd.") var pcsc = false
    @Flag(help: "One JSON object per line (kioskd: the protocol messages as sent; --pcsc: {time, event, reader, atr, reason}).")
    var json = false

    struct Line: Encodable {
        let time: String
        let event: String
        let reader: String?
        let atr: String?
        let reason: String?
    }

    func run() async throws {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        guard self.pcsc else { return try await self.watchDaemon(formatter) }
        if !self.json { emitLine("watching PC/SC readers (Ctrl-C to stop)") }
        for await event in PCSCSystem().events() {
            let time = formatter.string(from: Date())
            if self.json {
                emitLine(try JSONOutput.encode(Self.line(event, time: time)))
            } else {
                emitLine("\(time)  \(event)")
            }
        }
    }

    /// Prints kioskd's unsolicited events; a `Common.Status` a minute keeps the connection from idling out.
    private func watchDaemon(_ formatter: ISO8601DateFormatter) async throws {
        let client = try KioskSocketClient(path: self.socket)
        defer { client.close() }
        let first = client.send("Common.Status")
        let keepAlive = Task {
            while !Task.isCancelled {
                try await Task.sleep(for: .seconds(60))
                client.send("Common.Status")
            }
        }
        defer { keepAlive.cancel() }
        for await message in client.stream() {
            let time = formatter.string(from: Date())
            if message.header.requestId == first && message.header.type == .completion && !self.json {
                emitLine("watching kioskd at \(self.socket) (Ctrl-C to stop)")
                emitLine("\(time)  status  \(render(message.payload))")
            }
            guard message.header.type == .unsolicited else { continue }
            if self.json {
                emitLine(String(decoding: KioskProtocol.encode(message).dropLast(), as: UTF8.self))
            } else {
                emitLine("\(time)  \(Self.describe(message))")
            }
        }
        throw SocketClientError("kioskd closed the connection")
    }

    /// One readable line for an unsolicited message.
    static func describe(_ message: KioskMessage) -> String {
        let p = message.payload
        switch message.header.name {
        case "Common.StatusChangedEvent":
            return [p["event"]?.string, p["reader"]?.string.map { "reader \"\($0)\"" }].compactMap { $0 }.joined(separator: "  ")
        case "Activation.StateChangedEvent":
            let stage = p["stage"]?.string ?? "?"
            return stage == "ended" ? "activation ended: \(p["end"]?.string ?? "?")" : "activation: \(stage)"
        default:
            return "\(message.header.name)  \(render(p))"
        }
    }

    static func line(_ event: ReaderEvent, time: String) -> Line {
        switch event {
        case .readerAttached(let reader): return Line(time: time, event: "readerAttached", reader: reader, atr: nil, reason: nil)
        case .readerDetached(let reader): return Line(time: time, event: "readerDetached", reader: reader, atr: nil, reason: nil)
        case .cardInserted(let reader, let atr):
            return Line(time: time, event: "cardInserted", reader: reader, atr: Hex.encode(atr), reason: nil)
        case .cardRemoved(let reader): return Line(time: time, event: "cardRemoved", reader: reader, atr: nil, reason: nil)
        case .cardMute(let reader): return Line(time: time, event: "cardMute", reader: reader, atr: nil, reason: nil)
        case .serviceOffline(let reason): return Line(time: time, event: "serviceOffline", reader: nil, atr: nil, reason: reason)
        case .serviceOnline: return Line(time: time, event: "serviceOnline", reader: nil, atr: nil, reason: nil)
        }
    }
}
