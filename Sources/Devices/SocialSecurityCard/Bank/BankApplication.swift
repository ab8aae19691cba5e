public import APDU
import Bytes
public import CardCore
public import Identity

/// What the bank (UnionPay/PBOC) application of the card says. The PAN is personal data: show
/// ``maskedPAN`` everywhere except where a flow must send the number to the bank.
public struct BankApplicationData: Hashable, Sendable {
    /// The selected application identifier.
    public var aid: [UInt8]
    /// Primary account number (`5A`, else from `57`).
    public var pan: String
    /// `5F34`.
    public var panSequenceNumber: Int?
    /// `5F24` (YYMMDD), as a date.
    public var expiry: CalendarDate?
    /// `9F0B` (name extension, preferred) or `5F20`, decoded as GB18030 (ASCII is a subset).
    public var holderName: String?
    /// `9F61`, the holder's ID document number.
    public var holderID: String?
    /// `9F62`, the ID document type (`00` resident ID card, `01` officer, `02` passport, …).
    public var holderIDType: UInt8?

    /// First 6 and last 4 digits.
    public var maskedPAN: String { Masking.pan(self.pan) }
}

/// Reads the bank application in the fewest APDUs: find it (see ``Discovery``); SELECT it; GET PROCESSING
/// OPTIONS from its PDOL; READ RECORD along the AFL until every item the kiosk uses is found.
public struct BankApplicationReader {
    /// How the application is found.
    public enum Discovery: Sendable, Hashable {
        /// The card's directories: PPSE, else PSE, then the known UnionPay AIDs. What a diagnosis read
        /// uses, so that it shows what the card lists.
        case directory
        /// SELECT the UnionPay debit AID (`A000000333010101`, the account a social security card's bank
        /// function is) straight away, as SSC kiosk readers do (`cards.md` §2); on `6A82` the directories as
        /// in ``directory``. Saves the PPSE, or the PSE and its records, on every card that has the AID.
        case debitFirst
    }

    public let channel: any CardChannel
    public let terminal: TerminalData
    public let discovery: Discovery

    public init(channel: any CardChannel, terminal: TerminalData, discovery: Discovery = .directory) {
        self.channel = channel
        self.terminal = terminal
        self.discovery = discovery
    }

    public func read() throws(CardReadError) -> BankApplicationData {
        let (aid, fci) = try self.selectApplication()
        let aidText = Hex.encode(aid)

        // GPO with the card's PDOL.
        let gpoStep = "GET PROCESSING OPTIONS"
        var pdol: [PBOCCodec.DOLEntry] = []
        if let fciObject = try? TLV.parseAll(fci, options: .emv), let pdolValue = fciObject.lazy.compactMap({ $0.tag == 0x9F38 ? $0 : $0.first(0x9F38) }).first?.value {
            do {
                pdol = try PBOCCodec.dataObjectList(pdolValue)
            } catch {
                throw CardReadError(.invalidData, step: "decode PDOL of \(aidText)", detail: "\(error)")
            }
        }
        let gpo = try self.send(try! PBOCCodec.gpoCommand(pdolData: PBOCCodec.dolData(pdol, terminal: self.terminal)), step: gpoStep)
        guard gpo.status.rawValue == 0x9000 else { throw CardReadError.from(gpo.status, step: gpoStep, inBankApplication: true) }
        let options: PBOCCodec.ProcessingOptions
        do {
            options = try PBOCCodec.processingOptions(gpo.data)
        } catch {
            throw CardReadError(.invalidData, step: gpoStep, detail: "\(error)")
        }

        // Records along the AFL, stopping once everything the kiosk uses is in hand.
        var objects: [TLVTag: [UInt8]] = [:]
        let wanted: [TLVTag] = [0x5F24, 0x5F34, 0x9F61, 0x9F62]
        func complete() -> Bool {
            (objects[0x5A] != nil || objects[0x57] != nil) && (objects[0x9F0B] != nil || objects[0x5F20] != nil)
                && wanted.allSatisfy { objects[$0] != nil }
        }
        readLoop: for entry in options.afl {
            for record in entry.first...entry.last {
                if complete() { break readLoop }
                let step = "READ RECORD SFI \(entry.sfi) #\(record)"
                let response = try self.send(try! CommandAPDU.readRecord(record, p2: entry.sfi << 3 | 0x04, expectedLength: 256), step: step)
                switch response.status.rawValue {
                case 0x9000: break
                case 0x6A83: continue  // listed but absent: nothing to read here
                default: throw CardReadError.from(response.status, step: step, inBankApplication: true)
                }
                do {
                    for (tag, value) in try PBOCCodec.recordObjects(response.data) where objects[tag] == nil {
                        objects[tag] = value
                    }
                } catch {
                    throw CardReadError(.invalidData, step: step, detail: "\(error)")
                }
            }
        }
        return try Self.data(aid: aid, objects: objects)
    }

    /// Builds the model from the record objects.
    public static func data(aid: [UInt8], objects: [TLVTag: [UInt8]]) throws(CardReadError) -> BankApplicationData {
        let step = "decode bank application \(Hex.encode(aid))"
        var pan: String?
        if let value = objects[0x5A] {
            guard let digits = BCD.digits(value), (12...19).contains(digits.count) else {
                throw CardReadError(.invalidData, step: step, detail: "PAN (5A) is not 12–19 BCD digits")
            }
            pan = digits
        } else if let value = objects[0x57], let track = PBOCCodec.track2(value) {
            pan = track.pan
        }
        guard let pan else { throw CardReadError(.invalidData, step: step, detail: "no PAN in 5A or 57") }
        var expiry: CalendarDate?
        if let value = objects[0x5F24], value.count == 3, let digits = BCD.digits(value), digits.count == 6 {
            expiry = CalendarDate(digits: "20" + digits)
        }
        func text(_ tag: TLVTag) -> String? {
            guard let value = objects[tag], let decoded = try? GB18030.decode(value), !decoded.isEmpty else { return nil }
            return decoded
        }
        let sequence = objects[0x5F34].flatMap { BCD.digits($0) }.flatMap { Int($0) }
        let holderID = objects[0x9F61].map { String(decoding: $0.filter { $0 >= 0x20 && $0 < 0x7F }, as: UTF8.self).trimmingSpaces() }
        return BankApplicationData(
            aid: aid, pan: pan, panSequenceNumber: sequence, expiry: expiry,
            holderName: text(0x9F0B) ?? text(0x5F20), holderID: holderID?.isEmpty == false ? holderID : nil,
            holderIDType: objects[0x9F62]?.first)
    }

    private func selectApplication() throws(CardReadError) -> (aid: [UInt8], fci: [UInt8]) {
        var tried: [[UInt8]] = []
        var blocked: CardReadError?
        if self.discovery == .debitFirst {
            let aid = PBOCCodec.debitAID
            tried.append(aid)
            let step = "SELECT AID \(Hex.encode(aid))"
            let response = try self.send(try! CommandAPDU.select(name: aid), step: step)
            switch response.status.rawValue {
            case 0x9000: return (aid, response.data)
            case 0x6283, 0x6A81: blocked = CardReadError(.bankApplicationBlocked, step: step, statusWord: response.status)
            case 0x6A82: break
            default: throw CardReadError.from(response.status, step: step, inBankApplication: true)
            }
        }
        var candidates: [[UInt8]] = []
        let ppse = try self.send(try! CommandAPDU.select(name: PBOCCodec.ppse), step: "SELECT PPSE")
        if ppse.status.rawValue == 0x9000 {
            candidates = PBOCCodec.candidates((try? PBOCCodec.directoryEntries(ppse.data)) ?? [])
        }
        if candidates.isEmpty {
            candidates = try self.pseCandidates()
        }
        candidates += PBOCCodec.knownAIDs.filter { !candidates.contains($0) }
        candidates.removeAll { tried.contains($0) }
        for aid in candidates {
            let step = "SELECT AID \(Hex.encode(aid))"
            let response = try self.send(try! CommandAPDU.select(name: aid), step: step)
            switch response.status.rawValue {
            case 0x9000: return (aid, response.data)
            case 0x6283, 0x6A81: blocked = blocked ?? CardReadError(.bankApplicationBlocked, step: step, statusWord: response.status)
            case 0x6A82: continue
            default: throw CardReadError.from(response.status, step: step, inBankApplication: true)
            }
        }
        throw blocked ?? CardReadError(.noBankApplication, step: "SELECT bank application", detail: "tried \(candidates.count + tried.count) AIDs")
    }

    private func pseCandidates() throws(CardReadError) -> [[UInt8]] {
        let pse = try self.send(try! CommandAPDU.select(name: PBOCCodec.pse), step: "SELECT PSE")
        guard pse.status.rawValue == 0x9000, let sfi = try? PBOCCodec.directorySFI(inFCI: pse.data) else { return [] }
        var entries: [PBOCCodec.DirectoryEntry] = []
        for record in UInt8(1)...16 {
            let step = "READ RECORD PSE SFI \(sfi) #\(record)"
            let response = try self.send(try! CommandAPDU.readRecord(record, p2: sfi << 3 | 0x04, expectedLength: 256), step: step)
            guard response.status.rawValue == 0x9000 else { break }
            entries += (try? PBOCCodec.directoryEntries(response.data)) ?? []
            // A UnionPay entry is all the kiosk needs: stop reading the directory.
            if entries.contains(where: { $0.aid.starts(with: PBOCCodec.unionPayRID) }) { break }
        }
        return PBOCCodec.candidates(entries)
    }

    private func send(_ command: CommandAPDU, step: String) throws(CardReadError) -> ResponseAPDU {
        do {
            return try self.channel.send(command)
        } catch {
            throw CardReadError(error, step: step)
        }
    }
}

extension BankApplicationData: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// Masked: safe to log. The clear PAN is only in ``pan``, for the flow that sends it to the bank.
    public var description: String {
        "BankApplicationData(AID \(Hex.encode(self.aid)), PAN \(self.maskedPAN), holder ID \(self.holderID.map(Masking.citizenID) ?? "-"))"
    }
    public var debugDescription: String { self.description }
    public var customMirror: Mirror { Mirror(self, children: ["masked": self.description], displayStyle: .struct) }
}
