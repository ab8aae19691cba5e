import APDU
import Bytes
import Foundation
import ISO8583
import TestSupport
import Testing

/// Our encoder's frames decoded by pyiso8583 (PyPI; a decoder we did not write), field by field.
/// `scripts/test.sh` installs pyiso8583 and sets KIOSK_PYISO8583.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["KIOSK_PYISO8583"] != nil, "needs scripts/test.sh (pyiso8583)"))
struct PyISO8583Tests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// A varied, reproducible message set over the UnionPay spec: every field kind, odd and even lengths.
    static func messages(count: Int) -> [ISO8583Message] {
        var rng = SeededGenerator(seed: 8583)
        func digits(_ n: Int) -> String { String((0..<n).map { _ in Character(String(Int.random(in: 0...9, using: &rng))) }) }
        func hex(_ bytes: Int) -> String { Hex.encode(rng.bytes(bytes)) }
        func text(_ n: Int) -> String { String((0..<n).map { _ in Character(Unicode.Scalar(UInt8.random(in: 0x20...0x7E, using: &rng))) }) }
        return (0..<count).map { index in
            var m = ISO8583Message(mti: ["0200", "0210", "0400", "0800", "0810"][index % 5])
            m[2] = digits(Int.random(in: 13...19, using: &rng))
            m[3] = digits(6)
            m[4] = digits(12)
            m[11] = digits(6)
            m[12] = digits(6)
            m[13] = digits(4)
            m[22] = digits(3)
            m[25] = digits(2)
            let pan = digits(16)
            m[35] = pan + "D" + digits(Int.random(in: 4...20, using: &rng))
            m[37] = digits(12)
            m[39] = digits(2)
            m[41] = text(8)
            m[42] = text(15)
            m[49] = "156"
            m[52] = hex(8)
            m[55] = hex(Int.random(in: 1...200, using: &rng))
            m[60] = digits(Int.random(in: 1...19, using: &rng))
            m[62] = hex(Int.random(in: 1...100, using: &rng))
            m[63] = text(Int.random(in: 1...40, using: &rng))
            m[64] = hex(8)
            return m
        }
    }

    @Test func pyiso8583DecodesEveryFieldAsWeEncodedIt() async throws {
        let messages = Self.messages(count: 60)
        let encoded = try messages.map { try ISO8583Codec.encode($0, spec: cupsSpec) }
        let run = try await runProcess("/usr/bin/env", [
            "python3", Self.repository.appendingPathComponent("scripts/lib/pyiso8583_check.py").path,
            Self.repository.appendingPathComponent("Config/iso8583/cups-pos.json").path, "decode",
        ], input: Data(encoded.map(hexString).joined(separator: "\n").utf8 + [0x0A]))
        let text = run.output
        #expect(run.status == 0, "\(run.error)")
        let lines = text.split(separator: "\n")
        #expect(lines.count == messages.count)
        for (message, line) in zip(messages, lines) {
            let theirs = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])
            #expect(theirs["t"] == message.mti)
            for (number, value) in message.fields {
                #expect(theirs[String(number)]?.uppercased() == value.uppercased(), "field \(number)")
            }
            #expect(theirs.count == message.fields.count + 1)
        }
    }
}
