import APDU
import Bytes
import CardCore
import Identity
import SocialSecurityCard

/// libFuzzer entry point for the social security card's parsers: SSSE records, the SSSE FCI, GPO answers
/// (both formats), AFLs, DOLs, payment directories and records, track 2, GB18030 text, the trace
/// redactor, and a whole card read whose every answer comes from the input. The first byte picks the
/// target; every input must decode or throw a typed error, never crash.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let all = Array(UnsafeRawBufferPointer(start: start, count: count))
    guard let selector = all.first else { return 0 }
    let bytes = Array(all.dropFirst())
    switch selector % 8 {
    case 0:
        if let record = try? SSSECodec.record(bytes) { precondition(record.value.count <= bytes.count) }
        precondition(TraceRedactor.redactSSSERecord(bytes).count == bytes.count, "SSSE redaction changed the length")
    case 1:
        _ = SSSECodec.algorithmIdentifier(inFCI: bytes)
        _ = try? PBOCCodec.directorySFI(inFCI: bytes)
    case 2:
        if let options = try? PBOCCodec.processingOptions(bytes) {
            precondition(options.aip.count == 2)
            for entry in options.afl { precondition(entry.first >= 1 && entry.last >= entry.first && (1...30).contains(entry.sfi)) }
        }
    case 3:
        if let entries = try? PBOCCodec.dataObjectList(bytes) {
            let terminal = TerminalData(date: [0x26, 0x11, 0x29], time: [0, 0, 0], unpredictableNumber: [1, 2, 3, 4])
            let data = PBOCCodec.dolData(entries, terminal: terminal)
            precondition(data.count == entries.reduce(0) { $0 + $1.length }, "DOL data has the wrong length")
        }
    case 4:
        if let entries = try? PBOCCodec.directoryEntries(bytes) { _ = PBOCCodec.candidates(entries) }
        if let objects = try? PBOCCodec.recordObjects(bytes) { _ = try? BankApplicationReader.data(aid: [], objects: objects) }
        precondition(TraceRedactor.redactBER(bytes).count == bytes.count, "BER redaction changed the length")
    case 5:
        _ = PBOCCodec.track2(bytes)
        _ = try? GB18030.decode(bytes)
        _ = BCD.digits(bytes)
    case 6:
        // Item values from the input: tag, length, value, repeated.
        var values: [UInt8: [UInt8]] = [:]
        var rest = bytes[...]
        while let tag = rest.popFirst(), let length = rest.popFirst() {
            values[tag] = Array(rest.prefix(Int(length)))
            rest = rest.dropFirst(Int(length))
        }
        _ = try? SocialSecurityIdentity(values: values)
    default:
        // A whole read against a card whose answers are the input (1-byte length prefix each).
        let channel = FuzzChannel(answers: bytes)
        var options = CardReadOptions()
        options.terminal = TerminalData(date: [0x26, 0x11, 0x29], time: [0, 0, 0], unpredictableNumber: [1, 2, 3, 4])
        _ = try? SocialSecurityCardReader.read(channel: channel, options: options)
    }
    return 0
}

/// Answers each command with the next length-prefixed chunk of the input; afterwards, `6F00`.
final class FuzzChannel: CardChannel, @unchecked Sendable {
    private var rest: ArraySlice<UInt8>
    private var sent = 0
    init(answers: [UInt8]) { self.rest = answers[...] }
    var atr: [UInt8] { [0x3B, 0x00] }
    func transmitRaw(_ command: [UInt8]) throws(ReaderError) -> [UInt8] {
        self.sent += 1
        guard self.sent < 500 else { throw ReaderError(.cardUnresponsive, message: "fuzz: too many commands") }
        guard let length = self.rest.popFirst() else { return [0x6F, 0x00] }
        let answer = Array(self.rest.prefix(Int(length)))
        self.rest = self.rest.dropFirst(Int(length))
        return answer
    }
}
