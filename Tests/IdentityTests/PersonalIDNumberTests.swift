import Identity
import Testing

/// The numbers a social security card's EF06/08 holds for each accepted document (`cards.md` §3.4).
@Suite struct PersonalIDNumberTests {
    @Test("every kind of document number, normalised")
    func kinds() throws {
        #expect(try PersonalIDNumber("440303198101011117").kind == .citizen)
        #expect(try PersonalIDNumber("11010819750612008x").value == "11010819750612008X")
        #expect(try PersonalIDNumber("810000199501010023").kind == .residencePermit)
        #expect(try PersonalIDNumber("830000199001010012").kind == .residencePermit)
        let foreign2023 = try PersonalIDNumber(" 931156198002020017 ")
        #expect(foreign2023.kind == .foreignPermanentResident2023 && foreign2023.value == "931156198002020017")
        #expect(foreign2023.citizenID == nil)
        let foreign2017 = try PersonalIDNumber("usa310080101001")
        #expect(foreign2017.kind == .foreignPermanentResident2017 && foreign2017.value == "USA310080101001")
        #expect(foreign2017.masked == "USA********1001")
        #expect(try PersonalIDNumber("440303198101011117").citizenID?.value == "440303198101011117")
    }

    @Test("malformed numbers are typed errors")
    func malformed() {
        #expect(throws: PersonalIDNumber.Problem.self) { try PersonalIDNumber("931156198002020018") }  // check character
        #expect(throws: PersonalIDNumber.Problem.self) { try PersonalIDNumber("US1310080101001") }  // 2 letters
        #expect(throws: PersonalIDNumber.Problem.self) { try PersonalIDNumber("USA31008010100A") }
        #expect(throws: PersonalIDNumber.Problem.self) { try PersonalIDNumber("440303198101011118") }
        #expect(throws: PersonalIDNumber.Problem.self) { try PersonalIDNumber("") }
        #expect(throws: PersonalIDNumber.Problem.self) { try PersonalIDNumber("99999999999999999") }
    }

    @Test("sameness ignores spaces and case, never matches empty")
    func same() {
        #expect(PersonalIDNumber.same("usa310080101001", "USA 310080101001"))
        #expect(PersonalIDNumber.same("11010819750612008x", "11010819750612008X"))
        #expect(!PersonalIDNumber.same("", ""))
        #expect(!PersonalIDNumber.same("931156198002020017", "931156198002020018"))
    }
}
