import APDU
import ArgumentParser
import CardCore
import Foundation
import PCSC

/// `kioskctl watch`: reader and card events as they happen, until Ctrl-C.
struct Watch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print reader and card events as they happen, until Ctrl-C.")

    @Flag(help: "One JSON object per line: {time, event, reader, atr, reason}.")
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
