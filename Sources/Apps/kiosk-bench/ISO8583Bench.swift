import APDU
import ArgumentParser
import Bytes
import Foundation
import ISO8583

/// `kiosk-bench iso8583`: decode + encode of one message set by our codec and by pyiso8583, in the
/// same run; messages per second for both and the ratio.
struct ISO8583Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "iso8583", abstract: "ISO 8583 decode + encode: our codec against pyiso8583 on the same messages.")

    @Option(help: "The field-spec file.") var spec = "Config/iso8583/cups-pos.json"
    @Option(help: "The pyiso8583 driver script.") var script = "scripts/lib/pyiso8583_check.py"
    @Option(help: "Rounds over the message set.") var rounds = 200

    func run() async throws {
        let spec = try JSONDecoder().decode(MessageSpec.self, from: Data(contentsOf: URL(fileURLWithPath: self.spec)))
        let messages = Self.messageSet()
        let wire = try messages.map { try ISO8583Codec.encode($0, spec: spec) }
        // Ours: best of 3 runs.
        var oursRate = 0.0
        let clock = ContinuousClock()
        for _ in 0..<3 {
            let start = clock.now
            for _ in 0..<self.rounds {
                for bytes in wire {
                    let message = try ISO8583Codec.decode(bytes, spec: spec)
                    _ = try ISO8583Codec.encode(message, spec: spec)
                }
            }
            let seconds = Double((clock.now - start).components.attoseconds) / 1e18 + Double((clock.now - start).components.seconds)
            oursRate = max(oursRate, Double(self.rounds * wire.count) / seconds)
        }
        // pyiso8583: its own timing of the same bytes, best of 3.
        var theirRate = 0.0
        let hexLines = wire.map { Hex.encode($0) }.joined(separator: "\n") + "\n"
        for _ in 0..<3 {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", self.script, self.spec, "bench", String(max(1, self.rounds / 10))]
            let input = Pipe()
            let output = Pipe()
            process.standardInput = input
            process.standardOutput = output
            try process.run()
            input.fileHandleForWriting.write(Data(hexLines.utf8))
            try input.fileHandleForWriting.close()
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            guard let rate = Double(text.trimmingCharacters(in: .whitespacesAndNewlines)) else { throw ValidationError("pyiso8583 printed: \(text)") }
            theirRate = max(theirRate, rate)
        }
        print("ISO 8583 decode + encode, \(wire.count) UnionPay messages (\(wire.map(\.count).reduce(0, +) / wire.count) bytes on average):")
        print(String(format: "  ours       %10.0f messages/s", oursRate))
        print(String(format: "  pyiso8583  %10.0f messages/s", theirRate))
        print(String(format: "ratio ours/pyiso8583: %.2f", oursRate / theirRate))
    }

    /// Realistic UnionPay messages: sign-on, activation request/response, reversal.
    static func messageSet() -> [ISO8583Message] {
        [
            ISO8583Message(mti: "0800", fields: [11: "000001", 41: "KIOSK001", 42: "952718182217875", 60: "00000001003", 63: "001"]),
            ISO8583Message(mti: "0810", fields: [11: "000001", 39: "00", 41: "KIOSK001", 42: "952718182217875", 60: "00000001003",
                62: "6701EAD6A9AD51E51AA406E2C27FCFA98D0A74B8B651F9E9BACE9AE10000000000000000AB7153CA"]),
            ISO8583Message(mti: "0200", fields: [2: "6228230029000005274", 3: "990000", 4: "000000000000", 11: "000002", 14: "3012", 22: "051",
                23: "001", 25: "00", 26: "06", 35: "6228230029000005274D30122200000000000", 41: "KIOSK001", 42: "952718182217875", 49: "156",
                52: "0123456789ABCDEF", 53: "2600000000000000", 55: "9F2608B1C2D3E4F5A6B7C89F2701809F101307010103A0A802010A010000000000", 60: "22000002000500",
                64: "4233413039324145"]),
            ISO8583Message(mti: "0210", fields: [2: "6228230029000005274", 3: "990000", 11: "000002", 37: "123456789012", 38: "A1B2C3", 39: "00",
                41: "KIOSK001", 42: "952718182217875", 60: "22000002000500", 64: "4233413039324145"]),
            ISO8583Message(mti: "0400", fields: [2: "6228230029000005274", 3: "990000", 11: "000003", 25: "00", 39: "98", 41: "KIOSK001",
                42: "952718182217875", 49: "156", 60: "22000002000500", 61: "000002000002", 64: "4233413039324145"]),
        ]
    }
}
