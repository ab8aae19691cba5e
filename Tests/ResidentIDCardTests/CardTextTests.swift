import Identity
import IDModuleSimulator
import ResidentIDCard
import TestSupport
import Testing

func idFixture(_ name: String) throws -> IDCardFixture {
    try IDCardFixture.load(path: "\(fixturesDirectory)/idcard/\(name).json")
}

let allIDFixtures = [
    "resident-common", "resident-x-longterm", "resident-rare", "resident-expired", "hmt-permit", "foreign-2017", "foreign-2023",
]

@Suite struct IDCardTextTests {
    @Test(arguments: allIDFixtures)
    func roundTripsEveryLayout(_ name: String) throws {
        let fixture = try idFixture(name)
        let block = IDCardText.encode(fixture.card)
        #expect(block.count == 256)
        let decoded = try IDCardText.decode(block, photo: fixture.photo)
        #expect(decoded.type == fixture.type)
        #expect(decoded.name == fixture.name)
        #expect(decoded.idNumber == fixture.idNumber)
        #expect(decoded.birthDate?.description == fixture.birthDate)
        #expect(decoded.validTo == fixture.card.validTo)
        #expect(decoded.englishName == fixture.englishName)
        #expect(decoded.photo == fixture.photo)
    }

    @Test func typeFlagIsAtBytes248To249() throws {
        for (name, flag) in [("resident-common", 0x20), ("hmt-permit", 0x4A), ("foreign-2017", 0x49), ("foreign-2023", 0x59)] {
            let block = IDCardText.encode(try idFixture(name).card)
            #expect(block[248] == UInt8(flag) && block[249] == 0, "\(name)")
        }
    }

    @Test func residentFields() throws {
        let card = try IDCardText.decode(IDCardText.encode(try idFixture("resident-x-longterm").card))
        #expect(card.citizenID?.value == "11010819750612008X")
        #expect(card.gender == .female)
        #expect(card.nation?.name == "回族")
        #expect(card.validTo == .longTerm)
        #expect(card.isValid(on: CalendarDate(year: 2090, month: 1, day: 1)!))
        #expect(card.address == "北京市海淀区中关村大街27号")
        #expect(card.issuer == "北京市公安局海淀分局")
        #expect(card.maskedIDNumber == "110***********008X")
        #expect(!"\(card)".contains("11010819750612008X") && !"\(card)".contains("李娜"))
    }

    @Test func rareCharacterSurvives() throws {
        let card = try IDCardText.decode(IDCardText.encode(try idFixture("resident-rare").card))
        #expect(card.name == "王𠮷")
        #expect(card.name.unicodeScalars.count == 2)
    }

    @Test func permitsAndForeignCards() throws {
        let hmt = try IDCardText.decode(IDCardText.encode(try idFixture("hmt-permit").card))
        #expect(hmt.passNumber == "H12345678" && hmt.issueCount == 1 && hmt.nation == nil)
        #expect(hmt.citizenID?.regionCode == "810000")
        let old = try IDCardText.decode(IDCardText.encode(try idFixture("foreign-2017").card))
        #expect(old.englishName == "SMITH, JOHN" && old.nationality == "USA" && old.cardVersion == "17" && old.authorityCode == "1500")
        #expect(old.citizenID == nil)
        let new = try IDCardText.decode(IDCardText.encode(try idFixture("foreign-2023").card))
        #expect(new.englishName == "MARIA ALEXANDRA VON HOHENZOLLERN-SIGMARINGEN")
        #expect(new.nationality == "DEU" && new.renewalCount == 0)
    }

    @Test func expiredCardIsNotValidToday() throws {
        let card = try IDCardText.decode(IDCardText.encode(try idFixture("resident-expired").card))
        #expect(!card.isValid(on: CalendarDate(year: 2026, month: 11, day: 29)!))
        #expect(card.isValid(on: CalendarDate(year: 2024, month: 12, day: 31)!))
    }

    @Test func malformedBlocksAreTypedErrors() throws {
        var block = IDCardText.encode(try idFixture("resident-common").card)
        #expect(throws: IDCardDataError.self) { try IDCardText.decode(Array(block.prefix(200))) }
        var badFlag = block
        badFlag[248] = 0x51  // "Q"
        #expect(throws: IDCardDataError.self) { try IDCardText.decode(badFlag) }
        var badID = block
        badID[122 + 34] = 0x30  // last character of the number → '0' (wrong check digit)
        #expect(throws: IDCardDataError.self) { try IDCardText.decode(badID) }
        var badSurrogate = block
        badSurrogate[0] = 0x00
        badSurrogate[1] = 0xD8  // lone high surrogate
        #expect(throws: IDCardDataError.self) { try IDCardText.decode(badSurrogate) }
        block[36] = 0x39  // birth date 9981…
        block[38] = 0x39
        #expect(throws: IDCardDataError.self) { try IDCardText.decode(block) }
    }
}
