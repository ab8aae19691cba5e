import APDU
import CardCore
import CardSimulator
import Foundation
import TestSupport
import Testing

@Suite("Mock reader")
struct MockReaderTests {
    @Test("subscribers get the current state, then changes")
    func events() async throws {
        let system = MockCardSystem(readers: ["A", "B"])
        let card = EchoCard()
        system.insert(card, into: "B")
        let stream = system.events()
        #expect(await collect(stream, count: 4) == [
            .serviceOnline, .readerAttached("A"), .readerAttached("B"), .cardInserted(reader: "B", atr: card.atr),
        ])
        let live = system.events()
        _ = await collect(live, count: 4)
        system.remove(from: "B")
        system.plug(reader: "C")
        system.insert(card, into: "C")
        system.unplug(reader: "C")
        #expect(await collect(live, count: 5) == [
            .cardRemoved(reader: "B"), .readerAttached("C"), .cardInserted(reader: "C", atr: card.atr),
            .cardRemoved(reader: "C"), .readerDetached("C"),
        ])
    }

    @Test("one source fanned out: a subscriber that never reads stalls nobody; a late one gets the state so far (a mute card too); offline is replayed")
    func fannedOut() async throws {
        let system = MockCardSystem(readers: ["A", "B"])
        let card = EchoCard()
        let silent = system.events()  // never read
        let reader = system.events()
        _ = await collect(reader, count: 3)
        for _ in 0..<500 {
            system.insert(card, into: "A")
            system.remove(from: "A")
        }
        system.setMute(true, reader: "B")
        system.insert(card, into: "B")
        let tail = await collect(reader, count: 1001)
        #expect(tail.count == 1001 && tail.last == .cardMute(reader: "B"), "\(tail.suffix(3))")
        let late = system.events()
        #expect(await collect(late, count: 4) == [.serviceOnline, .readerAttached("A"), .readerAttached("B"), .cardMute(reader: "B")])
        system.setServiceOnline(false)
        let offline = system.events()
        #expect(await collect(offline, count: 1) == [.serviceOffline(reason: "mock reader service stopped")])
        _ = silent
    }

    @Test("readers() reports presence and ATR")
    func listing() async throws {
        let system = MockCardSystem(readers: ["A", "B"])
        system.insert(EchoCard(), into: "A")
        let readers = try await system.readers()
        #expect(readers.map(\.name) == ["A", "B"])
        #expect(readers[0].cardPresent && readers[0].atr == EchoCard().atr)
        #expect(!readers[1].cardPresent && readers[1].atr == nil)
    }

    @Test("T=0 answers are resolved by the channel: chained 61xx and 6Cxx")
    func t0Rules() async throws {
        let system = MockCardSystem()
        let card = RecordingCard(T0Card(wrapping: FileSystemCard.demo(), behaviour: .init(chunkSize: 7)))
        system.insert(card, into: "Mock Reader 00 00")
        let connection = try await system.connect(reader: "Mock Reader 00 00")
        let (fci, record) = try await connection.withTransaction { channel in
            let fci = try channel.send(try .select(name: ssseName))
            _ = try channel.send(try .select(fileID: 0xEF05))
            let record = try channel.send(try .readRecord(3, expectedLength: 256))
            return (fci, record)
        }
        #expect(fci.status == .success)
        #expect(try TLV.parse(fci.data).first(0x84)?.value == ssseName)
        #expect(record.data == [0x03, 0x04, 0x32, 0x2E, 0x30, 0x30] && record.status == .success)
        // The FCI came in chunks of 7 through GET RESPONSE; the record after a 6C06.
        #expect(fci.data.count == 27)
        #expect(card.received.filter { $0.hasPrefix("00C00000") }.count == 4)
        #expect(card.received.suffix(2) == ["00B2030400", "00B2030406"])
        await connection.disconnect()
    }

    @Test("a removed card ends the connection with cardRemoved")
    func removal() async throws {
        let system = MockCardSystem()
        system.insert(EchoCard(), into: "Mock Reader 00 00")
        let connection = try await system.connect(reader: "Mock Reader 00 00")
        #expect(try await connection.transmit(try .select(name: [1])).status == .success)
        system.remove(from: "Mock Reader 00 00")
        await #expect(throws: ReaderError.cardRemoved) { try await connection.transmit(try .select(name: [1])) }
        // A new card in the same reader is a new insertion: the old connection stays dead.
        system.insert(EchoCard(), into: "Mock Reader 00 00")
        await #expect(throws: ReaderError.cardRemoved) { try await connection.transmit(try .select(name: [1])) }
    }

    @Test("a reset by another application re-runs the transaction body once, then reports it")
    func reset() async throws {
        let system = MockCardSystem()
        system.insert(EchoCard(), into: "Mock Reader 00 00")
        let connection = try await system.connect(reader: "Mock Reader 00 00")
        let runs = Counter()
        let status = try await connection.withTransaction { channel in
            let run = runs.increment()
            if run == 1 { system.resetCard(in: "Mock Reader 00 00") }
            return try channel.send(try .select(name: [1])).status
        }
        #expect(status == .success && runs.value == 2)
        await #expect(throws: ReaderError.cardReset) {
            try await connection.withTransaction(resetRetries: 0) { channel in
                system.resetCard(in: "Mock Reader 00 00")
                return try channel.send(try .select(name: [1])).status
            }
        }
    }

    @Test("mute and truncated cards give typed errors, not crashes")
    func faults() async throws {
        let system = MockCardSystem()
        let faulty = FaultyCard(wrapping: EchoCard())
        system.insert(faulty, into: "Mock Reader 00 00")
        let connection = try await system.connect(reader: "Mock Reader 00 00")
        faulty.faults.truncateAnswers = true
        await #expect(throws: ReaderError.malformedResponse) { try await connection.transmit(try .select(name: [1])) }
        faulty.faults.truncateAnswers = false
        faulty.faults.muteAfterCommands = 0
        await #expect(throws: ReaderError.cardUnresponsive) { try await connection.transmit(try .select(name: [1])) }
        faulty.faults.muteAfterCommands = nil
        faulty.faults.statusForInstruction = (0xA4, 0x6A82)
        #expect(try await connection.transmit(try .select(name: [1])).status == .fileNotFound)
        system.setMute(true, reader: "Mock Reader 00 00")
        await #expect(throws: ReaderError.cardUnresponsive) { try await system.connect(reader: "Mock Reader 00 00") }
    }

    @Test("a slow card on one reader does not hold up another reader")
    func slowCard() async throws {
        let system = MockCardSystem(readers: ["Slow", "Fast"])
        system.insert(EchoCard(), into: "Slow")
        system.insert(EchoCard(), into: "Fast")
        // Wide margins: the whole suite runs in parallel on two cores.
        system.setLatency(.seconds(3), reader: "Slow")
        let slow = try await system.connect(reader: "Slow")
        let fast = try await system.connect(reader: "Fast")
        let order = Recorder()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                _ = try await slow.transmit(try .select(name: [1]))
                order.append("slow")
            }
            group.addTask {
                try await Task.sleep(for: .milliseconds(50))
                // One hop onto the fast reader's own thread, ten APDUs there: the property under test is that
                // the readers' threads are independent, not how fast the shared cooperative pool is.
                _ = try await fast.withTransaction { channel in
                    for _ in 0..<10 { _ = try channel.send(try .select(name: [1])) }
                }
                order.append("fast")
            }
            try await group.waitForAll()
        }
        #expect(order.items == ["fast", "slow"])
    }

    @Test("service loss: detach events, typed errors, and a fresh snapshot when it returns")
    func serviceLoss() async throws {
        let system = MockCardSystem(readers: ["A"])
        let card = EchoCard()
        system.insert(card, into: "A")
        let connection = try await system.connect(reader: "A")
        let stream = system.events()
        _ = await collect(stream, count: 3)
        system.setServiceOnline(false)
        await #expect(throws: ReaderError.serviceUnavailable) { try await system.readers() }
        await #expect(throws: ReaderError.serviceUnavailable) { try await connection.transmit(try .select(name: [1])) }
        system.setServiceOnline(true)
        #expect(await collect(stream, count: 6) == [
            .cardRemoved(reader: "A"), .readerDetached("A"), .serviceOffline(reason: "mock reader service stopped"),
            .serviceOnline, .readerAttached("A"), .cardInserted(reader: "A", atr: card.atr),
        ])
    }

    @Test("feature discovery answers like vpcd")
    func features() async throws {
        let system = MockCardSystem()
        let connection = try await system.connect(reader: "Mock Reader 00 00", options: ConnectOptions(shareMode: .direct))
        let features = try await connection.readerFeatures()
        #expect(features[.getTLVProperties] == 0x4233_0012)
        #expect(try await connection.readerProperties().maximumAPDUDataSize == 65_536)
        await #expect(throws: ReaderError.unsupportedFeature) {
            try await connection.verifyPINDirect(PINVerifyStructure(apduTemplate: [0x00, 0x20, 0x00, 0x00, 0x03, 0, 0, 0]))
        }
    }

    @Test("a closed connection refuses further work")
    func closed() async throws {
        let system = MockCardSystem()
        system.insert(EchoCard(), into: "Mock Reader 00 00")
        let connection = try await system.connect(reader: "Mock Reader 00 00")
        await connection.disconnect()
        await #expect(throws: ReaderError.closed) { try await connection.transmit(try .select(name: [1])) }
    }

    @Test("unknown reader and empty reader")
    func connectErrors() async throws {
        let system = MockCardSystem()
        await #expect(throws: ReaderError.unknownReader) { try await system.connect(reader: "nope") }
        await #expect(throws: ReaderError.noCard) { try await system.connect(reader: "Mock Reader 00 00") }
    }
}
