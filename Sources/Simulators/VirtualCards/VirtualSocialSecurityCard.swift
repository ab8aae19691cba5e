public import APDU
import Bytes
public import CardSimulator
import Identity
import SocialSecurityCard
import Synchronization

/// A social security card in software, from a ``SocialSecurityCardFixture``: the SSSE application with
/// tag, record-number and SFI addressing, 3.00 gating behind INTERNAL/EXTERNAL AUTHENTICATE under the
/// ``TestKeyScheme``, VERIFY with tries, lock states, and the UnionPay application with PPSE/PSE,
/// PDOL, both GPO formats and AFL records. Answers like a T=1 card; ``make(_:)`` wraps T=0 fixtures in
/// ``CardSimulator/T0Card``.
public final class VirtualSocialSecurityCard: VirtualCard {
    private enum Selected: Equatable { case none, ssse, ppse, pse, bank }

    private struct Session {
        var selected: Selected = .none
        var file: SSSEFile?
        var authenticated = false
        var cardChallenge: [UInt8]?
        var pinTries: Int
        var externalTries: Int
    }

    public let fixture: SocialSecurityCardFixture
    public let atr: [UInt8]
    private let ef05: [(tag: UInt8, value: [UInt8])]
    private let ef06: [(tag: UInt8, value: [UInt8])]
    private let bankRecords: [UInt8: [[UInt8]]]  // SFI → records
    private let session: Mutex<Session>

    /// Builds the card; fails when the fixture's data cannot be encoded (bad dates, name not encodable).
    public init(fixture: SocialSecurityCardFixture) throws(APDUError) {
        self.fixture = fixture
        self.atr = try Hex.decodeOrAPDUError(fixture.atr)
        func bcd(_ digits: String) throws(APDUError) -> [UInt8] {
            guard let packed = BCD.pack(digits) else { throw APDUError(.invalidParameter, reason: "not digits: \(digits)") }
            return packed
        }
        func date(_ text: String?) throws(APDUError) -> [UInt8] {
            guard let text else { return [0xFF, 0xFF, 0xFF, 0xFF] }
            return try bcd(String(text.filter { $0 != "-" }))
        }
        func padded(_ bytes: [UInt8], _ length: Int) -> [UInt8] {
            Array(bytes.prefix(length)) + [UInt8](repeating: 0, count: max(0, length - bytes.count))
        }
        let identifier = try bcd(fixture.region) + [0xD1, 0x56, 0x00, 0x00, 0x05] + Hex.decodeOrAPDUError(fixture.cardSpecific)
        let missing = Set(fixture.missingTags.map { UInt8($0 & 0xFF) })
        self.ef05 = [
            (0x01, identifier), (0x02, Array(fixture.cardType.utf8)), (0x03, Array(fixture.specVersion.utf8)),
            (0x04, [UInt8](repeating: 0, count: 12)), (0x05, try date(fixture.issueDate)), (0x06, try date(fixture.expiryDate)),
            (0x07, Array(fixture.cardNumber.utf8)),
        ].filter { !missing.contains($0.tag) }
        let (namePart, extensionPart) = try Self.splitName(fixture.name)
        var ef06: [(tag: UInt8, value: [UInt8])] = [(0x08, Array(fixture.citizenId.utf8)), (0x09, padded(namePart, 30))]
        if !extensionPart.isEmpty { ef06.append((0x4E, padded(extensionPart, 20))) }
        ef06 += [
            (0x0A, Array(fixture.gender.utf8)), (0x0B, [UInt8(fixture.nation & 0xFF)]), (0x0C, try bcd(fixture.birthplace)),
            (0x0D, try date(fixture.birthDate)),
        ]
        self.ef06 = ef06.filter { !missing.contains($0.tag) }
        self.bankRecords = try fixture.bank.map(Self.bankRecords) ?? [:]
        self.session = Mutex(Session(pinTries: fixture.pinTries, externalTries: fixture.externalAuthenticationTries))
    }

    /// The card as a reader sees it: wrapped for T=0 when the fixture says so.
    public static func make(_ fixture: SocialSecurityCardFixture) throws(APDUError) -> any VirtualCard {
        let card = try VirtualSocialSecurityCard(fixture: fixture)
        guard fixture.protocol == "T=0" else { return card }
        return T0Card(wrapping: card, behaviour: .init(chunkSize: fixture.t0ChunkSize))
    }

    /// The name's GB18030 bytes, split at a character boundary after at most 30 bytes; the rest (≤ 20
    /// bytes) goes to tag `4E`.
    static func splitName(_ name: String) throws(APDUError) -> ([UInt8], [UInt8]) {
        var first: [UInt8] = []
        var rest: [UInt8] = []
        for character in name {
            guard let bytes = GB18030.encode(String(character)) else { throw APDUError(.invalidParameter, reason: "name not encodable") }
            if rest.isEmpty && first.count + bytes.count <= 30 { first += bytes } else { rest += bytes }
        }
        guard rest.count <= 20 else { throw APDUError(.invalidParameter, reason: "name longer than 50 GB18030 bytes") }
        return (first, rest)
    }

    public func reset() {
        self.session.withLock { session in
            session.selected = .none
            session.file = nil
            session.authenticated = false
            session.cardChallenge = nil
        }
    }

    public func process(_ bytes: [UInt8]) -> [UInt8]? {
        guard let command = try? CommandAPDU(bytes: bytes) else { return [0x67, 0x00] }
        return self.session.withLock { session -> [UInt8] in
            switch (command.cla, command.ins) {
            case (0x00, 0xA4): return self.select(command, &session)
            case (0x00, 0xB2): return self.readRecord(command, &session)
            case (0x80, 0xA8): return self.processingOptions(command, session)
            case (0x00, 0x88): return self.internalAuthenticate(command, session)
            case (0x00, 0x84): return self.getChallenge(command, &session)
            case (0x00, 0x82): return self.externalAuthenticate(command, &session)
            case (0x00, 0x20): return self.verify(command, &session)
            default: return command.cla & 0x80 != 0 && command.ins != 0xA8 ? [0x6E, 0x00] : [0x6D, 0x00]
            }
        }
    }

    // MARK: Selection

    private func select(_ command: CommandAPDU, _ session: inout Session) -> [UInt8] {
        switch command.p1 {
        case 0x04: return self.selectByName(command.data, &session)
        case 0x00, 0x02:
            guard session.selected == .ssse, command.data.count == 2 else { return [0x6A, 0x82] }
            if self.fixture.addressing == "sfiOnly" { return [0x6A, 0x82] }
            if self.fixture.addressing == "p1Zero" && command.p1 == 0x02 { return [0x6A, 0x86] }
            let id = UInt16(command.data[0]) << 8 | UInt16(command.data[1])
            if self.fixture.missingFiles.contains(String(id, radix: 16, uppercase: true)) { return [0x6A, 0x82] }
            switch id {
            case 0xEF05: session.file = .ef05
            case 0xEF06: session.file = .ef06
            default: return [0x6A, 0x82]
            }
            return [0x90, 0x00]
        default:
            return [0x6A, 0x86]
        }
    }

    private func selectByName(_ name: [UInt8], _ session: inout Session) -> [UInt8] {
        session.file = nil
        if name == SSSECodec.applicationName {
            switch self.fixture.state {
            case "cardLocked": return [0x93, 0x03]
            case "applicationLocked": return [0x6A, 0x81]
            default: break
            }
            session.selected = .ssse
            var proprietary: [TLV] = []
            if let algorithm = self.fixture.algorithm {
                proprietary.append(TLV(tag: 0x9F0C, value: [0x86, 0x01, UInt8(algorithm & 0xFF)]))
            }
            return TLV(tag: 0x6F, children: [TLV(tag: 0x84, value: name), TLV(tag: 0xA5, children: proprietary)]).bytes + [0x90, 0x00]
        }
        session.selected = .none
        guard let bank = self.fixture.bank, let aid = try? Hex.decode(bank.aid) else { return [0x6A, 0x82] }
        if name == PBOCCodec.ppse {
            guard bank.directory == "ppse" || bank.directory == "both" else { return [0x6A, 0x82] }
            session.selected = .ppse
            let entry = TLV(tag: 0x61, children: [TLV(tag: 0x4F, value: aid), TLV(tag: 0x50, value: Array("UnionPay Debit".utf8)), TLV(tag: 0x87, value: [0x01])])
            return TLV(tag: 0x6F, children: [TLV(tag: 0x84, value: name), TLV(tag: 0xA5, children: [TLV(tag: 0xBF0C, children: [entry])])]).bytes
                + [0x90, 0x00]
        }
        if name == PBOCCodec.pse {
            guard bank.directory == "pse" || bank.directory == "both" else { return [0x6A, 0x82] }
            session.selected = .pse
            return TLV(tag: 0x6F, children: [
                TLV(tag: 0x84, value: name),
                TLV(tag: 0xA5, children: [TLV(tag: 0x88, value: [0x01]), TLV(tag: 0x5F2D, value: Array("zhen".utf8))]),
            ]).bytes + [0x90, 0x00]
        }
        guard name.count >= 5, aid.starts(with: name) else { return [0x6A, 0x82] }
        if bank.blocked { return [0x62, 0x83] }
        session.selected = .bank
        var proprietary = [TLV(tag: 0x50, value: Array("UnionPay Debit".utf8)), TLV(tag: 0x87, value: [0x01])]
        if let pdol = try? Hex.decode(bank.pdol), !pdol.isEmpty { proprietary.append(TLV(tag: 0x9F38, value: pdol)) }
        proprietary.append(TLV(tag: 0x5F2D, value: Array("zhen".utf8)))
        return TLV(tag: 0x6F, children: [TLV(tag: 0x84, value: aid), TLV(tag: 0xA5, children: proprietary)]).bytes + [0x90, 0x00]
    }

    // MARK: Records

    private static let protectedTags: Set<UInt8> = [0x05, 0x06, 0x08, 0x09, 0x4E, 0x0A, 0x0B, 0x0C, 0x0D]

    private func readRecord(_ command: CommandAPDU, _ session: inout Session) -> [UInt8] {
        switch session.selected {
        case .ssse: return self.readSSSERecord(command, session)
        case .pse:
            guard command.p2 == (0x01 << 3 | 0x04), let bank = self.fixture.bank, let aid = try? Hex.decode(bank.aid) else {
                return [0x6A, 0x83]
            }
            guard command.p1 == 1 else { return [0x6A, 0x83] }
            let entry = TLV(tag: 0x61, children: [TLV(tag: 0x4F, value: aid), TLV(tag: 0x50, value: Array("UnionPay Debit".utf8)), TLV(tag: 0x87, value: [0x01])])
            return Self.answer(TLV(tag: 0x70, children: [entry]).bytes, le: command.expectedLength)
        case .bank:
            let sfi = command.p2 >> 3
            guard command.p2 & 0x07 == 0x04, let records = self.bankRecords[sfi], command.p1 >= 1, Int(command.p1) <= records.count else {
                return [0x6A, 0x83]
            }
            return Self.answer(records[Int(command.p1) - 1], le: command.expectedLength)
        default:
            return [0x69, 0x86]
        }
    }

    private func readSSSERecord(_ command: CommandAPDU, _ session: Session) -> [UInt8] {
        let item: (tag: UInt8, value: [UInt8])?
        if command.p2 == 0x00 {
            // By tag, in the selected EF.
            guard self.fixture.addressing == "tag" || self.fixture.addressing == "p1Zero" else { return [0x6A, 0x86] }
            guard let file = session.file else { return [0x69, 0x86] }
            item = (file == .ef05 ? self.ef05 : self.ef06).first { $0.tag == command.p1 }
        } else if command.p2 & 0x07 == 0x04 {
            let sfi = command.p2 >> 3
            let file: SSSEFile?
            switch sfi {
            case 0: file = session.file
            case 5: file = .ef05
            case 6: file = .ef06
            default: return [0x6A, 0x82]
            }
            guard let file else { return [0x69, 0x86] }
            if self.fixture.missingFiles.contains(file.name) { return [0x6A, 0x82] }
            let records = file == .ef05 ? self.ef05 : self.ef06
            item = command.p1 >= 1 && Int(command.p1) <= records.count ? records[Int(command.p1) - 1] : nil
        } else {
            return [0x6A, 0x86]
        }
        guard let item else { return [0x6A, 0x83] }
        if self.fixture.specVersion.hasPrefix("3") && !session.authenticated && Self.protectedTags.contains(item.tag) {
            return [0x69, 0x82]
        }
        return Self.answer([item.tag, UInt8(item.value.count)] + item.value, le: command.expectedLength)
    }

    /// Data + 9000, or `6Cxx` when Le is given, not 256, and wrong.
    private static func answer(_ data: [UInt8], le: Int?) -> [UInt8] {
        if let le, le < 256, le != data.count { return [0x6C, UInt8(data.count & 0xFF)] }
        return data + [0x90, 0x00]
    }

    // MARK: Bank application

    private static func bankRecords(_ bank: SocialSecurityCardFixture.Bank) throws(APDUError) -> [UInt8: [[UInt8]]] {
        let expiryText = String(bank.expiry.filter { $0 != "-" }.dropFirst(2))
        guard let pan = BCD.pack(bank.pan), let expiry = BCD.pack(expiryText), expiry.count == 3 else {
            throw APDUError(.invalidParameter, reason: "bank PAN or expiry is not digits")
        }
        let track2 = BCD.pack(nibbles: BCD.nibbles(pan).prefix(bank.pan.count) + [0x0D] + BCD.nibbles(expiry).prefix(4) + [2, 2, 0, 0, 0, 0, 0])

        var first: [TLV] = [TLV(tag: 0x57, value: track2)]
        if let name = bank.holderName {
            let ascii = name.unicodeScalars.allSatisfy(\.isASCII)
            first.append(TLV(tag: 0x5F20, value: ascii ? Array(name.utf8) : Array("CARDHOLDER".utf8)))
            if !ascii, let gb = GB18030.encode(name) { first.append(TLV(tag: 0x9F0B, value: gb)) }
        }
        var second: [TLV] = [TLV(tag: 0x5F24, value: expiry), TLV(tag: 0x5F25, value: [0x20, 0x01, 0x01])]
        if !bank.panOnlyInTrack2 { second.insert(TLV(tag: 0x5A, value: pan), at: 0) }
        second.append(TLV(tag: 0x5F34, value: [UInt8((bank.panSequence / 10) << 4 | bank.panSequence % 10)]))
        if let id = bank.holderId {
            second.append(TLV(tag: 0x9F61, value: Array(id.utf8)))
            second.append(TLV(tag: 0x9F62, value: [UInt8(bank.holderIdType & 0xFF)]))
        }
        // SFI 1: track data and name; SFI 2: PAN and dates; SFI 3: offline-authentication data the kiosk never needs.
        let filler = TLV(tag: 0x70, children: [TLV(tag: 0x8F, value: [0x01]), TLV(tag: 0x9F32, value: [0x03])]).bytes
        return [
            1: [TLV(tag: 0x70, children: first).bytes],
            2: [TLV(tag: 0x70, children: second).bytes],
            3: [filler, filler],
        ]
    }

    private func processingOptions(_ command: CommandAPDU, _ session: Session) -> [UInt8] {
        guard session.selected == .bank, let bank = self.fixture.bank else { return [0x69, 0x85] }
        let pdol = (try? Hex.decode(bank.pdol)).flatMap { try? PBOCCodec.dataObjectList($0) } ?? []
        let expected = pdol.reduce(0) { $0 + $1.length }
        guard let template = try? TLV.parse(command.data), template.tag == 0x83, template.value.count == expected else {
            return [0x67, 0x00]
        }
        let aip: [UInt8] = [0x7C, 0x00]
        let afl: [UInt8] = [0x08, 0x01, 0x01, 0x00, 0x10, 0x01, 0x01, 0x00, 0x18, 0x01, 0x02, 0x02]
        if bank.gpoFormat == 1 { return TLV(tag: 0x80, value: aip + afl).bytes + [0x90, 0x00] }
        return TLV(tag: 0x77, children: [TLV(tag: 0x82, value: aip), TLV(tag: 0x94, value: afl)]).bytes + [0x90, 0x00]
    }

    // MARK: Security

    private var factor: [UInt8] { Array(self.ef05[0].value.suffix(8)) }

    private func internalAuthenticate(_ command: CommandAPDU, _ session: Session) -> [UInt8] {
        guard session.selected == .ssse, !command.data.isEmpty else { return [0x69, 0x85] }
        let algorithm = UInt8((self.fixture.algorithm ?? 1) & 0xFF)
        guard let key = TestKeyScheme.cardKey(usage: TestKeyScheme.internalAuthenticationUsage, algorithm: algorithm, factor: self.factor),
            var answer = TestKeyScheme.encrypt(command.data, key: key, algorithm: algorithm)
        else { return [0x6A, 0x81] }
        if self.fixture.counterfeit { answer[0] ^= 0xFF }
        return answer + [0x90, 0x00]
    }

    private func getChallenge(_ command: CommandAPDU, _ session: inout Session) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        let challenge = (0..<(command.expectedLength ?? 8)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        session.cardChallenge = challenge
        return challenge + [0x90, 0x00]
    }

    private func externalAuthenticate(_ command: CommandAPDU, _ session: inout Session) -> [UInt8] {
        guard session.selected == .ssse, let challenge = session.cardChallenge else { return [0x69, 0x85] }
        session.cardChallenge = nil
        guard session.externalTries > 0 else { return [0x69, 0x83] }
        let algorithm = UInt8((self.fixture.algorithm ?? 1) & 0xFF)
        let block = challenge + [UInt8](repeating: 0, count: max(0, 16 - challenge.count))
        guard let key = TestKeyScheme.cardKey(usage: TestKeyScheme.externalAuthenticationUsage, algorithm: algorithm, factor: self.factor),
            let expected = TestKeyScheme.encrypt(block, key: key, algorithm: algorithm)
        else { return [0x6A, 0x81] }
        guard command.p2 == 0x0A, command.data == expected else {
            session.externalTries -= 1
            return session.externalTries == 0 ? [0x69, 0x83] : [0x63, 0xC0 | UInt8(session.externalTries)]
        }
        session.externalTries = self.fixture.externalAuthenticationTries
        session.authenticated = true
        return [0x90, 0x00]
    }

    private func verify(_ command: CommandAPDU, _ session: inout Session) -> [UInt8] {
        guard session.selected == .ssse else { return [0x69, 0x85] }
        guard session.pinTries > 0 else { return [0x69, 0x83] }
        guard command.data == BCD.pack(self.fixture.pin) else {
            session.pinTries -= 1
            return session.pinTries == 0 ? [0x69, 0x83] : [0x63, 0xC0 | UInt8(session.pinTries)]
        }
        session.pinTries = self.fixture.pinTries
        return [0x90, 0x00]
    }
}
