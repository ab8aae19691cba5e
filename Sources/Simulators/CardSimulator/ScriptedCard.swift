public import APDU
import Bytes
import Foundation
import Synchronization

/// A card that answers from a table of exact commands, as recorded in a trace. Unknown commands get
/// `6D00` (instruction not supported). Useful to reproduce a field problem from a log.
///
/// A command recorded several times (`GET RESPONSE`, the same READ RECORD in two applications) gets its
/// answers in recorded order; after the last one it keeps giving the last. A reset starts over.
///
/// Trace format (one exchange per line, `#` starts a comment): `<command hex> => <response hex>`, e.g.
/// `00A4040007A0000003330101 => 6F10...9000`. A line `ATR <hex>` sets the answer to reset.
public final class ScriptedCard: VirtualCard {
    public let atr: [UInt8]
    private let table: [[UInt8]: [[UInt8]]]
    private let log = Mutex<[[UInt8]]>([])
    private let cursors = Mutex<[[UInt8]: Int]>([:])

    /// One answer per command.
    public convenience init(atr: [UInt8], exchanges: [[UInt8]: [UInt8]]) {
        self.init(atr: atr, sequences: exchanges.mapValues { [$0] })
    }

    /// Answers per command, given in order.
    public init(atr: [UInt8], sequences: [[UInt8]: [[UInt8]]]) {
        self.atr = atr
        self.table = sequences
    }

    /// Parses a trace (see the type's description).
    /// - Throws: ``APDUError`` naming the bad line's number in its reason.
    public convenience init(trace: String) throws(APDUError) {
        var atr: [UInt8] = [0x3B, 0x00]
        var table: [[UInt8]: [[UInt8]]] = [:]
        for (number, rawLine) in trace.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            func hex(_ text: String) throws(APDUError) -> [UInt8] {
                do throws(HexError) {
                    return try Hex.decode(text)
                } catch {
                    throw APDUError(.invalidHex, offset: error.offset, reason: "line \(number + 1): \(error.reason)")
                }
            }
            let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let text = line.trimmingCharacters(in: .whitespaces)
            if text.isEmpty { continue }
            if text.hasPrefix("ATR") {
                atr = try hex(String(text.dropFirst(3)))
                continue
            }
            let parts = text.components(separatedBy: "=>")
            guard parts.count == 2 else {
                throw APDUError(.invalidParameter, reason: "line \(number + 1): expected `<command> => <response>`")
            }
            let response = try hex(parts[1])
            guard response.count >= 2 else {
                throw APDUError(.truncated, reason: "line \(number + 1): a response needs SW1 SW2")
            }
            table[try hex(parts[0]), default: []].append(response)
        }
        self.init(atr: atr, sequences: table)
    }

    public func reset() { self.cursors.withLock { $0 = [:] } }

    public func process(_ command: [UInt8]) -> [UInt8]? {
        self.log.withLock { $0.append(command) }
        guard let answers = self.table[command] else { return [0x6D, 0x00] }
        let index = self.cursors.withLock { cursors in
            let index = cursors[command, default: 0]
            cursors[command] = index + 1
            return index
        }
        return answers[min(index, answers.count - 1)]
    }

    /// Every command received so far, in order.
    public var received: [[UInt8]] { self.log.withLock { $0 } }
}

