import APDU
import CardCore
import CardSimulator
import Foundation
import PCSC
import TestSupport
import Testing

/// Tests through the real stack: our driver → libpcsclite → pcscd → vpcd → our virtual cards.
/// They share one pcscd (and some kill it), so they run one after another.
@Suite("PC/SC through pcscd and vpcd", .serialized, .enabled(if: TestPCSCD.enabled, "needs scripts/test.sh (pcscd + vpcd)"))
struct PCSCIntegrationTests {
    let system = PCSCSystem()

    @Test("every vpcd reader is listed, with card presence and ATR")
    func readersListed() async throws {
        let slot = VPCDSlot.all[1]
        let names = try await self.system.readers().map(\.name)
        #expect(Set(VPCDSlot.all.map(\.readerName)).isSubset(of: Set(names)))
        let card = VPCDCard(card: EchoCard(), port: slot.port)
        card.insert()
        defer { card.remove() }
        #expect(card.waitUntilConnected())
        let present = try await self.waitForCard(in: slot.readerName, present: true)
        #expect(present?.atr == EchoCard().atr)
        #expect(try await self.system.readers().first { $0.name == VPCDSlot.all[0].readerName }?.cardPresent != nil)
    }

    @Test("the monitor reports the current state, then insertion and removal")
    func monitorEvents() async throws {
        let slot = VPCDSlot.all[2]
        let log = EventLog(self.system.events())
        defer { log.stop() }
        for reader in VPCDSlot.all {
            #expect(await log.waitFor { $0 == .readerAttached(reader.readerName) } != nil)
        }
        #expect(log.all.first == .serviceOnline)
        let card = VPCDCard(card: EchoCard(), port: slot.port)
        let mark = log.count
        card.insert()
        #expect(await log.waitFor(from: mark) { $0 == .cardInserted(reader: slot.readerName, atr: EchoCard().atr) } != nil)
        let removed = log.count
        card.remove()
        #expect(await log.waitFor(from: removed) { $0 == .cardRemoved(reader: slot.readerName) } != nil)
        // Out and in again: both are reported, in order.
        let again = log.count
        card.insert()
        #expect(await log.waitFor(from: again) { $0 == .cardInserted(reader: slot.readerName, atr: EchoCard().atr) } != nil)
        card.remove()
        #expect(await log.waitFor(from: again) { $0 == .cardRemoved(reader: slot.readerName) } != nil)
    }

    @Test("T=0 answers (chained 61xx, 6Cxx) are resolved through the real stack")
    func t0ThroughPCSC() async throws {
        let slot = VPCDSlot.all[3]
        let recording = RecordingCard(T0Card(wrapping: FileSystemCard.demo(), behaviour: .init(chunkSize: 10)))
        let card = VPCDCard(card: recording, port: slot.port)
        card.insert()
        defer { card.remove() }
        _ = try await self.waitForCard(in: slot.readerName, present: true)
        let connection = try await self.system.connect(reader: slot.readerName)
        #expect(connection.atr == FileSystemCard.demo().atr)
        #expect(!connection.activeProtocol.isEmpty)
        let (fci, record) = try await connection.withTransaction { channel in
            let fci = try channel.send(try .select(name: ssseName))
            _ = try channel.send(try .select(fileID: 0xEF05))
            return (fci, try channel.send(try .readRecord(1, expectedLength: 256)))
        }
        #expect(fci.status == .success && fci.data.count == 27)
        #expect(try TLV.parse(fci.data).first(0x9F0C)?.value == [0x86, 0x01, 0x03])
        #expect(record.status == .success && record.data.count == 18)
        #expect(recording.received.filter { $0.hasPrefix("00C00000") }.count == 3)
        #expect(recording.received.suffix(2) == ["00B2010400", "00B2010412"])
        // The one-shot async path applies the same rules.
        let again = try await connection.transmit(try .readRecord(3, expectedLength: 256))
        #expect(again.data == [0x03, 0x04, 0x32, 0x2E, 0x30, 0x30])
        await connection.disconnect()
        await #expect(throws: ReaderError.closed) { try await connection.transmit(try .readRecord(3)) }
    }

    @Test("a card pulled out inside a transaction gives cardRemoved, and the next card works")
    func removalInsideTransaction() async throws {
        let slot = VPCDSlot.all[4]
        let card = VPCDCard(card: FileSystemCard.demo(), port: slot.port)
        card.faults.removeOnCommand = 2
        card.insert()
        defer { card.remove() }
        _ = try await self.waitForCard(in: slot.readerName, present: true)
        let connection = try await self.system.connect(reader: slot.readerName)
        let steps = Counter()
        await #expect(throws: ReaderError.cardRemoved) {
            try await connection.withTransaction { channel in
                for _ in 0..<3 {
                    _ = try channel.send(try .select(name: ssseName))
                    _ = steps.increment()
                }
            }
        }
        #expect(steps.value == 1)
        await #expect(throws: ReaderError.self) { try await connection.transmit(try .select(name: ssseName)) }
        await connection.disconnect()
        // The card comes back: a new connection works.
        card.waitUntilDisconnected()
        card.faults.removeOnCommand = nil
        card.insert()
        _ = try await self.waitForCard(in: slot.readerName, present: true)
        let fresh = try await self.system.connect(reader: slot.readerName)
        #expect(try await fresh.transmit(try .select(name: ssseName)).status == .success)
        await fresh.disconnect()
    }

    @Test("a reset by another application is acknowledged and the transaction re-run from SELECT")
    func resetByOtherApplication() async throws {
        let slot = VPCDSlot.all[5]
        let card = VPCDCard(card: FileSystemCard.demo(), port: slot.port)
        card.insert()
        defer { card.remove() }
        _ = try await self.waitForCard(in: slot.readerName, present: true)
        let ours = try await self.system.connect(reader: slot.readerName)
        #expect(try await ours.transmit(try .select(name: ssseName)).status == .success)
        let other = try await self.system.connect(reader: slot.readerName)
        await other.disconnect(.reset)
        let runs = Counter()
        let record = try await ours.withTransaction { channel in
            _ = runs.increment()
            _ = try channel.send(try .select(name: ssseName))
            _ = try channel.send(try .select(fileID: 0xEF05))
            return try channel.send(try .readRecord(3, expectedLength: 256))
        }
        #expect(record.status == .success)
        #expect(runs.value >= 1)
        // With no retries allowed, the reset surfaces as cardReset.
        let third = try await self.system.connect(reader: slot.readerName)
        await third.disconnect(.reset)
        await #expect(throws: ReaderError.cardReset) {
            try await ours.withTransaction(resetRetries: 0) { channel in try channel.send(try .select(name: ssseName)) }
        }
        // Exclusive access shuts others out.
        await ours.disconnect()
        let exclusive = try await self.system.connect(reader: slot.readerName, options: ConnectOptions(shareMode: .exclusive))
        await #expect(throws: ReaderError.sharingViolation) { try await self.system.connect(reader: slot.readerName) }
        await exclusive.disconnect()
    }

    @Test("PC/SC part 10 feature discovery: whatever the driver offers, typed answers")
    func features() async throws {
        // Debian 12's vpcd 0.8 implements no IFDHControl at all; newer vpcd offers GET_TLV_PROPERTIES only.
        // Both are real: accept either, but each must answer consistently.
        let slot = VPCDSlot.all[6]
        let connection = try await self.system.connect(reader: slot.readerName, options: ConnectOptions(shareMode: .direct))
        let features = try await connection.readerFeatures()
        #expect(features[.verifyPINDirect] == nil)
        if features[.getTLVProperties] != nil {
            #expect(try await connection.readerProperties().maximumAPDUDataSize == 65_536)
        } else {
            #expect(features.controlCodes.isEmpty)
            await #expect(throws: ReaderError.unsupportedFeature) { try await connection.readerProperties() }
        }
        await #expect(throws: ReaderError.unsupportedFeature) {
            try await connection.verifyPINDirect(PINVerifyStructure(apduTemplate: [0x00, 0x20, 0x00, 0x00, 0x03, 0, 0, 0]))
        }
        await #expect(throws: ReaderError.unsupportedFeature) {
            try await connection.control(code: ReaderFeatures.getFeatureRequestControlCode + 100, data: [])
        }
        await connection.disconnect()
    }

    @Test("garbage from the card is a typed error, not a crash")
    func malformedAnswers() async throws {
        let slot = VPCDSlot.all[6]
        let faulty = FaultyCard(wrapping: EchoCard())
        faulty.faults.truncateAnswers = true
        let card = VPCDCard(card: faulty, port: slot.port)
        card.insert()
        defer { card.remove() }
        _ = try await self.waitForCard(in: slot.readerName, present: true)
        let connection = try await self.system.connect(reader: slot.readerName)
        await #expect(throws: ReaderError.self) { try await connection.transmit(try .select(name: [1])) }
        faulty.faults.truncateAnswers = false
        #expect(try await connection.transmit(try .select(name: [1])).status == .success)
        await connection.disconnect()
    }

    @Test("unknown readers and empty readers give typed errors")
    func connectErrors() async throws {
        await #expect(throws: ReaderError.unknownReader) { try await self.system.connect(reader: "No Such Reader 00 00") }
        await #expect(throws: ReaderError.noCard) { try await self.system.connect(reader: VPCDSlot.all[0].readerName) }
    }

    private func waitForCard(in reader: String, present: Bool) async throws -> ReaderInfo? {
        try await TestPCSCD.waitForCard(in: reader, present: present, system: self.system)
    }
}
