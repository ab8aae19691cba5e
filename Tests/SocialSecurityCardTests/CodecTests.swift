import APDU
import Bytes
import SocialSecurityCard
import Testing

/// The parsers on the vectors of cards.md §7.
@Suite struct SSSECodecTests {
    @Test func recordVectors() throws {
        let identifier = try SSSECodec.record(Hex.decode("0110330300D15600000599110145FFFFFFFF"))
        #expect(identifier.tag == 0x01)
        #expect(Hex.encode(identifier.value) == "330300D15600000599110145FFFFFFFF")
        let version = try SSSECodec.record(Hex.decode("0304332E3030"))
        #expect(version.tag == 0x03 && String(decoding: version.value, as: UTF8.self) == "3.00")
        let number = try SSSECodec.record(Hex.decode("0709583030303030303139"))
        #expect(String(decoding: number.value, as: UTF8.self) == "X00000019")
        let name = try SSSECodec.record(Hex.decode("091ED5C5C8FD" + String(repeating: "00", count: 26)))
        #expect(name.value.count == 30)
    }

    @Test func recordErrors() throws {
        #expect(throws: APDUError.truncated) { try SSSECodec.record([0x01]) }
        #expect(throws: APDUError.truncated) { try SSSECodec.record([0x01, 0x05, 0x01]) }
        #expect(throws: APDUError.trailingBytes) { try SSSECodec.record([0x01, 0x01, 0x01, 0x02]) }
        #expect(throws: APDUError.invalidLength) { try SSSECodec.record([0x01, 0x82, 0x00, 0x01]) }
        // Padding after the value is tolerated; long-form length 81 xx too.
        #expect(try SSSECodec.record([0x0A, 0x01, 0x31, 0x00, 0xFF]).value == [0x31])
        #expect(try SSSECodec.record([0x0A, 0x81, 0x01, 0x32]).value == [0x32])
    }

    @Test func algorithmIdentifierInFCI() throws {
        let fci = try Hex.decode("6F168411" + "7378312E73682EC9E7BBE1B1A3D5CF" + "A5069F0C03860103".dropFirst(0))
        // Not well-formed as built (lengths approximate): the byte search must still find it.
        #expect(SSSECodec.algorithmIdentifier(inFCI: fci) == 0x03)
        let proper = TLV(tag: 0x6F, children: [
            TLV(tag: 0x84, value: SSSECodec.applicationName),
            TLV(tag: 0xA5, children: [TLV(tag: 0x9F0C, value: [0x86, 0x01, 0x01])]),
        ]).bytes
        #expect(SSSECodec.algorithmIdentifier(inFCI: proper) == 0x01)
        #expect(SSSECodec.algorithmIdentifier(inFCI: TLV(tag: 0x6F, children: [TLV(tag: 0x84, value: [1])]).bytes) == nil)
        #expect(SSSECodec.algorithmIdentifier(inFCI: []) == nil)
    }

    @Test func bcdDigits() {
        #expect(BCD.digits([0x44, 0x03, 0x03]) == "440303")
        #expect(BCD.digits([0x62, 0x28, 0x23, 0x00, 0x29, 0x00, 0x00, 0x05, 0x27, 0x4F]) == "6228230029000005274")
        #expect(BCD.digits([0x4A]) == nil)
    }
}

@Suite struct PBOCCodecTests {
    @Test func gpoFormat1Vector() throws {
        let options = try PBOCCodec.processingOptions(Hex.decode("80127C0008010200100104001801030020010100"))
        #expect(options.aip == [0x7C, 0x00])
        #expect(options.afl.map(\.sfi) == [1, 2, 3, 4])
        #expect(options.afl[0].first == 1 && options.afl[0].last == 2)
        #expect(options.afl[1].last == 4)
    }

    @Test func gpoFormat2Vector() throws {
        let options = try PBOCCodec.processingOptions(Hex.decode("770E82021C0094080801010010010301"))
        #expect(options.aip == [0x1C, 0x00])
        #expect(options.afl.count == 2)
        #expect(options.afl[1].sfi == 2 && options.afl[1].first == 1 && options.afl[1].last == 3 && options.afl[1].offlineAuthenticationRecords == 1)
    }

    @Test func gpoErrors() throws {
        #expect(throws: APDUError.invalidTag) { try PBOCCodec.processingOptions([0x81, 0x02, 0x7C, 0x00]) }
        #expect(throws: APDUError.truncated) { try PBOCCodec.processingOptions([0x80, 0x01, 0x7C]) }
        #expect(throws: APDUError.invalidLength) { try PBOCCodec.processingOptions([0x80, 0x05, 0x7C, 0x00, 0x08, 0x01, 0x01]) }
        #expect(throws: APDUError.invalidParameter) { try PBOCCodec.fileLocator([0x00, 0x01, 0x01, 0x00]) }
        #expect(throws: APDUError.invalidParameter) { try PBOCCodec.fileLocator([0x08, 0x02, 0x01, 0x00]) }
        #expect(throws: APDUError.invalidParameter) { try PBOCCodec.fileLocator([0x08, 0x01, 0x01, 0x02]) }
    }

    @Test func gpoCommandFromPDOLMatchesThePublishedCommand() throws {
        // cards.md §2: PDOL 9F7A01 9F0206 5F2A02 gives `80A800000B830900000000000000015600`.
        let pdol = try PBOCCodec.dataObjectList(Hex.decode("9F7A019F02065F2A02"))
        #expect(pdol.map(\.length) == [1, 6, 2])
        let terminal = TerminalData(date: [0x26, 0x11, 0x29], time: [0x12, 0, 0], unpredictableNumber: [1, 2, 3, 4])
        let command = try PBOCCodec.gpoCommand(pdolData: PBOCCodec.dolData(pdol, terminal: terminal))
        #expect(Hex.encode(command.bytes) == "80A800000B830900000000000000015600")
    }

    @Test func dolFitsLengths() throws {
        let terminal = TerminalData(date: [0x26, 0x11, 0x29], time: [0x12, 0x34, 0x56], unpredictableNumber: [1, 2, 3, 4])
        let entries = try PBOCCodec.dataObjectList(Hex.decode("9A029F37029F1A035F2D04DF6002"))
        // Numeric 9A keeps its rightmost bytes; 9F37 its leftmost; 9F1A is left-padded; unknown tags are zeros.
        #expect(Hex.encode(PBOCCodec.dolData(entries, terminal: terminal)) == "1129" + "0102" + "000156" + "00000000" + "0000")
        #expect(throws: APDUError.truncated) { try PBOCCodec.dataObjectList([0x9F]) }
        #expect(throws: APDUError.truncated) { try PBOCCodec.dataObjectList([0x9F, 0x02]) }
    }

    @Test func recordsAndPAN() throws {
        let objects = try PBOCCodec.recordObjects(Hex.decode("700C5A0A6228230029000005274F"))
        let data = try BankApplicationReader.data(aid: PBOCCodec.knownAIDs[0], objects: objects)
        #expect(data.pan == "6228230029000005274")
        #expect(data.maskedPAN == "622823*********5274")
        #expect(throws: APDUError.invalidTag) { try PBOCCodec.recordObjects(Hex.decode("6F00")) }
    }

    @Test func track2() throws {
        let track = try #require(PBOCCodec.track2(Hex.decode("6228230029000005274D30122200000000000F")))
        #expect(track.pan == "6228230029000005274")
        #expect(track.expiry == "3012")
        #expect(PBOCCodec.track2([0x62, 0x28]) == nil)
        let objects: [TLVTag: [UInt8]] = [0x57: try Hex.decode("6228230029000005274D30122200000000000F")]
        #expect(try BankApplicationReader.data(aid: [], objects: objects).pan == "6228230029000005274")
        #expect(throws: CardReadError.self) { try BankApplicationReader.data(aid: [], objects: [:]) }
    }

    @Test func directories() throws {
        let ppse = TLV(tag: 0x6F, children: [
            TLV(tag: 0x84, value: PBOCCodec.ppse),
            TLV(tag: 0xA5, children: [TLV(tag: 0xBF0C, children: [
                TLV(tag: 0x61, children: [TLV(tag: 0x4F, value: [0xA0, 0, 0, 0, 0x04, 0x10, 0x10]), TLV(tag: 0x87, value: [1])]),
                TLV(tag: 0x61, children: [TLV(tag: 0x4F, value: PBOCCodec.knownAIDs[1]), TLV(tag: 0x87, value: [2])]),
                TLV(tag: 0x61, children: [TLV(tag: 0x4F, value: PBOCCodec.knownAIDs[0]), TLV(tag: 0x87, value: [1])]),
            ])]),
        ]).bytes
        let entries = try PBOCCodec.directoryEntries(ppse)
        #expect(entries.count == 3)
        // UnionPay first, by priority; others after.
        #expect(PBOCCodec.candidates(entries) == [PBOCCodec.knownAIDs[0], PBOCCodec.knownAIDs[1], [0xA0, 0, 0, 0, 0x04, 0x10, 0x10]])
        let pse = TLV(tag: 0x6F, children: [TLV(tag: 0x84, value: PBOCCodec.pse), TLV(tag: 0xA5, children: [TLV(tag: 0x88, value: [0x01])])]).bytes
        #expect(try PBOCCodec.directorySFI(inFCI: pse) == 1)
    }

    @Test func publishedSelectCommands() throws {
        #expect(Hex.encode(try CommandAPDU.select(name: SSSECodec.applicationName).bytes) == "00A404000F7378312E73682EC9E7BBE1B1A3D5CF00")
        #expect(Hex.encode(try CommandAPDU.select(name: PBOCCodec.ppse).bytes) == "00A404000E325041592E5359532E444446303100")
        #expect(Hex.encode(PBOCCodec.pse) == "315041592E5359532E4444463031")
    }
}
