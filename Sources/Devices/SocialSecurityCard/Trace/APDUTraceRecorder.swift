import APDU
import Bytes
import Synchronization

/// Records a card read's exchanges for field diagnosis, with personal data replaced by synthetic
/// values of the same length, in the trace format ``CardSimulator/ScriptedCard`` replays
/// (`ATR <hex>`, `<command> => <response>`).
///
/// Off by default; switch it on per read (`kioskctl card read --trace FILE`). Redaction works on whole
/// answers: a `61xx` chain is held back until complete, redacted, and split again into its chunks.
/// What cannot be parsed in a context that may hold personal data is blanked entirely (fail closed).
public final class APDUTraceRecorder: Sendable {
    private struct State {
        var lines: [String] = []
        var context: TraceRedactor.Context = .none
        var pending: [(command: [UInt8], response: [UInt8])] = []
    }

    private let state = Mutex(State())

    public init() {}

    /// The trace so far, one line per exchange.
    public var lines: [String] { self.state.withLock { $0.lines } }

    /// The trace as text, ready to write to a file.
    public var text: String { self.lines.joined(separator: "\n") + "\n" }

    func begin(atr: [UInt8]) {
        self.state.withLock {
            $0.lines.append("# CardKiosk APDU trace; personal data replaced by synthetic values")
            $0.lines.append("ATR \(Hex.encode(atr))")
            $0.context = .none
        }
    }

    func end() {
        self.state.withLock { state in
            Self.flush(&state)
        }
    }

    /// One raw exchange; `response` is `nil` when the reader failed.
    func record(command: [UInt8], response: [UInt8]?) {
        self.state.withLock { state in
            guard let response else {
                Self.flush(&state)
                state.lines.append("# \(Hex.encode(TraceRedactor.redactCommand(command))) => (reader error)")
                return
            }
            state.pending.append((command, response))
            // A 61xx answer continues with GET RESPONSE: hold the chain until its last part.
            if response.count >= 2 && response[response.count - 2] == 0x61 && state.pending.count < 64 { return }
            Self.flush(&state)
        }
    }

    private static func flush(_ state: inout State) {
        guard let first = state.pending.first else { return }
        let parts = state.pending.map { Array($0.response.dropLast(2)) }
        let logical = parts.flatMap { $0 }
        state.context = TraceRedactor.context(after: first.command, current: state.context)
        let redacted = TraceRedactor.redactResponse(logical, command: first.command, context: state.context)
        var offset = 0
        for (index, exchange) in state.pending.enumerated() {
            let chunk = Array(redacted[offset..<offset + parts[index].count])
            offset += parts[index].count
            let sw = Array(exchange.response.suffix(2))
            state.lines.append("\(Hex.encode(TraceRedactor.redactCommand(exchange.command))) => \(Hex.encode(chunk + sw))")
        }
        state.pending.removeAll()
    }
}

/// The redaction rules, as pure functions.
public enum TraceRedactor {
    /// Which application the card has selected, as far as the trace can tell.
    public enum Context: Sendable, Hashable {
        case none, ssse, payment
    }

    /// A synthetic identity number with a valid check character (a well-known sample, not a person).
    static let syntheticID = Array("11010519491231002X".utf8)

    /// The context after `command` was sent.
    public static func context(after command: [UInt8], current: Context) -> Context {
        guard command.count >= 5, command[1] == 0xA4, command[2] == 0x04 else { return current }
        let name = Array(command.dropFirst(5).prefix(Int(command[4])))
        return name == SSSECodec.applicationName ? .ssse : .payment
    }

    /// VERIFY and CHANGE PIN data never appear in a trace.
    public static func redactCommand(_ command: [UInt8]) -> [UInt8] {
        guard command.count > 5, command[1] == 0x20 || command[1] == 0x24 || command[1] == 0x5E else { return command }
        return Array(command.prefix(5)) + [UInt8](repeating: 0xFF, count: command.count - 5)
    }

    /// The response data with personal data replaced (same length).
    public static func redactResponse(_ data: [UInt8], command: [UInt8], context: Context) -> [UInt8] {
        guard !data.isEmpty, command.count >= 2 else { return data }
        switch context {
        case .ssse where command[1] == 0xB2: return Self.redactSSSERecord(data)
        case .payment: return Self.redactBER(data)
        default: return data
        }
    }

    /// An SSSE record (`tag len value`): holder items replaced, issuer dates kept.
    public static func redactSSSERecord(_ data: [UInt8]) -> [UInt8] {
        guard let record = try? SSSECodec.record(data) else { return [UInt8](repeating: 0, count: data.count) }
        let length = record.value.count
        let replacement: [UInt8]
        switch record.tag {
        case 0x01: replacement = Array(record.value.prefix(8)) + [UInt8](repeating: 0, count: max(0, length - 8))
        case 0x07: replacement = Array("X".utf8) + [UInt8](repeating: 0x30, count: max(0, length - 1))
        case 0x08: replacement = Self.fitted(Self.syntheticID, length, pad: 0x30)
        case 0x09: replacement = Self.fitted([0xB2, 0xE2, 0xCA, 0xD4], length, pad: 0x00)  // 测试 in GBK
        case 0x4E: replacement = [UInt8](repeating: 0, count: length)
        case 0x0A: replacement = Self.fitted([0x32], length, pad: 0x00)
        case 0x0C: replacement = Self.fitted([0x11, 0x01, 0x05], length, pad: 0xFF)
        case 0x0D: replacement = Self.fitted([0x19, 0x49, 0x12, 0x31], length, pad: 0x00)
        default: return data
        }
        let headerLength = data[1] == 0x81 ? 3 : 2
        var out = data
        out.replaceSubrange(headerLength..<headerLength + length, with: replacement.prefix(length))
        return out
    }

    /// BER-TLV payment data: PAN, track data, names and ID numbers replaced. Unparseable data is
    /// blanked.
    public static func redactBER(_ data: [UInt8]) -> [UInt8] {
        guard let objects = try? TLV.parseAll(data, options: .emv) else { return [UInt8](repeating: 0, count: data.count) }
        let rebuilt = objects.map(Self.redact).flatMap(\.bytes)
        // Padding between objects and non-minimal lengths do not survive re-encoding: blank instead.
        guard rebuilt.count == data.count else { return [UInt8](repeating: 0, count: data.count) }
        return rebuilt
    }

    private static func redact(_ object: TLV) -> TLV {
        if !object.children.isEmpty { return TLV(tag: object.tag, children: object.children.map(Self.redact)) }
        let value = object.value
        let replaced: [UInt8]
        switch object.tag.value {
        case 0x5A: replaced = Self.syntheticPAN(value)
        case 0x57, 0x9F6B: replaced = Self.syntheticTrack2(value)
        case 0x5F20, 0x9F0B: replaced = Self.fitted(Array("CE/SHI".utf8), value.count, pad: 0x20)
        case 0x9F61: replaced = Self.fitted(Self.syntheticID, value.count, pad: 0x30)
        case 0x56, 0x9F1F, 0x9F20, 0x5F50, 0x9F4B, 0x9F4C: replaced = [UInt8](repeating: 0, count: value.count)
        default: return object
        }
        return TLV(tag: object.tag, value: replaced)
    }

    /// Digits `6200…` in place of the PAN's, `F` padding kept.
    static func syntheticPAN(_ value: [UInt8]) -> [UInt8] {
        var nibbleIndex = 0
        return value.map { byte in
            let high = Self.syntheticNibble(byte >> 4, &nibbleIndex)
            let low = Self.syntheticNibble(byte & 0x0F, &nibbleIndex)
            return high << 4 | low
        }
    }

    private static func syntheticNibble(_ nibble: UInt8, _ index: inout Int) -> UInt8 {
        defer { index += 1 }
        guard nibble <= 9 else { return nibble }
        return index == 0 ? 6 : index == 1 ? 2 : 0
    }

    /// Track 2: synthetic PAN digits up to the `D` separator, the expiry (4 digits) kept, the rest zeros.
    static func syntheticTrack2(_ value: [UInt8]) -> [UInt8] {
        var nibbles = BCD.nibbles(value)
        guard let separator = nibbles.firstIndex(of: 0x0D) else { return [UInt8](repeating: 0, count: value.count) }
        for index in nibbles.indices where index < separator { nibbles[index] = index == 0 ? 6 : index == 1 ? 2 : 0 }
        for index in nibbles.indices where index > separator + 4 && nibbles[index] != 0x0F { nibbles[index] = 0 }
        return BCD.pack(nibbles: nibbles)
    }

    static func fitted(_ bytes: [UInt8], _ length: Int, pad: UInt8) -> [UInt8] {
        Array(bytes.prefix(length)) + [UInt8](repeating: pad, count: max(0, length - bytes.count))
    }
}
