import Identity
import Testing

@Suite struct CitizenIDTests {
    @Test(arguments: ["11010519491231002X", "440303198101011117", "440304199003070026", "650102198506150037"])
    func acceptsValidNumbers(_ text: String) throws {
        let id = try CitizenID(text)
        #expect(id.value == text)
    }

    @Test func lowercaseXIsNormalised() throws {
        #expect(try CitizenID("11010519491231002x").value == "11010519491231002X")
    }

    @Test func checkCharacterIsComputed() {
        #expect(CitizenID.checkCharacter(for: "11010519491231002".map { $0.wholeNumberValue! }) == "X")
        #expect(CitizenID.checkCharacter(for: "44030319810101111".map { $0.wholeNumberValue! }) == "7")
    }

    @Test func refusesWrongCheckCharacter() {
        #expect(throws: CitizenID.Problem.checkDigitMismatch(expected: "X", found: "1")) { try CitizenID("110105194912310021") }
    }

    @Test func refusesMalformedNumbers() {
        #expect(throws: CitizenID.Problem.wrongLength(17)) { try CitizenID("11010519491231002") }
        #expect(throws: CitizenID.Problem.invalidCharacter(position: 3)) { try CitizenID("110A0519491231002X") }
        #expect(throws: CitizenID.Problem.invalidCharacter(position: 10)) { try CitizenID("1101051949X231002X") }
        #expect(throws: CitizenID.Problem.unknownRegion("00")) { try CitizenID("000105194912310029") }
        #expect(throws: CitizenID.Problem.invalidBirthDate("19700229")) { try CitizenID("310115197002290019") }
    }

    @Test func decodesBirthDateAndGender() throws {
        let id = try CitizenID("11010519491231002X")
        #expect(id.birthDate == CalendarDate(year: 1949, month: 12, day: 31))
        #expect(id.gender == .female)
        #expect(try CitizenID("440303198101011117").gender == .male)
        #expect(id.regionCode == "110105")
    }

    @Test func masksFirstThreeAndLastFour() throws {
        #expect(try CitizenID("11010519491231002X").masked == "110***********002X")
        #expect("\(try CitizenID("440303198101011117"))" == "440***********1117")
    }
}

@Suite struct MaskingTests {
    @Test func panKeepsBINAndLastFour() {
        #expect(Masking.pan("6228230029000005274") == "622823*********5274")
        #expect(Masking.pan("6214830100001111") == "621483******1111")
        #expect(Masking.pan("1234") == "1234")
    }

    @Test func namesKeepTheFirstCharacter() {
        #expect(Masking.name("张三") == "张*")
        #expect(Masking.name("欧阳娜娜") == "欧***")
        #expect(Masking.name("") == "")
    }
}

@Suite struct CalendarDateTests {
    @Test func decodesBCD() {
        #expect(CalendarDate(bcd: [0x19, 0x81, 0x01, 0x01]) == CalendarDate(year: 1981, month: 1, day: 1))
        #expect(CalendarDate(bcd: [0x20, 0x24, 0x02, 0x29]) != nil)
        #expect(CalendarDate(bcd: [0x20, 0x23, 0x02, 0x29]) == nil)
        #expect(CalendarDate(bcd: [0x20, 0x2A, 0x01, 0x01]) == nil)
        #expect(CalendarDate(bcd: [0x20, 0x20, 0x01]) == nil)
        #expect(CalendarDate(bcd: [0xFF, 0xFF, 0xFF, 0xFF]) == nil)
    }

    @Test func ordersAndFormats() {
        let a = CalendarDate(year: 2020, month: 1, day: 1)!
        let b = CalendarDate(year: 2019, month: 12, day: 31)!
        #expect(b < a)
        #expect(a.description == "2020-01-01")
        #expect(a.digits == "20200101")
    }

    @Test func daysSinceEpoch() {
        #expect(CalendarDate(daysSince1970: 0) == CalendarDate(year: 1970, month: 1, day: 1))
        #expect(CalendarDate(daysSince1970: 19_782) == CalendarDate(year: 2024, month: 2, day: 29))
        #expect(CalendarDate(daysSince1970: 20_786) == CalendarDate(year: 2026, month: 11, day: 29))
    }
}

@Suite struct GB18030Tests {
    @Test func decodesTheCardsVectorName() throws {
        // EF06 tag 09 of the cards.md §7 sample: GBK 张三, right-padded with 26 zero bytes.
        let value: [UInt8] = [0xD5, 0xC5, 0xC8, 0xFD] + [UInt8](repeating: 0, count: 26)
        #expect(try GB18030.decode(value) == "张三")
    }

    @Test func stripsPadding() throws {
        #expect(try GB18030.decode([0xD5, 0xC5, 0xC8, 0xFD, 0x20, 0x20, 0xFF, 0xFF]) == "张三")
        #expect(try GB18030.decode([0xD5, 0xC5, 0xA1, 0xA1]) == "张")  // ideographic space
        #expect(try GB18030.decode([0xFF, 0xFF]) == "")
        #expect(try GB18030.decode([]) == "")
    }

    @Test func rareCharactersRoundTripInFourBytes() throws {
        let name = "王𠮷"
        let bytes = try #require(GB18030.encode(name))
        #expect(bytes == [0xCD, 0xF5, 0x95, 0x34, 0xB2, 0x35])
        #expect(try GB18030.decode(bytes) == name)
        #expect(!GB18030.fitsGBK(name))
        #expect(GB18030.fitsGBK("张三·李"))
    }

    @Test func refusesInvalidSequences() {
        #expect(throws: GB18030.DecodingError.self) { try GB18030.decode([0xD5, 0xC5, 0x81]) }
        #expect(throws: GB18030.DecodingError.self) { try GB18030.decode([0x81, 0x30, 0x81]) }
    }
}

@Suite struct CodeTableTests {
    @Test func nations() {
        #expect(Nation(code: 1).name == "汉族")
        #expect(Nation(code: 5).name == "维吾尔族")
        #expect(Nation(code: 56).name == "基诺族")
        #expect(Nation(digits: "08")?.name == "壮族")
        #expect(Nation(code: 60).name == nil)
        #expect(Nation(code: 60).description == "民族代码 60")
        #expect(Nation.names.count == 58)
    }

    @Test func regions() {
        #expect(Region(code: "440303")?.province == "广东省")
        #expect(Region(code: "990000") == nil)
        #expect(Region(code: "44030") == nil)
        #expect(Gender(code: "1") == .male)
        #expect(Gender(code: "3") == nil)
    }
}
