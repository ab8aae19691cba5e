import APDU
import Bytes
import Testing

/// Drives a T0Exchange against a scripted list of raw answers and records what it sent.
private func run(_ command: CommandAPDU, answers: [String]) throws -> (sent: [String], result: ResponseAPDU) {
    var exchange = T0Exchange(command: command)
    var sent = [Hex.encode(command.bytes)]
    for answer in answers {
        switch try exchange.nextCommand(after: Hex.decode(answer)) {
        case .send(let next): sent.append(Hex.encode(next.bytes))
        case .complete(let response): return (sent, response)
        }
    }
    Issue.record("exchange did not complete")
    return (sent, ResponseAPDU(status: .noPreciseDiagnosis))
}

@Suite("T=0 exchange rules")
struct T0ExchangeTests {
    @Test("61xx leads to GET RESPONSE with that Le")
    func getResponse() throws {
        let select = try CommandAPDU.select(name: Hex.decode("7378312E73682EC9E7BBE1B1A3D5CF"))
        let (sent, result) = try run(select, answers: ["6105", "01020304059000"])
        #expect(sent == ["00A404000F7378312E73682EC9E7BBE1B1A3D5CF00", "00C0000005"])
        #expect(result == ResponseAPDU(data: [1, 2, 3, 4, 5], status: .success))
    }

    @Test("chained 61xx joins every part")
    func chained() throws {
        let command = try CommandAPDU(cla: 0x80, ins: 0xA8, p1: 0, p2: 0, data: [0x83, 0x00], expectedLength: 256)
        let (sent, result) = try run(command, answers: ["6102", "AABB6103", "CCDDEE6100", String(repeating: "11", count: 256) + "9000"])
        #expect(sent.dropFirst() == ["00C0000002", "00C0000003", "00C0000000"])
        #expect(result.data.count == 2 + 3 + 256 && result.data.prefix(5) == [0xAA, 0xBB, 0xCC, 0xDD, 0xEE])
        #expect(result.status == .success)
    }

    @Test("6Cxx resends the same command with Le = xx")
    func wrongLength() throws {
        let (sent, result) = try run(try .readRecord(1, expectedLength: 256), answers: ["6C12", String(repeating: "00", count: 18) + "9000"])
        #expect(sent == ["00B2010400", "00B2010412"])
        #expect(result.data.count == 18 && result.status == .success)
    }

    @Test("6Cxx answering a GET RESPONSE re-sends the GET RESPONSE, not the command")
    func wrongLengthInChain() throws {
        let (sent, result) = try run(try .select(name: [0xA0, 0x00]), answers: ["6110", "6C08", "01020304050607089000"])
        #expect(sent == ["00A4040002A00000", "00C0000010", "00C0000008"])
        #expect(result.data == [1, 2, 3, 4, 5, 6, 7, 8])
    }

    @Test("a second 6Cxx for the resent command is reported as it is")
    func secondWrongLength() throws {
        let (sent, result) = try run(try .readRecord(1, expectedLength: 256), answers: ["6C12", "6C13"])
        #expect(sent.count == 2)
        #expect(result.status == StatusWord(rawValue: 0x6C13))
    }

    @Test("GET RESPONSE keeps the logical channel of the command")
    func channel() throws {
        let command = try CommandAPDU(cla: 0x03, ins: 0xA4, p1: 4, p2: 0, data: [1], expectedLength: 256)
        let (sent, _) = try run(command, answers: ["6101", "019000"])
        #expect(sent[1] == "03C0000001")
    }

    @Test("a card that answers 61xx forever hits the round limit")
    func endless() throws {
        var exchange = T0Exchange(command: try .select(name: [1]))
        #expect(throws: APDUError.exchangeLimit) {
            for _ in 0...T0Exchange.maximumRounds { _ = try exchange.nextCommand(after: [0x01, 0x61, 0x01]) }
        }
    }

    @Test("a one-byte answer is a typed error")
    func truncated() throws {
        var exchange = T0Exchange(command: try .select(name: [1]))
        #expect(throws: APDUError.truncated) { try exchange.nextCommand(after: [0x90]) }
    }

    @Test("warnings and errors pass through untouched")
    func passThrough() throws {
        let (sent, result) = try run(try .select(name: [1]), answers: ["6A82"])
        #expect(sent.count == 1 && result.status == .fileNotFound)
    }
}
