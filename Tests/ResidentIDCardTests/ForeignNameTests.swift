import Identity
import ResidentIDCard
import Testing

/// The 2023 foreign permanent residence card holds the English name in two fields (`cards.md` §3.4, flag `Y`):
/// 70 bytes at offset 52 and a 22-byte continuation at offset 220. These blocks are laid out byte by byte
/// from that table, not through our own encoder.
@Suite struct ForeignNameTests {
    /// A `Y` block with `first` (≤ 35 characters) in the first name field and `rest` (≤ 11) in the continuation,
    /// each space-padded as the module delivers them.
    static func block2023(first: String, rest: String) -> [UInt8] {
        var block = [UInt8](repeating: 0, count: 256)
        func put(_ text: String, _ offset: Int, _ length: Int) {
            let units = Array(text.utf16)
            precondition(units.count <= length / 2, "\(text) does not fit \(length) bytes")
            for index in 0..<(length / 2) {
                let unit = index < units.count ? units[index] : 0x0020
                block[offset + 2 * index] = UInt8(unit & 0xFF)
                block[offset + 2 * index + 1] = UInt8(unit >> 8)
            }
        }
        put("玛丽", 0, 30)  // 中文姓名
        put("2", 30, 2)  // 性别
        put("00", 32, 4)  // 换证次数
        put("19800202", 36, 16)  // 出生
        put(first, 52, 70)  // 英文姓名
        put("931156198002020017", 122, 36)  // 证件号
        put("", 158, 30)  // reserved
        put("20231201", 188, 16)  // 签发
        put("20331201", 204, 16)  // 有效
        put(rest, 220, 22)  // 英文姓名续
        put("DEU", 242, 6)  // 国家代码
        put("Y", 248, 2)  // flag
        put("", 250, 6)  // 既往证件关联
        return block
    }

    @Test("a space that ends the first English-name field is the break between two words")
    func spaceAtTheJoin() throws {
        let exact = "JONATHAN CHRISTOPHER EDWARD WILLIA "  // 35 characters, the 35th a space
        #expect(exact.count == 35 && exact.last == " ")
        let card = try IDCardText.decode(Self.block2023(first: exact, rest: "ALEXANDER"))
        #expect(card.englishName == "JONATHAN CHRISTOPHER EDWARD WILLIA ALEXANDER")
        #expect(card.type == .foreignPermanentResident2023)
    }

    @Test("a name that fits the first field is read without the continuation's padding")
    func fitsTheFirstField() throws {
        let card = try IDCardText.decode(Self.block2023(first: "MARIA SCHMIDT", rest: ""))
        #expect(card.englishName == "MARIA SCHMIDT")
    }

    @Test("a name that spills over mid-word is joined without a space")
    func spillsOverMidWord() throws {
        let first = "MARIA ALEXANDRA VON HOHENZOLLERN-SI"  // 35 characters, cut inside a word
        #expect(first.count == 35)
        let card = try IDCardText.decode(Self.block2023(first: first, rest: "GMARINGEN"))
        #expect(card.englishName == "MARIA ALEXANDRA VON HOHENZOLLERN-SIGMARINGEN")
    }

    @Test("a first field that ends in a space and an empty continuation: the trailing space is padding")
    func trailingSpaceWithoutContinuation() throws {
        let card = try IDCardText.decode(Self.block2023(first: "JOHN SMITH ", rest: ""))
        #expect(card.englishName == "JOHN SMITH")
    }

    @Test("our encoder splits a long name so that the decoder gets it back with the space at the join")
    func encoderRoundTrip() throws {
        var data = IDCardData(type: .foreignPermanentResident2023, name: "玛丽", idNumber: "931156198002020017")
        data.englishName = "JONATHAN CHRISTOPHER EDWARD WILLIA ALEXANDER"
        data.validTo = .date(CalendarDate(year: 2033, month: 12, day: 1)!)
        let block = IDCardText.encode(data)
        #expect(block[52 + 68] == 0x20 && block[52 + 69] == 0)  // the 35th character, a space
        #expect(try IDCardText.decode(block).englishName == data.englishName)
    }
}
