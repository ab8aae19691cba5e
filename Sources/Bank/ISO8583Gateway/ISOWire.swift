public import BankGateway
import Bytes
import Foundation
import Identity
public import ISO8583

/// What identifies a request that went out: enough to match its reply, ask about it and reverse it.
/// Holds no PAN (only its masked form) and no PIN block. Persisted in the terminal state file.
public struct OriginalRecord: Codable, Hashable, Sendable {
    public var key: String
    public var mti: String
    public var processingCode: String
    public var stan: String
    /// Local date (MMDD) and time (hhmmss) of the original, fields 13 and 12.
    public var date: String
    public var time: String
    public var batch: String
    public var maskedPAN: String
    /// The business day (`YYYYMMDD`, UTC+8) the STAN belongs to.
    public var day: String
    /// The business day its activation was settled in the journal (final), nil while it is not: an
    /// unsettled original is kept however old it is, a settled one for the retention days after this.
    public var settledDay: String?
    /// True for originals written since settlement is tracked (nil in older state files).
    public var tracked: Bool?

    public init(key: String, mti: String, processingCode: String, stan: String, date: String, time: String, batch: String, maskedPAN: String, day: String) {
        self.key = key
        self.mti = mti
        self.processingCode = processingCode
        self.stan = stan
        self.date = date
        self.time = time
        self.batch = batch
        self.maskedPAN = maskedPAN
        self.day = day
    }
}

/// Builds and checks the messages of the `iso8583` gateway (pure; no I/O). Layouts, after
/// `gateway.md` §1.2–§1.3:
/// - sign-on `0800`: 11, 41, 42, 60 (`00` + batch + `003`), 63 (`001` operator); reply `0810` with 39, 60, 62 (keys);
/// - activation `0100` (or `0200`): 2, 3, 11, 12, 13, 14, 22 `051`, 23, 25 `00`, 26 `06`, 41, 42, 49 `156`,
///   52, 53, 60 (`22` + batch + `000`), 62 (``PrivateData``: key, ID type and number, name), 64 MAC;
/// - inquiry: the activation MTI with the inquiry processing code, a new STAN, 61 (original batch,
///   STAN and date), 62 (key), 64;
/// - reversal `0400`: the original's 3, 11, 12, 13, 60, plus 39 (reason), 41, 42, 62 (key), 64.
/// The MAC covers the message from the MTI up to field 63 (the MAC block), as the UnionPay POS MAC does.
public struct ISOWire: Sendable {
    public let settings: ISOSettings

    public init(settings: ISOSettings) { self.settings = settings }

    // MARK: Requests

    public func signOn(stan: String, batch: String) -> ISO8583Message {
        ISO8583Message(mti: "0800", fields: [
            11: stan, 41: self.settings.terminalID, 42: self.settings.merchantID, 60: "00" + batch + "003", 63: "001",
        ])
    }

    public func activation(_ request: ActivationRequest, original: OriginalRecord) throws(ISO8583GatewayError) -> ISO8583Message {
        var data = PrivateData()
        data.set(.key, text: request.key.value)
        data.set(.idType, text: request.cardholder.idType < 10 ? "0\(request.cardholder.idType)" : String(request.cardholder.idType % 100))
        data.set(.idNumber, text: request.cardholder.idNumber)
        guard let name = GB18030.encode(request.cardholder.name) else { throw .encoding("the holder's name has no GB18030 form") }
        data[.name] = name
        if let key = self.settings.fieldKey { data = try data.sealingIDAndName(key: key) }
        var fields: [Int: String] = [
            2: request.card.pan, 3: original.processingCode, 11: original.stan, 12: original.time, 13: original.date,
            22: "051", 25: "00", 26: "06", 41: self.settings.terminalID, 42: self.settings.merchantID, 49: "156",
            52: Hex.encode(request.pinBlock.bytes), 53: self.settings.securityControl, 60: "22" + original.batch + "000",
            62: Hex.encode(data.encoded()),
        ]
        if let expiry = request.card.expiry { fields[14] = String(expiry.digits.dropFirst(2).prefix(4)) }
        if let sequence = request.card.panSequenceNumber { fields[23] = String(format: "%03d", sequence % 1000) }
        return ISO8583Message(mti: original.mti, fields: fields.filter { self.settings.spec.fields[$0.key] != nil })
    }

    public func inquiry(original: OriginalRecord, stan: String, date: String, time: String, processingCode: String) -> ISO8583Message {
        var data = PrivateData()
        data.set(.key, text: original.key)
        return ISO8583Message(mti: original.mti, fields: [
            3: processingCode, 11: stan, 12: time, 13: date, 41: self.settings.terminalID, 42: self.settings.merchantID,
            60: "00" + original.batch + "000", 61: original.batch + original.stan + original.date, 62: Hex.encode(data.encoded()),
        ].filter { self.settings.spec.fields[$0.key] != nil })
    }

    public func reversal(original: OriginalRecord, reason: ReversalReason) -> ISO8583Message {
        var data = PrivateData()
        data.set(.key, text: original.key)
        return ISO8583Message(mti: "0400", fields: [
            3: original.processingCode, 11: original.stan, 12: original.time, 13: original.date, 39: Self.reversalCode(reason),
            41: self.settings.terminalID, 42: self.settings.merchantID, 60: "22" + original.batch + "000", 62: Hex.encode(data.encoded()),
        ])
    }

    /// Field 39 of a reversal: `98` no answer from the host, `17` cancelled by the customer, `06` other.
    static func reversalCode(_ reason: ReversalReason) -> String {
        switch reason {
        case .timeout, .unknownOutcome: "98"
        case .customerCancelled: "17"
        case .cardRemoved: "06"
        }
    }

    /// The reply's MTI: the function digit plus one (`0100` → `0110`, `0400` → `0410`).
    public static func replyMTI(_ mti: String) -> String {
        guard mti.count == 4, let third = mti.dropFirst(2).first?.wholeNumberValue, third < 9 else { return mti }
        return String(mti.prefix(2)) + String(third + 1) + String(mti.suffix(1))
    }

    // MARK: Bytes

    /// The message's bytes; with `macKey`, field 64 is the MAC of everything before it.
    public func encode(_ message: ISO8583Message, macKey: [UInt8]?) throws(ISO8583GatewayError) -> [UInt8] {
        var message = message
        guard let macKey else {
            message[64] = nil
            return try self.codec { () throws(ISO8583Error) in try ISO8583Codec.encode(message, spec: self.settings.spec) }
        }
        do {
            return try MessageMAC.encode(message, spec: self.settings.spec, algorithm: self.settings.mac, key: macKey)
        } catch {
            switch error {
            case .codec(let error): throw .encoding("\(error)")
            case .key: throw .encoding("MAC key does not fit \(self.settings.mac.rawValue)")
            }
        }
    }

    /// The message in `bytes`; with `macKey`, field 64 must be present and right.
    public func decode(_ bytes: [UInt8], macKey: [UInt8]?) throws(ISO8583GatewayError) -> ISO8583Message {
        let message: ISO8583Message
        do {
            message = try ISO8583Codec.decode(bytes, spec: self.settings.spec)
        } catch {
            throw .malformedReply("\(error)")
        }
        guard let macKey else { return message }
        guard message[64] != nil, bytes.count >= 8 else { throw .badMAC("the reply carries no MAC") }
        guard MessageMAC.verifies(bytes, algorithm: self.settings.mac, key: macKey) else { throw .badMAC("the reply's MAC does not verify") }
        return message
    }

    /// A frame carrying `message` bytes with this terminal's TPDU and header.
    public func frame(_ message: [UInt8]) throws(ISO8583GatewayError) -> [UInt8] {
        try self.codec { () throws(ISO8583Error) in
            try Frame(tpdu: self.settings.tpdu, header: self.settings.header, message: message).encoded(self.settings.frame)
        }
    }

    private func codec<T>(_ body: () throws(ISO8583Error) -> T) throws(ISO8583GatewayError) -> T {
        do { return try body() } catch { throw .encoding("\(error)") }
    }
}
