/// Gender as recorded on Chinese identity documents (GB/T 2261.1: `1` male, `2` female; `0` unknown and
/// `9` unstated exist in the code table and are kept rather than refused).
public enum Gender: String, Hashable, Sendable, Codable, CaseIterable {
    case male, female, unknown, unstated

    /// From the GB/T 2261.1 code character (`'1'`, `'2'`, `'0'`, `'9'`).
    public init?(code: Character) {
        switch code {
        case "1": self = .male
        case "2": self = .female
        case "0": self = .unknown
        case "9": self = .unstated
        default: return nil
        }
    }

    /// 男 / 女 / 未知 / 未说明.
    public var chineseName: String {
        switch self {
        case .male: "男"
        case .female: "女"
        case .unknown: "未知"
        case .unstated: "未说明"
        }
    }
}
