import APDU
import Bytes
import CardCore
import CardSimulator
import Identity
import SocialSecurityCard
import TestSupport
import Testing
import VirtualCards

@Suite struct TraceTests {
    @Test(arguments: ["v2-t0-x", "v2-common", "long-name"])
    func traceHoldsNoPersonalDataAndReplays(_ name: String) async throws {
        let bench = try Bench(name)
        let recorder = APDUTraceRecorder()
        let original = try await bench.read(trace: recorder)
        let text = recorder.text
        let fixture = bench.fixture

        // None of the holder's data, in any encoding the card uses.
        #expect(!text.contains(Hex.encode(Array(fixture.citizenId.utf8))))
        #expect(!text.contains(Hex.encode(GB18030.encode(fixture.name)!.prefix(4))))
        #expect(!text.contains(String(fixture.bank!.pan.prefix(16))))
        #expect(!text.contains(Hex.encode(Array(fixture.cardNumber.utf8))))
        #expect(text.hasPrefix("# CardKiosk APDU trace"))

        // The trace replays as a card, and what it shows is synthetic.
        let replay = try ScriptedCard(trace: text)
        let system = MockCardSystem(readers: ["Replay 00 00"])
        system.insert(replay, into: "Replay 00 00")
        let connection = try await system.connect(reader: "Replay 00 00")
        var options = CardReadOptions()
        options.terminal = TerminalData(date: [0x26, 0x11, 0x29], time: [0x12, 0, 0], unpredictableNumber: [1, 2, 3, 4])
        let replayed = try await SocialSecurityCardReader.read(connection: connection, options: options)
        #expect(replayed.identity?.socialSecurityNumber.value == "11010519491231002X")
        #expect(replayed.identity?.name.hasPrefix("测试") == true)
        #expect(replayed.bank?.pan.hasPrefix("62000") == true)
        #expect(replayed.bank?.pan.count == original.bank?.pan.count)
        #expect(replayed.apduCount == original.apduCount)
        #expect(replayed.identity?.specVersion == original.identity?.specVersion)
    }

    @Test func verifyDataNeverAppears() {
        #expect(TraceRedactor.redactCommand([0x00, 0x20, 0x00, 0x00, 0x03, 0x12, 0x34, 0x56]) == [0x00, 0x20, 0x00, 0x00, 0x03, 0xFF, 0xFF, 0xFF])
        #expect(TraceRedactor.redactCommand([0x00, 0xB2, 0x01, 0x04, 0x00]) == [0x00, 0xB2, 0x01, 0x04, 0x00])
    }

    @Test func unparseablePaymentDataIsBlanked() {
        #expect(TraceRedactor.redactBER([0x70, 0x05, 0x5A]) == [0, 0, 0])
        #expect(TraceRedactor.redactSSSERecord([0x09, 0x10, 0x01]) == [0, 0, 0])
    }
}
