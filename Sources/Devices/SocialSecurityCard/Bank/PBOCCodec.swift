public import APDU
import Bytes

/// Pure parsers and builders for the card's PBOC (UnionPay EMV) application. No I/O; fuzzable.
public enum PBOCCodec {
    /// `1PAY.SYS.DDF01`, the contact payment system environment.
    public static let pse: [UInt8] = Array("1PAY.SYS.DDF01".utf8)
    /// `2PAY.SYS.DDF01`, the proximity payment system environment.
    public static let ppse: [UInt8] = Array("2PAY.SYS.DDF01".utf8)
    /// The UnionPay registered application provider identifier.
    public static let unionPayRID: [UInt8] = [0xA0, 0x00, 0x00, 0x03, 0x33]
    /// UnionPay AIDs tried directly when no directory lists one: debit, credit, quasi-credit, e-cash
    /// (`cards.md` §2).
    /// The UnionPay debit application, `A000000333010101`: the account a social security card's bank function is.
    public static let debitAID: [UInt8] = unionPayRID + [0x01, 0x01, 0x01]
    public static let knownAIDs: [[UInt8]] = [0x01, 0x02, 0x03, 0x06].map { unionPayRID + [0x01, 0x01, $0] }

    // MARK: Directories

    /// An application a directory lists.
    public struct DirectoryEntry: Hashable, Sendable {
        public var aid: [UInt8]
        public var label: String?
        /// `87` low nibble: 1 is the highest priority, `nil` when absent.
        public var priority: Int?
    }

    /// Entries of a PPSE FCI (`6F{A5{BF0C{61{4F…}…}}}`) or of a PSE directory record (`70{61{4F…}…}`).
    public static func directoryEntries(_ data: [UInt8]) throws(APDUError) -> [DirectoryEntry] {
        let objects = try TLV.parseAll(data, options: .emv)
        var entries: [DirectoryEntry] = []
        func collect(_ object: TLV) {
            if object.tag == 0x61 {
                guard let aid = object.first(0x4F)?.value, (5...16).contains(aid.count) else { return }
                let label = object.first(0x50).map { String(decoding: $0.value, as: UTF8.self) }
                let priority = object.first(0x87)?.value.first.map { Int($0 & 0x0F) }
                entries.append(DirectoryEntry(aid: aid, label: label, priority: priority == 0 ? nil : priority))
                return
            }
            object.children.forEach(collect)
        }
        objects.forEach(collect)
        return entries
    }

    /// The directory's short file identifier (`88`) in a PSE FCI.
    public static func directorySFI(inFCI fci: [UInt8]) throws(APDUError) -> UInt8? {
        for object in try TLV.parseAll(fci, options: .emv) {
            if let sfi = (object.tag == 0x88 ? object : object.first(0x88))?.value.first, (1...30).contains(sfi) { return sfi }
        }
        return nil
    }

    /// UnionPay entries first, by priority; others after, in card order.
    public static func candidates(_ entries: [DirectoryEntry]) -> [[UInt8]] {
        let unionPay = entries.enumerated().filter { $0.element.aid.starts(with: unionPayRID) }
            .sorted { ($0.element.priority ?? 16, $0.offset) < ($1.element.priority ?? 16, $1.offset) }
            .map(\.element.aid)
        let others = entries.filter { !$0.aid.starts(with: unionPayRID) }.map(\.aid)
        var seen = Set<[UInt8]>()
        return (unionPay + others).filter { seen.insert($0).inserted }
    }

    // MARK: Data object lists and GPO

    /// A DOL entry: a tag and the length the card wants.
    public struct DOLEntry: Hashable, Sendable {
        public var tag: TLVTag
        public var length: Int
    }

    /// Decodes a data object list (`9F38` PDOL): tag, one-byte length, repeated.
    public static func dataObjectList(_ bytes: [UInt8]) throws(APDUError) -> [DOLEntry] {
        var input = bytes[...]
        var entries: [DOLEntry] = []
        while !input.isEmpty {
            let start = bytes.count - input.count
            var tagBytes = [input.removeFirst()]
            if tagBytes[0] & 0x1F == 0x1F {
                while true {
                    guard let next = input.first else { throw APDUError(.truncated, offset: start, reason: "DOL tag cut short") }
                    input.removeFirst()
                    tagBytes.append(next)
                    if next & 0x80 == 0 { break }
                    guard tagBytes.count < 4 else { throw APDUError(.invalidTag, offset: start, reason: "DOL tag too long") }
                }
            }
            guard let length = input.first else { throw APDUError(.truncated, offset: start, reason: "DOL entry without length") }
            input.removeFirst()
            entries.append(DOLEntry(tag: try TLVTag(bytes: tagBytes), length: Int(length)))
            guard entries.count <= 64 else { throw APDUError(.tooManyObjects, offset: start, reason: "DOL with more than 64 entries") }
        }
        return entries
    }

    /// The data for a DOL: each entry's value from `terminal`, fitted to the requested length
    /// (numeric values keep their rightmost bytes, others their leftmost; unknown tags are zeros).
    public static func dolData(_ entries: [DOLEntry], terminal: TerminalData) -> [UInt8] {
        var out: [UInt8] = []
        for entry in entries {
            let value = terminal.value(for: entry.tag)
            if value.count == entry.length {
                out += value
            } else if TerminalData.numericTags.contains(entry.tag) {
                let fitted = value.suffix(entry.length)
                out += [UInt8](repeating: 0, count: entry.length - fitted.count) + fitted
            } else {
                let fitted = value.prefix(entry.length)
                out += fitted + [UInt8](repeating: 0, count: entry.length - fitted.count)
            }
        }
        return out
    }

    /// GET PROCESSING OPTIONS with the PDOL data in template `83`.
    public static func gpoCommand(pdolData: [UInt8]) throws(APDUError) -> CommandAPDU {
        let template = TLV(tag: 0x83, value: pdolData).bytes
        return try CommandAPDU(cla: 0x80, ins: 0xA8, p1: 0x00, p2: 0x00, data: template, expectedLength: 256)
    }

    /// One AFL entry: records `first...last` of SFI `sfi`.
    public struct AFLEntry: Hashable, Sendable {
        public var sfi: UInt8
        public var first: UInt8
        public var last: UInt8
        public var offlineAuthenticationRecords: UInt8
    }

    /// The GET PROCESSING OPTIONS answer: application interchange profile and file locator.
    public struct ProcessingOptions: Hashable, Sendable {
        public var aip: [UInt8]
        public var afl: [AFLEntry]
    }

    /// Decodes both formats: `80 L AIP(2) AFL(4n)` and `77{82 AIP, 94 AFL, …}`.
    public static func processingOptions(_ data: [UInt8]) throws(APDUError) -> ProcessingOptions {
        let object = try TLV.parse(data, options: .emv)
        let aip: [UInt8]
        let afl: [UInt8]
        switch object.tag {
        case 0x80:
            guard object.value.count >= 2 else { throw APDUError(.truncated, offset: 0, reason: "format 1 GPO answer without AIP") }
            aip = Array(object.value.prefix(2))
            afl = Array(object.value.dropFirst(2))
        case 0x77:
            guard let aipObject = object.first(0x82), aipObject.value.count == 2 else {
                throw APDUError(.truncated, offset: 0, reason: "format 2 GPO answer without a 2-byte AIP (82)")
            }
            aip = aipObject.value
            afl = object.first(0x94)?.value ?? []
        default:
            throw APDUError(.invalidTag, offset: 0, reason: "GPO answer is neither format 1 (80) nor format 2 (77): \(object.tag)")
        }
        return ProcessingOptions(aip: aip, afl: try Self.fileLocator(afl))
    }

    /// Decodes an application file locator: 4-byte entries, SFI 1–30, 1 ≤ first ≤ last.
    public static func fileLocator(_ bytes: [UInt8]) throws(APDUError) -> [AFLEntry] {
        guard bytes.count % 4 == 0 else {
            throw APDUError(.invalidLength, offset: bytes.count, reason: "AFL length \(bytes.count) is not a multiple of 4")
        }
        var entries: [AFLEntry] = []
        for start in stride(from: 0, to: bytes.count, by: 4) {
            let entry = AFLEntry(sfi: bytes[start] >> 3, first: bytes[start + 1], last: bytes[start + 2], offlineAuthenticationRecords: bytes[start + 3])
            guard (1...30).contains(entry.sfi), entry.first >= 1, entry.last >= entry.first,
                Int(entry.offlineAuthenticationRecords) <= Int(entry.last - entry.first) + 1
            else { throw APDUError(.invalidParameter, offset: start, reason: "AFL entry \(Hex.encode(bytes[start..<start + 4])) is invalid") }
            entries.append(entry)
        }
        return entries
    }

    // MARK: Records

    /// Every primitive object in an AFL record (`70{…}`), by tag; the first occurrence wins.
    public static func recordObjects(_ data: [UInt8]) throws(APDUError) -> [TLVTag: [UInt8]] {
        let record = try TLV.parse(data, options: .emv)
        guard record.tag == 0x70 else { throw APDUError(.invalidTag, offset: 0, reason: "record template is \(record.tag), expected 70") }
        var found: [TLVTag: [UInt8]] = [:]
        func collect(_ object: TLV) {
            if object.children.isEmpty {
                if found[object.tag] == nil { found[object.tag] = object.value }
            } else {
                object.children.forEach(collect)
            }
        }
        record.children.forEach(collect)
        return found
    }

    /// PAN and expiry from track 2 equivalent data (`57`): BCD PAN, separator `D`, YYMM, …
    public static func track2(_ value: [UInt8]) -> (pan: String, expiry: String)? {
        let nibbles = BCD.nibbles(value)
        guard let separator = nibbles.firstIndex(of: 0x0D), (12...19).contains(separator),
            nibbles[..<separator].allSatisfy({ $0 <= 9 }), nibbles.count >= separator + 5,
            nibbles[(separator + 1)...(separator + 4)].allSatisfy({ $0 <= 9 })
        else { return nil }
        let digits = { (slice: ArraySlice<UInt8>) in slice.map { String($0) }.joined() }
        return (digits(nibbles[..<separator]), digits(nibbles[(separator + 1)...(separator + 4)]))
    }
}
