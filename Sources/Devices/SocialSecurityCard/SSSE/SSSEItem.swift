/// The two elementary files of the SSSE application the kiosk reads.
public enum SSSEFile: UInt16, Hashable, Sendable, CaseIterable {
    /// 发卡机构数据 (issuer data), SFI 5.
    case ef05 = 0xEF05
    /// 持卡人基本信息 (holder data), SFI 6.
    case ef06 = 0xEF06

    /// The short file identifier.
    public var shortFileID: UInt8 { UInt8(self.rawValue & 0xFF) }
    /// `EF05`.
    public var name: String { self == .ef05 ? "EF05" : "EF06" }
}

/// One data item of EF05/EF06: its tag (the record identifier), file, length, and the record number
/// it has in the common layout (used only when a card refuses tag addressing). `cards.md` §1.2–1.3.
public struct SSSEItem: Hashable, Sendable, CustomStringConvertible {
    public let tag: UInt8
    public let file: SSSEFile
    /// The value length the specification gives; READ RECORD asks for this + 2.
    public let length: Int
    /// The record number in the common layout.
    public let record: UInt8
    /// English name, for messages.
    public let name: String

    public var description: String { "\(self.file.name)/\(String(self.tag, radix: 16, uppercase: true).leftPadded(2)) (\(self.name))" }

    public static let cardIdentifier = SSSEItem(tag: 0x01, file: .ef05, length: 16, record: 1, name: "card identification code")
    public static let cardType = SSSEItem(tag: 0x02, file: .ef05, length: 1, record: 2, name: "card type")
    public static let specVersion = SSSEItem(tag: 0x03, file: .ef05, length: 4, record: 3, name: "specification version")
    public static let issueDate = SSSEItem(tag: 0x05, file: .ef05, length: 4, record: 5, name: "issue date")
    public static let expiryDate = SSSEItem(tag: 0x06, file: .ef05, length: 4, record: 6, name: "expiry date")
    public static let cardNumber = SSSEItem(tag: 0x07, file: .ef05, length: 9, record: 7, name: "card number")
    public static let socialSecurityNumber = SSSEItem(tag: 0x08, file: .ef06, length: 18, record: 1, name: "social security number")
    public static let name = SSSEItem(tag: 0x09, file: .ef06, length: 30, record: 2, name: "name")
    public static let nameExtension = SSSEItem(tag: 0x4E, file: .ef06, length: 20, record: 3, name: "name extension")
    public static let gender = SSSEItem(tag: 0x0A, file: .ef06, length: 1, record: 4, name: "gender")
    public static let nation = SSSEItem(tag: 0x0B, file: .ef06, length: 1, record: 5, name: "nation")
    public static let birthplace = SSSEItem(tag: 0x0C, file: .ef06, length: 3, record: 6, name: "birthplace")
    public static let birthDate = SSSEItem(tag: 0x0D, file: .ef06, length: 4, record: 7, name: "birth date")

    /// Every item the kiosk reads, in file order.
    public static let all: [SSSEItem] = [
        .cardIdentifier, .cardType, .specVersion, .issueDate, .expiryDate, .cardNumber,
        .socialSecurityNumber, .name, .nameExtension, .gender, .nation, .birthplace, .birthDate,
    ]

    /// The item with `tag`, or `nil`.
    public static func item(tag: UInt8) -> SSSEItem? { Self.all.first { $0.tag == tag } }
}

extension String {
    func leftPadded(_ width: Int, with pad: Character = "0") -> String {
        String(repeating: pad, count: max(0, width - self.count)) + self
    }
}
