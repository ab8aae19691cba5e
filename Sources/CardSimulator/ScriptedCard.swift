public import APDU
import Foundation
import Synchronization

/// A card that answers from a table of exact commands, as recorded in a trace. Unknown commands get
/// `6D00` (instruction not supported). Useful to reproduce a field problem from a log.
///
/// Trace format (one exchange per line, `#` starts a comment): `<command hex> => <response hex>`, e.g.
/// `00A4040007A0000003330101 => 6F10...9000`. A line `ATR <hex>` sets the answer to reset.
public final class ScriptedCard: VirtualCard {
    public let atr: [UInt8]
    private let table: [[UInt8]: [UInt8]]
    private let log = Mutex<[[UInt8]]>([])

    public init(atr: [UInt8], exchanges: [[UInt8]: [UInt8]]) {
        self.atr = atr
        self.table = exchanges
    }

    /// Parses a trace (see the type's description).
    /// - Throws: ``APDUError`` naming the bad line's number in its reason.
    public convenience init(trace: String) throws(APDUError) {
        var atr: [UInt8] = [0x3B, 0x00]
        var table: [[UInt8]: [UInt8]] = [:]
        for (number, rawLine) in trace.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let text = line.trimmingCharacters(in: .whitespaces)
            if text.isEmpty { continue }
            if text.hasPrefix("ATR") {
                atr = try Hex.decode(String(text.dropFirst(3)))
                continue
            }
            let parts = text.components(separatedBy: "=>")
            guard parts.count == 2 else {
                throw APDUError(.invalidParameter, reason: "line \(number + 1): expected `<command> => <response>`")
            }
            let response = try Hex.decode(parts[1])
            guard response.count >= 2 else {
                throw APDUError(.truncated, reason: "line \(number + 1): a response needs SW1 SW2")
            }
            table[try Hex.decode(parts[0])] = response
        }
        self.init(atr: atr, exchanges: table)
    }

    public func reset() {}

    public func process(_ command: [UInt8]) -> [UInt8]? {
        self.log.withLock { $0.append(command) }
        return self.table[command] ?? [0x6D, 0x00]
    }

    /// Every command received so far, in order.
    public var received: [[UInt8]] { self.log.withLock { $0 } }
}

