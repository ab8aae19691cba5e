import APDU
public import CardCore
import Synchronization

/// Everything one read of a social security card returns.
public struct SocialSecurityCardReading: Sendable {
    /// The card's answer to reset.
    public var atr: [UInt8]
    /// The SSSE data, when asked for.
    public var identity: SocialSecurityIdentity?
    /// The bank application's data, when asked for and present.
    public var bank: BankApplicationData?
    /// Why the bank application could not be read (the identity may still be complete).
    public var bankError: CardReadError?
    /// How many command APDUs went to the card, GET RESPONSE and `6Cxx` resends included.
    public var apduCount: Int
    /// How the SSSE records were addressed in the end.
    public var addressing: SSSEApplication.Addressing?
}

/// What to read and with what.
public struct CardReadOptions: Sendable {
    /// How much of the identity to read.
    public enum Scope: Sendable, Hashable {
        /// Every item the card holds (diagnosis: `kioskctl card read`).
        case everything
        /// What an activation uses: the items that decide whether and how to authenticate, the card number
        /// and expiry, the social security number and the name. Not the issue date, card type, gender,
        /// nation, birthplace or birth date (the ID document carries those; the flow does not use the card's).
        /// The bank application is selected by the UnionPay debit AID first (``BankApplicationReader/Discovery/debitFirst``).
        case activation
    }

    public var readsIdentity = true
    public var readsBank = true
    /// How much of the identity to read (``Scope/everything`` unless set).
    public var scope: Scope = .everything
    /// Keys for 3.00 cards; `nil` means such cards fail with ``CardReadError/Reason/securityModuleMissing``.
    public var securityModule: (any SecurityModule)?
    /// The key identifier for EXTERNAL AUTHENTICATE (RKSSSE; `0A` in the public HSM flow).
    public var externalAuthenticationKeyID: UInt8 = 0x0A
    /// Terminal data for the bank application's PDOL; `nil` means ``TerminalData/now()``.
    public var terminal: TerminalData?
    /// Receives every exchange, already redacted, for field diagnosis.
    public var trace: APDUTraceRecorder?

    public init(readsIdentity: Bool = true, readsBank: Bool = true, securityModule: (any SecurityModule)? = nil) {
        self.readsIdentity = readsIdentity
        self.readsBank = readsBank
        self.securityModule = securityModule
    }
}

/// Reads a social security card: identity (SSSE) and bank application, in one transaction, selecting
/// nothing twice and reading only what the activation uses.
///
/// Order on the card: SELECT SSSE → EF05 spec version, card identification code, type, number →
/// (3.00 cards) INTERNAL and EXTERNAL AUTHENTICATE → EF05 dates → EF06 items → bank application.
public enum SocialSecurityCardReader {
    /// Reads over an open channel (call inside a transaction, on the connection's thread).
    public static func read(channel: any CardChannel, options: CardReadOptions) throws(CardReadError) -> SocialSecurityCardReading {
        let counting = CountingChannel(inner: channel, trace: options.trace)
        options.trace?.begin(atr: channel.atr)
        var reading = SocialSecurityCardReading(atr: channel.atr, apduCount: 0)
        defer { options.trace?.end() }
        do {
            if options.readsIdentity {
                var ssse = SSSEApplication(channel: counting)
                try ssse.select()
                let everything = options.scope == .everything
                for item in everything ? [SSSEItem.specVersion, .cardIdentifier, .cardType, .cardNumber] : [.specVersion, .cardIdentifier, .cardNumber] {
                    _ = try ssse.read(item)
                }
                let version = SpecVersion(String(decoding: ssse.values[SSSEItem.specVersion.tag] ?? [], as: UTF8.self))
                if version.needsAuthentication {
                    try ssse.authenticate(with: options.securityModule, externalKeyID: options.externalAuthenticationKeyID)
                }
                for item in everything ? [SSSEItem.issueDate, .expiryDate, .socialSecurityNumber, .name] : [.expiryDate, .socialSecurityNumber, .name] {
                    _ = try ssse.read(item)
                }
                // The name's continuation exists only for a name that fills its field: an activation reads it
                // only then (a padded name is complete); a diagnosis always looks.
                if everything || Self.fillsItsField(ssse.values[SSSEItem.name.tag] ?? []) {
                    _ = try ssse.read(.nameExtension, optional: true)
                }
                if everything {
                    for item in [SSSEItem.gender, .nation, .birthplace, .birthDate] { _ = try ssse.read(item, optional: true) }
                }
                reading.identity = try SocialSecurityIdentity(values: ssse.values)
                reading.addressing = ssse.addressing
            }
            if options.readsBank {
                do {
                    // A diagnosis lists what the card's directories hold; an activation goes to the debit AID.
                    let discovery: BankApplicationReader.Discovery = options.scope == .everything ? .directory : .debitFirst
                    reading.bank = try BankApplicationReader(channel: counting, terminal: options.terminal ?? .now(), discovery: discovery).read()
                } catch where error.reason == .noBankApplication || error.reason == .bankApplicationBlocked || error.reason == .invalidData {
                    reading.bankError = error
                }
            }
        } catch {
            reading.apduCount = counting.count
            throw error
        }
        reading.apduCount = counting.count
        return reading
    }

    /// True when `value` ends in no padding: the name may go on in its extension (the same padding the
    /// identity strips before it joins the two).
    static func fillsItsField(_ value: [UInt8]) -> Bool {
        guard let last = value.last else { return false }
        return !SSSECodec.isPadding(last)
    }

    /// Reads through a connection, inside one PC/SC transaction on the connection's own thread.
    public static func read(connection: any CardConnection, options: CardReadOptions) async throws(CardReadError) -> SocialSecurityCardReading {
        // Before the transaction: a module that must connect does it here, not on the card's thread.
        await options.securityModule?.prepare()
        do {
            return try await connection.withTransaction(resetRetries: 1) { channel in
                try Self.read(channel: channel, options: options)
            }
        } catch let error as CardReadError {
            throw error
        } catch let error as ReaderError {
            throw CardReadError(error, step: "transaction")
        } catch {
            throw CardReadError(.reader(.failed), step: "transaction", detail: "\(error)")
        }
    }
}

/// Counts exchanges and feeds the trace recorder.
final class CountingChannel: CardChannel, @unchecked Sendable {
    let inner: any CardChannel
    let trace: APDUTraceRecorder?
    private(set) var count = 0

    init(inner: any CardChannel, trace: APDUTraceRecorder?) {
        self.inner = inner
        self.trace = trace
    }

    var atr: [UInt8] { self.inner.atr }

    func transmitRaw(_ command: [UInt8]) throws(ReaderError) -> [UInt8] {
        self.count += 1
        do {
            let response = try self.inner.transmitRaw(command)
            self.trace?.record(command: command, response: response)
            return response
        } catch {
            self.trace?.record(command: command, response: nil)
            throw error
        }
    }
}
