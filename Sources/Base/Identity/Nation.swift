/// An ethnic group (民族) by its GB 3304-91 code.
///
/// The ID card stores the code as two decimal digits; the social security card stores it as one byte
/// (EF06 tag `0B`). Codes outside the table are kept, not refused: the table's 97/98 entries are not
/// confirmed by a public source (`cards.md` §6).
public struct Nation: Hashable, Sendable, CustomStringConvertible {
    /// The numeric code (1 = 汉).
    public let code: Int

    public init(code: Int) { self.code = code }

    /// From two ASCII digits (`"01"`).
    public init?(digits: String) {
        guard digits.count == 2, let code = Int(digits) else { return nil }
        self.code = code
    }

    /// The group's name (`汉族`), or `nil` when the code is not in GB 3304.
    public var name: String? { Self.names[self.code] }

    /// The name, or `民族代码 NN` for an unknown code.
    public var description: String { self.name ?? "民族代码 \(self.code)" }

    /// GB 3304-91, codes 01–56, plus 97 (其他) and 98 (外国血统中国籍人士).
    public static let names: [Int: String] = {
        let list = [
            "汉", "蒙古", "回", "藏", "维吾尔", "苗", "彝", "壮", "布依", "朝鲜", "满", "侗", "瑶", "白", "土家", "哈尼",
            "哈萨克", "傣", "黎", "傈僳", "佤", "畲", "高山", "拉祜", "水", "东乡", "纳西", "景颇", "柯尔克孜", "土", "达斡尔",
            "仫佬", "羌", "布朗", "撒拉", "毛南", "仡佬", "锡伯", "阿昌", "普米", "塔吉克", "怒", "乌孜别克", "俄罗斯", "鄂温克",
            "德昂", "保安", "裕固", "京", "塔塔尔", "独龙", "鄂伦春", "赫哲", "门巴", "珞巴", "基诺",
        ]
        var table: [Int: String] = [:]
        for (index, name) in list.enumerated() { table[index + 1] = name + "族" }
        table[97] = "其他"
        table[98] = "外国血统中国籍人士"
        return table
    }()
}
