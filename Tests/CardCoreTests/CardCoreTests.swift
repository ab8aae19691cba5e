import APDU
import CardCore
import CardSimulator
import Foundation
import Synchronization
import TestSupport
import Testing

@Suite("Blocking worker")
struct BlockingWorkerTests {
    @Test("jobs run in order on one dedicated thread, not the caller's")
    func dedicatedThread() async throws {
        let worker = BlockingWorker(name: "test-worker")
        let names = try await worker.run { () throws(ReaderError) -> [String] in
            [ThreadName.current, Thread.isMainThread ? "main" : "other"]
        }
        #expect(names == ["test-worker", "other"])
        let order = Recorder()
        for index in 0..<50 { worker.submit { order.append("\(index)") } }
        _ = try await worker.run { () throws(ReaderError) in }
        #expect(order.items == (0..<50).map(String.init))
    }

    @Test("runBlocking: from another thread, the job runs on the worker and the caller waits; on the worker itself, inline")
    func runBlocking() async throws {
        let worker = BlockingWorker(name: "psam-worker")
        let caller = BlockingWorker(name: "card-worker")
        // A card's thread asks the PSAM's: the job runs there, and its error comes back typed.
        let seen = try await caller.runUntyped { () throws -> [String] in
            let there = try worker.runBlocking { ThreadName.current }
            let nested = try worker.runBlocking { try worker.runBlocking { ThreadName.current } }  // no deadlock
            return [ThreadName.current, there, nested]
        }
        #expect(seen == ["card-worker", "psam-worker", "psam-worker"])
        struct Refused: Error, Equatable {}
        await #expect(throws: Refused()) {
            try await caller.runUntyped { () throws in try worker.runBlocking { () throws in throw Refused() } }
        }
        worker.stop()
        #expect(throws: ReaderError.closed) { try worker.runBlocking { 1 } }
    }

    @Test("every worker thread carries its name from its first job on, even when many start at once")
    func namesUnderLoad() async throws {
        // Foundation's Thread.name setter loses a race with a fast-starting thread; ThreadName must not.
        try await withThrowingTaskGroup(of: String.self) { group in
            for index in 0..<40 {
                group.addTask {
                    let worker = BlockingWorker(name: "w-\(index)")
                    let seen = try await worker.run { () throws(ReaderError) -> String in ThreadName.current }
                    #expect(seen == "w-\(index)")
                    return seen
                }
            }
            var count = 0
            for try await _ in group { count += 1 }
            #expect(count == 40)
        }
    }

    @Test("a stopped worker refuses jobs with closed")
    func stopped() async {
        let worker = BlockingWorker(name: "test-worker")
        worker.stop()
        await #expect(throws: ReaderError.closed) { try await worker.run { () throws(ReaderError) in 1 } }
        #expect(!worker.submit {})
    }

    @Test("errors thrown on the worker reach the caller typed")
    func errors() async {
        let worker = BlockingWorker(name: "test-worker")
        await #expect(throws: ReaderError.cardRemoved) { try await worker.run { () throws(ReaderError) -> Int in throw .cardRemoved } }
    }
}

@Suite("PC/SC part 10 structures")
struct ReaderFeatureTests {
    @Test("feature list parses; a cut entry is malformed")
    func featureList() throws {
        let features = try ReaderFeatures(featureResponse: [0x06, 0x04, 0x42, 0x33, 0x00, 0x06, 0x12, 0x04, 0x42, 0x33, 0x00, 0x12])
        #expect(features[.verifyPINDirect] == 0x4233_0006)
        #expect(features[.getTLVProperties] == 0x4233_0012)
        #expect(features[.modifyPINDirect] == nil)
        #expect(throws: ReaderError.malformedResponse) { try ReaderFeatures(featureResponse: [0x06, 0x04, 0x42]) }
        #expect(throws: ReaderError.malformedResponse) { try ReaderFeatures(featureResponse: [0x06, 0x02, 0x42, 0x33]) }
        #expect(ReaderFeatures.Feature.verifyPINDirect.description == "VERIFY_PIN_DIRECT")
    }

    @Test("TLV properties decode little-endian integers and strings")
    func properties() throws {
        let props = try ReaderProperties(tlv: [0x0A, 0x04, 0x00, 0x00, 0x01, 0x00, 0x06, 0x01, 0x04, 0x08, 0x03, 0x41, 0x42, 0x43, 0x0B, 0x02, 0xE6, 0x08])
        #expect(props.maximumAPDUDataSize == 65_536)
        #expect(props.minimumPINSize == 4)
        #expect(props.firmwareID == "ABC")
        #expect(props.vendorID == 0x08E6)
        #expect(throws: ReaderError.malformedResponse) { try ReaderProperties(tlv: [0x0A, 0x04, 0x00]) }
    }

    @Test("PIN_VERIFY_STRUCTURE is packed as reader.h lays it out")
    func pinVerify() {
        let template: [UInt8] = [0x00, 0x20, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00]
        let bytes = PINVerifyStructure(apduTemplate: template).bytes
        #expect(bytes.count == 19 + template.count)
        #expect(bytes[0] == 30 && bytes[2] == 0x81 && bytes[3] == 0x03)
        #expect(bytes[5] == 6 && bytes[6] == 6)  // wPINMaxExtraDigit: max, min (little-endian 0xMINMAX)
        #expect(bytes[9] == 0x04 && bytes[10] == 0x08)  // wLangId 0x0804 little-endian
        #expect(Array(bytes[15..<19]) == [8, 0, 0, 0])  // ulDataLength
        #expect(Array(bytes.suffix(8)) == template)
    }
}

@Suite("Reader errors")
struct ReaderErrorTests {
    @Test("errors compare by code and describe themselves for an engineer")
    func equality() {
        let a = ReaderError(.cardRemoved, message: "x", readerName: "R", pcscCode: 0x8010_0069)
        #expect(a == ReaderError.cardRemoved)
        #expect(a.description == "cardRemoved: x [reader R] [PC/SC 0x80100069]")
        #expect(a.endsConnection && !ReaderError.cardReset.endsConnection)
    }
}
