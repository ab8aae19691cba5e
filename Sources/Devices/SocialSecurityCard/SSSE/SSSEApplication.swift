public import APDU
import Bytes
public import CardCore

/// The SSSE application on a card, spoken to over one channel: SELECT, READ RECORD with the
/// addressing fallbacks real cards need, the 3.00 authentication, and VERIFY.
///
/// Addressing (`cards.md` §1.3): records are read by tag (P2 = `00`) in the selected EF. When a card
/// refuses that, the session switches to record numbers (P2 = `04`), and when it refuses selecting the
/// EF, to short file identifiers (P2 = `SFI<<3 | 4`). A switch is remembered for the rest of the session.
public struct SSSEApplication {
    /// How records are addressed.
    public enum Addressing: String, Sendable {
        case tag, recordNumber, shortFileID
    }

    public let channel: any CardChannel
    /// The addressing in use (starts at `.tag`).
    public private(set) var addressing: Addressing = .tag
    /// The algorithm identifier from the FCI, after ``select()``.
    public private(set) var algorithm: UInt8 = SSSECodec.defaultAlgorithm
    private var selectedFile: SSSEFile?
    /// Set once a read by tag succeeded: from then on `6A83` means "no such record", not "no tag addressing".
    private var tagAddressingWorks = false
    /// Every item value seen so far, by tag (a record read by number may hold another item than asked).
    public private(set) var values: [UInt8: [UInt8]] = [:]

    public init(channel: any CardChannel) { self.channel = channel }

    /// SELECT `sx1.sh.社会保障`; reads the algorithm identifier from the FCI.
    public mutating func select() throws(CardReadError) {
        let step = "SELECT SSSE"
        let response = try self.send(try! CommandAPDU.select(name: SSSECodec.applicationName), step: step)
        switch response.status.rawValue {
        case 0x9000: break
        case 0x6A82: throw CardReadError(.notSocialSecurityCard, step: step, statusWord: response.status)
        default: throw CardReadError.from(response.status, step: step)
        }
        self.algorithm = SSSECodec.algorithmIdentifier(inFCI: response.data) ?? SSSECodec.defaultAlgorithm
        self.selectedFile = nil
    }

    /// Reads `item`'s value, or returns `nil` for an optional item the card does not have.
    public mutating func read(_ item: SSSEItem, optional: Bool = false) throws(CardReadError) -> [UInt8]? {
        if let cached = self.values[item.tag] { return cached }
        let step = "READ RECORD \(item)"
        do {
            return try self.readOnce(item, step: step)
        } catch let error where optional && [.recordNotFound, .fileNotFound].contains(error.reason) {
            return nil
        }
    }

    private mutating func readOnce(_ item: SSSEItem, step: String) throws(CardReadError) -> [UInt8] {
        if self.addressing != .shortFileID { try self.selectFile(item.file) }
        if self.addressing == .tag {
            let command = try! CommandAPDU.readRecord(item.tag, p2: 0x00, expectedLength: item.length + 2)
            let response = try self.sendRecordCommand(command, step: step)
            if response.status.rawValue == 0x9000 {
                self.tagAddressingWorks = true
                return try self.store(response.data, wanted: item, step: step)!
            }
            let absent = response.status.rawValue == 0x6A83 && self.tagAddressingWorks
            guard Self.refusesAddressing(response.status) && !absent else { throw CardReadError.from(response.status, step: step) }
            self.addressing = .recordNumber
        }
        // Record numbers: the common layout first, then every record until the tag turns up.
        let p2: UInt8 = self.addressing == .shortFileID ? item.file.shortFileID << 3 | 0x04 : 0x04
        var candidates: [UInt8] = [item.record]
        candidates += (1...8).filter { $0 != item.record }
        for record in candidates {
            let command = try! CommandAPDU.readRecord(record, p2: p2, expectedLength: item.length + 2)
            let response = try self.sendRecordCommand(command, step: step)
            switch response.status.rawValue {
            case 0x9000:
                if let value = try self.store(response.data, wanted: item, step: step) { return value }
            case 0x6A83:
                throw CardReadError(.recordNotFound, step: step, statusWord: response.status)
            default:
                throw CardReadError.from(response.status, step: step)
            }
        }
        throw CardReadError(.recordNotFound, step: step, detail: "no record 1–8 holds tag \(Hex.encode([item.tag]))")
    }

    /// Stores the record's item by its tag; returns the value when it is the wanted item.
    private mutating func store(_ data: [UInt8], wanted: SSSEItem, step: String) throws(CardReadError) -> [UInt8]? {
        let record: (tag: UInt8, value: [UInt8])
        do {
            record = try SSSECodec.record(data)
        } catch {
            throw CardReadError(.invalidData, step: step, detail: "record \(error)")
        }
        if self.addressing == .tag && record.tag != wanted.tag {
            throw CardReadError(.invalidData, step: step, detail: "asked for tag \(Hex.encode([wanted.tag])), got \(Hex.encode([record.tag]))")
        }
        self.values[record.tag] = record.value
        return record.tag == wanted.tag ? record.value : nil
    }

    /// READ RECORD with one retry at Le = 256 when the card says `6700` (wrong length, no hint).
    private func sendRecordCommand(_ command: CommandAPDU, step: String) throws(CardReadError) -> ResponseAPDU {
        let response = try self.send(command, step: step)
        guard response.status.rawValue == 0x6700 else { return response }
        return try self.send(command.with(expectedLength: 256), step: step)
    }

    private mutating func selectFile(_ file: SSSEFile) throws(CardReadError) {
        guard self.selectedFile != file else { return }
        let step = "SELECT \(file.name)"
        let id: [UInt8] = [UInt8(file.rawValue >> 8), UInt8(file.rawValue & 0xFF)]
        // P1 = 02 (EF under the current DF) is the common form; some cards only take P1 = 00.
        var response = try self.send(try! CommandAPDU(cla: 0, ins: 0xA4, p1: 0x02, p2: 0x00, data: id), step: step)
        if Self.refusesAddressing(response.status) {
            response = try self.send(try! CommandAPDU(cla: 0, ins: 0xA4, p1: 0x00, p2: 0x00, data: id), step: step)
        }
        switch response.status.rawValue {
        case 0x9000:
            self.selectedFile = file
        case 0x6A82, 0x6A86, 0x6A87, 0x6B00, 0x6D00:
            // No EF selection on this card: address by short file identifier instead.
            self.addressing = .shortFileID
            self.selectedFile = nil
        default:
            throw CardReadError.from(response.status, step: step)
        }
    }

    /// Status words with which a card says "not this way of addressing", rather than "no such data".
    static func refusesAddressing(_ sw: StatusWord) -> Bool {
        [0x6A86, 0x6B00, 0x6A83, 0x6A80, 0x6A88, 0x6D00, 0x6E00].contains(sw.rawValue)
    }

    /// Sends a command, mapping reader failures.
    public func send(_ command: CommandAPDU, step: String) throws(CardReadError) -> ResponseAPDU {
        do {
            return try self.channel.send(command)
        } catch {
            throw CardReadError(error, step: step)
        }
    }

    // MARK: 3.00 authentication

    /// INTERNAL AUTHENTICATE (is the card genuine?) then EXTERNAL AUTHENTICATE with RKSSSE, both through
    /// `module`. Needs the card identification code (read it first).
    public mutating func authenticate(with module: (any SecurityModule)?, externalKeyID: UInt8 = 0x0A) throws(CardReadError) {
        guard let module else {
            throw CardReadError(.securityModuleMissing, step: "authenticate 3.00 card", detail: "no security module configured")
        }
        guard let identifier = self.values[SSSEItem.cardIdentifier.tag] else {
            throw CardReadError(.recordNotFound, step: "authenticate 3.00 card", detail: "card identification code not read")
        }
        let context = CardAuthenticationContext(algorithm: self.algorithm, cardIdentifier: identifier)

        // Internal: our random challenge, the card's answer, compared with the module's.
        var generator = SystemRandomNumberGenerator()
        let challenge = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let internalStep = "INTERNAL AUTHENTICATE"
        // Case 3, as the standard's wrapper sends it (cards.md §1.4): a T=0 card answers 61xx, a T=1 card
        // answers with the data.
        let cardAnswer = try self.send(try! CommandAPDU(cla: 0, ins: 0x88, p1: 0, p2: 0, data: challenge), step: internalStep)
        guard cardAnswer.status.rawValue == 0x9000 else { throw CardReadError.from(cardAnswer.status, step: internalStep) }
        let expected: [UInt8]
        do {
            expected = try module.internalAuthenticationResponse(challenge: challenge, card: context)
        } catch {
            throw error.asCardReadError(step: "\(internalStep) via \(module.name)")
        }
        guard !expected.isEmpty, cardAnswer.data == expected else {
            throw CardReadError(.cardNotGenuine, step: internalStep, detail: "answer does not match the security module's")
        }

        // External: the card's challenge, the module's cryptogram, the card's verdict.
        let challengeStep = "GET CHALLENGE"
        let cardChallenge = try self.send(try! CommandAPDU(cla: 0, ins: 0x84, p1: 0, p2: 0, expectedLength: 8), step: challengeStep)
        guard cardChallenge.status.rawValue == 0x9000, cardChallenge.data.count >= 4 else {
            throw CardReadError.from(cardChallenge.status, step: challengeStep)
        }
        let externalStep = "EXTERNAL AUTHENTICATE"
        let cryptogram: [UInt8]
        do {
            cryptogram = try module.externalAuthenticationData(cardChallenge: cardChallenge.data, card: context)
        } catch {
            throw error.asCardReadError(step: "\(externalStep) via \(module.name)")
        }
        let verdict = try self.send(
            try! CommandAPDU(cla: 0, ins: 0x82, p1: 0, p2: externalKeyID, data: cryptogram), step: externalStep)
        switch (verdict.status.sw1, verdict.status.sw2) {
        case (0x90, 0x00): return
        case (0x63, let sw2) where sw2 & 0xF0 == 0xC0:
            throw CardReadError(.externalAuthenticationFailed(triesLeft: Int(sw2 & 0x0F)), step: externalStep, statusWord: verdict.status)
        case (0x69, 0x83):
            throw CardReadError(.externalAuthenticationFailed(triesLeft: 0), step: externalStep, statusWord: verdict.status)
        default:
            throw CardReadError.from(verdict.status, step: externalStep)
        }
    }

    // MARK: PIN

    /// VERIFY of the social-security PIN (`00 20 00 00 Lc <BCD>`), for flows that need it and a PIN
    /// entered on a test or development setup. At an outlet the PIN goes through the reader's PIN pad
    /// (``pinVerifyStructure``) and never through this process.
    public func verifyPIN(digits: String) throws(CardReadError) {
        let step = "VERIFY"
        guard let data = Self.packPIN(digits) else {
            throw CardReadError(.invalidData, step: step, detail: "the PIN must be 4 to 12 digits")
        }
        let response = try self.send(try! CommandAPDU(cla: 0, ins: 0x20, p1: 0, p2: 0, data: data), step: step)
        guard response.status.rawValue != 0x9000 else { return }
        throw CardReadError.from(response.status, step: step)
    }

    /// The PIN as packed BCD, odd lengths padded with `F`; `nil` when it is not 4–12 digits.
    static func packPIN(_ digits: String) -> [UInt8]? {
        let values = digits.compactMap(\.wholeNumberValue)
        guard values.count == digits.count, (4...12).contains(values.count) else { return nil }
        return BCD.pack(nibbles: values.map(UInt8.init))
    }

    /// The PC/SC part 10 structure for VERIFY on a PIN-pad reader: packed BCD digits, `length` digits
    /// (6, the social-security PIN's usual length), APDU template `00 20 00 00 Lc FF…`.
    public static func pinVerifyStructure(length: Int = 6, timeout: UInt8 = 30) -> PINVerifyStructure {
        let bytes = (length + 1) / 2
        var structure = PINVerifyStructure(apduTemplate: [0x00, 0x20, 0x00, 0x00, UInt8(bytes)] + [UInt8](repeating: 0xFF, count: bytes))
        structure.timeout = timeout
        structure.formatString = 0x81  // system unit bytes, left justified, BCD
        structure.pinBlockString = UInt8(bytes)
        structure.minimumDigits = UInt8(length)
        structure.maximumDigits = UInt8(length)
        return structure
    }
}
