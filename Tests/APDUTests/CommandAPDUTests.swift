import APDU
import Bytes
import TestSupport
import Testing

@Suite("Command APDUs")
struct CommandAPDUTests {
    @Test("the four ISO cases encode in short form", arguments: [
        (nil as [UInt8]?, nil as Int?, "00B20104"),
        (nil, 0x12, "00B2010412"),
        (nil, 256, "00B2010400"),
        ([0xEF, 0x05], nil, "00B2010402EF05"),
        ([0xEF, 0x05], 256, "00B2010402EF0500"),
    ])
    func shortCases(data: [UInt8]?, le: Int?, hex: String) throws {
        let command = try CommandAPDU(cla: 0, ins: 0xB2, p1: 1, p2: 4, data: data ?? [], expectedLength: le)
        #expect(Hex.encode(command.bytes) == hex)
        #expect(try CommandAPDU(bytes: Hex.decode(hex)) == command)
        #expect(!command.isExtended)
    }

    @Test("extended form: Le 65536 is 0000, Lc over 255 uses three bytes")
    func extendedCases() throws {
        let case2 = try CommandAPDU(cla: 0, ins: 0xB0, p1: 0, p2: 0, expectedLength: 65_536)
        #expect(Hex.encode(case2.bytes) == "00B00000000000")
        let data = [UInt8](repeating: 0xAB, count: 300)
        let case4 = try CommandAPDU(cla: 0, ins: 0xD6, p1: 0, p2: 0, data: data, expectedLength: 1000)
        #expect(case4.bytes.count == 4 + 3 + 300 + 2)
        #expect(Array(case4.bytes[4..<7]) == [0x00, 0x01, 0x2C])
        #expect(Array(case4.bytes.suffix(2)) == [0x03, 0xE8])
        let parsed = try CommandAPDU(bytes: case4.bytes)
        #expect(parsed.data == data && parsed.expectedLength == 1000 && parsed.isoCase == 4)
        let case3 = try CommandAPDU(cla: 0, ins: 0xD6, p1: 0, p2: 0, data: data)
        #expect(try CommandAPDU(bytes: case3.bytes).isoCase == 3)
    }

    @Test("vectors from cards.md parse to the right case")
    func cardVectors() throws {
        let select = try CommandAPDU(bytes: Hex.decode("00A404000F7378312E73682EC9E7BBE1B1A3D5CF"))
        #expect(select.isoCase == 3 && select.data.count == 15)
        let gpo = try CommandAPDU(bytes: Hex.decode("80A800000B830900000000000000015600"))
        #expect(gpo.isoCase == 4 && gpo.data.count == 11 && gpo.expectedLength == 256)
        let read = try CommandAPDU(bytes: Hex.decode("00B2010012"))
        #expect(read.isoCase == 2 && read.expectedLength == 0x12)
    }

    @Test("malformed commands give typed errors", arguments: [
        ("00B201", APDUError.truncated),
        ("00A4040005A000", APDUError.truncated),
        ("00A4040002A00000FF", APDUError.trailingBytes),
        ("00B2010400FF", APDUError.invalidLength),
        ("00D600000000", APDUError.invalidLength),
        ("00D6000000000301", APDUError.truncated),
        ("00D600000000020102FF", APDUError.invalidLength),
    ])
    func malformed(hex: String, expected: APDUError) throws {
        #expect(throws: expected) { try CommandAPDU(bytes: Hex.decode(hex)) }
    }

    @Test("out-of-range Ne and Nc are refused")
    func ranges() {
        #expect(throws: APDUError.invalidParameter) { try CommandAPDU(cla: 0, ins: 0, p1: 0, p2: 0, expectedLength: 0) }
        #expect(throws: APDUError.invalidParameter) { try CommandAPDU(cla: 0, ins: 0, p1: 0, p2: 0, expectedLength: 65_537) }
        #expect(throws: APDUError.invalidParameter) {
            try CommandAPDU(cla: 0, ins: 0, p1: 0, p2: 0, data: [UInt8](repeating: 0, count: 65_536))
        }
    }

    @Test("random commands round-trip through their encoding")
    func roundTrip() throws {
        var rng = SeededGenerator(seed: 7816)
        for _ in 0..<2000 {
            let dataCount = [0, 1, 5, 255, 256, 1000].randomElement(using: &rng)!
            let le: Int? = [nil, 1, 255, 256, 257, 65_536].randomElement(using: &rng)!
            let command = try CommandAPDU(
                cla: UInt8.random(in: 0...255, using: &rng), ins: UInt8.random(in: 0...255, using: &rng),
                p1: UInt8.random(in: 0...255, using: &rng), p2: UInt8.random(in: 0...255, using: &rng),
                data: rng.bytes(dataCount), expectedLength: le, forcesExtendedLength: Bool.random(using: &rng))
            let parsed = try CommandAPDU(bytes: command.bytes)
            #expect(parsed.bytes == command.bytes)
            #expect(parsed.data == command.data && parsed.expectedLength == command.expectedLength)
        }
    }

    @Test("random bytes never trap: they parse and re-encode identically, or throw")
    func hostile() {
        var rng = SeededGenerator(seed: 42)
        for _ in 0..<20_000 {
            let bytes = rng.bytes(Int.random(in: 0...12, using: &rng))
            if let parsed = try? CommandAPDU(bytes: bytes) {
                #expect(parsed.bytes == bytes)
            }
        }
    }
}

@Suite("Response APDUs and status words")
struct ResponseTests {
    @Test func parsesDataAndStatus() throws {
        let response = try ResponseAPDU(bytes: Hex.decode("0110330300D15600000599110145FFFFFFFF9000"))
        #expect(response.status == .success && response.data.count == 18)
        #expect(response.bytes == (try Hex.decode("0110330300D15600000599110145FFFFFFFF9000")))
    }

    @Test func refusesShortResponses() {
        #expect(throws: APDUError.truncated) { try ResponseAPDU(bytes: [0x90]) }
        #expect(throws: APDUError.truncated) { try ResponseAPDU(bytes: []) }
    }

    @Test("status words carry their ISO 7816-4 meaning")
    func meanings() {
        #expect(StatusWord(rawValue: 0x63C2).triesRemaining == 2)
        #expect(StatusWord(rawValue: 0x6310).triesRemaining == nil)
        #expect(StatusWord(rawValue: 0x6110).bytesAvailable == 16)
        #expect(StatusWord(rawValue: 0x6100).bytesAvailable == 256)
        #expect(StatusWord(rawValue: 0x6C12).exactLength == 0x12)
        #expect(StatusWord.fileNotFound.meaning == "error: file or application not found")
        #expect(StatusWord.applicationPermanentlyLocked.meaning == "error: application permanently locked")
        #expect(StatusWord(rawValue: 0x63C1).meaning.contains("1 tries remaining"))
        #expect(StatusWord(rawValue: 0x6A82).description == "SW 6A82 (error: file or application not found)")
        #expect(StatusWord(rawValue: 0x1234).meaning == "not an ISO 7816-4 status word")
        #expect(StatusWord.success.isSuccess && !StatusWord.authenticationMethodBlocked.isSuccess)
    }
}

@Suite("Hex text")
struct HexTests {
    @Test func decodesWithSeparators() throws {
        #expect(try Hex.decode("3B 68:00\n0a") == [0x3B, 0x68, 0x00, 0x0A])
        #expect(Hex.encode([0x3B, 0x0A], separator: " ") == "3B 0A")
    }

    @Test func refusesBadText() {
        #expect(throws: HexError(offset: 1, reason: "not a hex digit")) { try Hex.decode("3G") }
        #expect(throws: HexError(offset: 3, reason: "odd number of digits")) { try Hex.decode("123") }
        #expect(throws: HexError(offset: 1, reason: "separator inside a byte")) { try Hex.decode("1 2") }
        // Code that throws APDUError gets the same finding as invalidHex, with its offset.
        #expect(throws: APDUError.invalidHex) { try Hex.decodeOrAPDUError("3G") }
        #expect((try? Hex.decodeOrAPDUError("0A0B")) == [0x0A, 0x0B])
    }
}
