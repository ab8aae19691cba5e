import Foundation
import Bytes
import KioskProtocol
import Testing

@Suite("kiosk protocol v1: messages, framing, limits")
struct ProtocolTests {
    func line(_ text: String) -> [UInt8] { Array(text.utf8) }

    @Test("a command decodes; what the daemon sends re-decodes to the same message")
    func roundTrip() throws {
        let command = try KioskProtocol.decodeCommand(self.line(#"{"header":{"name":"Activation.Start","requestId":7,"type":"command","version":"1.0","timeout":120000},"payload":{"language":"zh-Hans"}}"#))
        #expect(command.header.name == "Activation.Start" && command.header.requestId == 7 && command.header.timeout == 120000)
        #expect(command.payload["language"]?.string == "zh-Hans")
        let completion = KioskMessage(
            header: MessageHeader(name: "Activation.Start", requestId: 7, type: .completion, completionCode: .success, errorDescription: "OK"),
            payload: ["end": "completed", "tries": 2, "ok": true, "list": [1, "a", nil]])
        let bytes = KioskProtocol.encode(completion)
        #expect(bytes.last == 0x0A && !bytes.dropLast().contains(0x0A))
        #expect(try KioskProtocol.decode(bytes.dropLast()) == completion)
    }

    @Test("bad input gets a typed error with the completion code to answer", arguments: [
        (#"{"header":{"name":"Nope.Nothing","requestId":1,"type":"command","version":"1.0"},"payload":{}}"#, ProtocolError.unknownCommand("Nope.Nothing")),
        (#"{"header":{"name":"Common.Status","requestId":1,"type":"command","version":"9.0"},"payload":{}}"#, .unsupportedVersion(name: "Common.Status", version: "9.0", supported: ["1.0"])),
        (#"{"header":{"name":"Common.Status","requestId":0,"type":"command","version":"1.0"},"payload":{}}"#, .invalidRequestID),
        (#"{"header":{"name":"Common.Status","type":"command","version":"1.0"},"payload":{}}"#, .invalidRequestID),
        (#"{"header":{"name":"Common.Status","requestId":1,"type":"event","version":"1.0"},"payload":{}}"#, .notACommand("Common.Status")),
        (#"{"header":{"name":"Common.Status","requestId":1,"type":"shout","version":"1.0"},"payload":{}}"#, .invalidHeader("")),
        (#"{"payload":{}}"#, .invalidHeader("")),
        (#"{"header":{"name":"Common.Status","requestId":"x","type":"command","version":"1.0"},"payload":{}}"#, .invalidHeader("")),
        ("not json at all", .invalidJSON),
    ])
    func badInput(text: String, expected: ProtocolError) {
        do {
            _ = try KioskProtocol.decodeCommand(self.line(text))
            Issue.record("accepted: \(text)")
        } catch {
            if case .invalidHeader = expected, case .invalidHeader = error { return }
            #expect(error == expected)
        }
    }

    @Test("deep JSON, invalid UTF-8 and oversized lines are refused before parsing")
    func limits() {
        let deep = String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000)
        #expect(throws: ProtocolError.tooDeep(limit: KioskProtocol.maximumDepth)) { try KioskProtocol.decode(Array(deep.utf8)) }
        // Brackets inside strings do not count.
        let quoted = #"{"header":{"name":"Common.Status","requestId":1,"type":"command","version":"1.0"},"payload":{"s":"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"]"}}"#
        #expect(throws: Never.self) { try KioskProtocol.decodeCommand(Array(quoted.utf8)) }
        #expect(throws: ProtocolError.invalidUTF8) { try KioskProtocol.decode([0x7B, 0xFF, 0xFE, 0x7D]) }
        let big = [UInt8](repeating: 0x20, count: KioskProtocol.maximumMessageBytes + 1)
        #expect(throws: ProtocolError.tooLarge(limit: KioskProtocol.maximumMessageBytes)) { try KioskProtocol.decode(big) }
    }

    @Test("the splitter: lines in any chunking; an oversized line is one error and the next line still decodes")
    func splitter() throws {
        var splitter = LineSplitter(limit: 64)
        let text = "{\"a\":1}\r\n\n{\"b\":2}\n"
        for byte in text.utf8 { splitter.append([byte]) }
        #expect(try splitter.next() == Array("{\"a\":1}".utf8))
        #expect(try splitter.next() == Array("{\"b\":2}".utf8))
        #expect(try splitter.next() == nil)
        splitter.append([UInt8](repeating: 0x41, count: 100))
        #expect(throws: LineTooLong(limit: 64)) { try splitter.next() }
        splitter.append([UInt8](repeating: 0x41, count: 100) + [0x0A] + Array("ok\n".utf8))
        #expect(try splitter.next() == Array("ok".utf8))
    }

    @Test("random bytes never trap the decoder or the splitter")
    func hostileBytes() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<3000 {
            let bytes = (0..<Int.random(in: 0...200, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            _ = try? KioskProtocol.decodeCommand(bytes)
            var splitter = LineSplitter(limit: 50)
            splitter.append(bytes)
            while let line = try? splitter.next() { _ = try? KioskProtocol.decode(line) }
        }
    }
}
