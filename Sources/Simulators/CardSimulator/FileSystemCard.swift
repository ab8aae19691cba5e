import APDU
import Synchronization

/// A small ISO 7816-4 card: applications selected by DF name, elementary files selected by file
/// identifier or short file identifier, read with READ RECORD and READ BINARY. Answers like a T=1 card
/// (data + `9000`); wrap it in ``T0Card`` for T=0 behaviour.
public final class FileSystemCard: VirtualCard {
    /// An elementary file: records (for READ RECORD) or a transparent body (READ BINARY).
    public struct ElementaryFile: Sendable {
        public var fileID: UInt16
        public var shortFileID: UInt8?
        public var records: [[UInt8]]
        public var body: [UInt8]

        public init(fileID: UInt16, shortFileID: UInt8? = nil, records: [[UInt8]] = [], body: [UInt8] = []) {
            self.fileID = fileID
            self.shortFileID = shortFileID
            self.records = records
            self.body = body
        }
    }

    /// An application (DF) with its FCI and files.
    public struct Application: Sendable {
        public var name: [UInt8]
        public var fci: [UInt8]
        public var files: [ElementaryFile]

        public init(name: [UInt8], fci: [UInt8]? = nil, files: [ElementaryFile]) {
            self.name = name
            self.fci = fci ?? TLV(tag: 0x6F, children: [TLV(tag: 0x84, value: name)]).bytes
            self.files = files
        }
    }

    private struct Selection {
        var application: Int?
        var file: Int?
    }

    public let atr: [UInt8]
    public let applications: [Application]
    private let selection = Mutex(Selection())

    public init(atr: [UInt8], applications: [Application]) {
        self.atr = atr
        self.applications = applications
    }

    public func reset() { self.selection.withLock { $0 = Selection() } }

    public func process(_ bytes: [UInt8]) -> [UInt8]? {
        guard let command = try? CommandAPDU(bytes: bytes) else { return [0x67, 0x00] }
        guard command.cla & 0x80 == 0 || command.ins == 0xA4 else { return [0x6E, 0x00] }
        return self.selection.withLock { selection -> [UInt8] in
            switch command.ins {
            case 0xA4: return self.select(command, &selection)
            case 0xB2: return self.readRecord(command, &selection)
            case 0xB0: return self.readBinary(command, selection)
            default: return [0x6D, 0x00]
            }
        }
    }

    private func select(_ command: CommandAPDU, _ selection: inout Selection) -> [UInt8] {
        switch command.p1 {
        case 0x04:
            guard let index = self.applications.firstIndex(where: { $0.name == command.data }) else { return [0x6A, 0x82] }
            selection = Selection(application: index, file: nil)
            return command.expectedLength == nil ? [0x90, 0x00] : self.applications[index].fci + [0x90, 0x00]
        case 0x00, 0x02:
            guard command.data.count == 2, let app = selection.application else { return [0x6A, 0x82] }
            let fid = UInt16(command.data[0]) << 8 | UInt16(command.data[1])
            guard let file = self.applications[app].files.firstIndex(where: { $0.fileID == fid }) else {
                return [0x6A, 0x82]
            }
            selection.file = file
            return [0x90, 0x00]
        default:
            return [0x6A, 0x86]
        }
    }

    private func readRecord(_ command: CommandAPDU, _ selection: inout Selection) -> [UInt8] {
        guard let app = selection.application else { return [0x69, 0x86] }
        let files = self.applications[app].files
        let fileIndex: Int?
        let sfi = command.p2 >> 3
        if sfi == 0 {
            fileIndex = selection.file
        } else {
            fileIndex = files.firstIndex { $0.shortFileID == sfi }
        }
        guard let index = fileIndex else { return sfi == 0 ? [0x69, 0x86] : [0x6A, 0x82] }
        guard command.p2 & 0x07 == 0x04, command.p1 >= 1, Int(command.p1) <= files[index].records.count else {
            return [0x6A, 0x83]
        }
        let record = files[index].records[Int(command.p1) - 1]
        if let le = command.expectedLength, le < 256, le != record.count { return [0x6C, UInt8(record.count & 0xFF)] }
        return record + [0x90, 0x00]
    }

    private func readBinary(_ command: CommandAPDU, _ selection: Selection) -> [UInt8] {
        guard let app = selection.application, let file = selection.file else { return [0x69, 0x86] }
        let body = self.applications[app].files[file].body
        let offset = Int(command.p1 & 0x7F) << 8 | Int(command.p2)
        guard offset <= body.count else { return [0x6B, 0x00] }
        let wanted = command.expectedLength ?? 256
        let part = Array(body[offset..<min(body.count, offset + wanted)])
        return part + (part.count < wanted && wanted != 256 ? [0x62, 0x82] : [0x90, 0x00])
    }
}

extension FileSystemCard {
    /// A demonstration card with synthetic data in the layout of a social security card's SSSE
    /// application (DF name `sx1.sh.社会保障`, EF05 card data; values from `../shared/docs/cards.md` §7).
    /// It holds no personal data.
    public static func demo() -> FileSystemCard {
        let dfName: [UInt8] = [0x73, 0x78, 0x31, 0x2E, 0x73, 0x68, 0x2E, 0xC9, 0xE7, 0xBB, 0xE1, 0xB1, 0xA3, 0xD5, 0xCF]
        let ef05 = ElementaryFile(
            fileID: 0xEF05, shortFileID: 0x05,
            records: [
                [0x01, 0x10, 0x33, 0x03, 0x00, 0xD1, 0x56, 0x00, 0x00, 0x05, 0x99, 0x11, 0x01, 0x45, 0xFF, 0xFF, 0xFF, 0xFF],
                [0x02, 0x01, 0x31],
                [0x03, 0x04, 0x32, 0x2E, 0x30, 0x30],
            ])
        let fci = TLV(tag: 0x6F, children: [
            TLV(tag: 0x84, value: dfName),
            TLV(tag: 0xA5, children: [TLV(tag: 0x9F0C, value: [0x86, 0x01, 0x03])]),
        ]).bytes
        let atr: [UInt8] = [0x3B, 0x6D, 0x00, 0x00, 0x00, 0x81, 0x4E, 0x43, 0x23, 0x86, 0x97, 0x15, 0x99, 0x00, 0xBF, 0x7C, 0x7A]
        return FileSystemCard(atr: atr, applications: [Application(name: dfName, fci: fci, files: [ef05])])
    }
}
