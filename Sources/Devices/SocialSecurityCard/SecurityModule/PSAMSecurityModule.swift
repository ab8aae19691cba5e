import APDU
import Bytes
public import CardCore
import Synchronization

/// Where a PSAM keeps the keys for social security cards, and how it is asked to use them.
///
/// The APDUs follow the PBOC PSAM conventions (SELECT the key directory, `80 1A` DELIVER KEY to derive a
/// card key from a diversification factor, `80 FA` CIPHER DATA to encrypt with it). The real key
/// directories, key references and diversification rule of social security PSAMs are not public
/// (`cards.md` §1.4, §6): the defaults describe CardKiosk's **test** PSAM. A real deployment sets all of
/// them from the PSAM issuer's documentation.
public struct PSAMLayout: Hashable, Sendable {
    /// A key's reference for DELIVER KEY: P1 (key usage) and P2 (key index).
    public struct KeyReference: Hashable, Sendable {
        public var usage: UInt8
        public var index: UInt8
        public init(usage: UInt8, index: UInt8) {
            self.usage = usage
            self.index = index
        }
    }

    /// The PSAM application to select first (by DF name), if any.
    public var applicationName: [UInt8]?
    /// The key directory (file identifier) per card algorithm identifier (`9F0C`).
    public var keyDirectories: [UInt8: UInt16]
    /// The key that checks the card's INTERNAL AUTHENTICATE answer.
    public var internalAuthenticationKey: KeyReference
    /// RKSSSE, the key for the card's EXTERNAL AUTHENTICATE.
    public var externalAuthenticationKey: KeyReference
    /// Which bytes of the card identification code form the 8-byte diversification factor
    /// (test scheme: the 8 card-specific bytes, offsets 8–15).
    public var factorRange: Range<Int>

    /// CardKiosk's test PSAM: key directories `DF01` (3DES, algorithm 01) and `DF03` (SM4, algorithm 03),
    /// internal-authentication key `27/01`, RKSSSE `28/01`, factor = card-specific bytes.
    public static let testLayout = PSAMLayout(
        applicationName: nil, keyDirectories: [0x01: 0xDF01, 0x03: 0xDF03],
        internalAuthenticationKey: KeyReference(usage: 0x27, index: 0x01),
        externalAuthenticationKey: KeyReference(usage: 0x28, index: 0x01), factorRange: 8..<16)

    public init(
        applicationName: [UInt8]?, keyDirectories: [UInt8: UInt16], internalAuthenticationKey: KeyReference,
        externalAuthenticationKey: KeyReference, factorRange: Range<Int>
    ) {
        self.applicationName = applicationName
        self.keyDirectories = keyDirectories
        self.internalAuthenticationKey = internalAuthenticationKey
        self.externalAuthenticationKey = externalAuthenticationKey
        self.factorRange = factorRange
    }
}

/// A PSAM card in a PC/SC reader slot as the security module: one long-lived session, made once (kioskd
/// makes it at start and injects it into every read), connected by ``prepare()`` before a read and again
/// after the PSAM or its reader went away, closed explicitly with ``close()``.
///
/// The card read calls it on the card's own thread: each request runs in one PC/SC transaction on the PSAM
/// connection's thread, and the card's thread waits for it there (thread to thread: no task, no actor, no
/// cooperative pool on the way).
public final class PSAMSecurityModule: SecurityModule {
    public let name: String
    private let system: any SmartCardSystem
    private let reader: String
    private let layout: PSAMLayout
    private struct Session {
        var connection: (any CardConnection)?
        /// Why the last connect failed (for the error a read then gets).
        var lastFailure: SecurityModuleError?
        var closed = false
    }
    private let session = Mutex(Session())

    public init(system: any SmartCardSystem, reader: String, layout: PSAMLayout = .testLayout) {
        self.system = system
        self.reader = reader
        self.layout = layout
        self.name = "PSAM in \"\(reader)\""
    }

    /// Connects to the PSAM unless connected (or closed).
    public func prepare() async {
        guard self.session.withLock({ $0.connection == nil && !$0.closed }) else { return }
        do {
            let connection = try await self.system.connect(reader: self.reader)
            let keep = self.session.withLock { session -> Bool in
                guard session.connection == nil, !session.closed else { return false }
                session.connection = connection
                session.lastFailure = nil
                return true
            }
            if !keep { await connection.disconnect() }
        } catch {
            let missing: Set<ReaderError.Code> = [.noCard, .unknownReader, .readerUnavailable, .serviceUnavailable, .noReaders, .cardUnresponsive]
            let failure = SecurityModuleError(missing.contains(error.code) ? .missing : .failed, "\(self.name): \(error.message)")
            self.session.withLock { $0.lastFailure = failure }
        }
    }

    /// Closes the PSAM connection; later reads find the module missing.
    public func close() async {
        let connection = self.session.withLock { session -> (any CardConnection)? in
            session.closed = true
            defer { session.connection = nil }
            return session.connection
        }
        await connection?.disconnect()
    }

    /// True while a PSAM connection is open (diagnostics and tests).
    public var isConnected: Bool { self.session.withLock { $0.connection != nil } }

    public func internalAuthenticationResponse(challenge: [UInt8], card: CardAuthenticationContext) throws(SecurityModuleError) -> [UInt8] {
        try self.cipher(challenge, key: self.layout.internalAuthenticationKey, card: card, purpose: "internal authentication")
    }

    public func externalAuthenticationData(cardChallenge: [UInt8], card: CardAuthenticationContext) throws(SecurityModuleError) -> [UInt8] {
        // The card's 8-byte challenge, zero-padded to one 16-byte block.
        let block = Array(cardChallenge.prefix(16)) + [UInt8](repeating: 0, count: max(0, 16 - cardChallenge.count))
        return try self.cipher(block, key: self.layout.externalAuthenticationKey, card: card, purpose: "RKSSSE")
    }

    private func cipher(_ data: [UInt8], key: PSAMLayout.KeyReference, card: CardAuthenticationContext, purpose: String)
        throws(SecurityModuleError) -> [UInt8]
    {
        guard let directory = self.layout.keyDirectories[card.algorithm] else {
            throw SecurityModuleError(.unsupportedAlgorithm(card.algorithm), "\(self.name): no key directory for algorithm \(Hex.encode([card.algorithm]))")
        }
        guard card.cardIdentifier.count >= self.layout.factorRange.upperBound else {
            throw SecurityModuleError(.failed, "card identification code too short for the diversification factor")
        }
        let (connection, failure) = self.session.withLock { ($0.connection, $0.lastFailure) }
        guard let connection else {
            throw failure ?? SecurityModuleError(.missing, "\(self.name): not connected")
        }
        let factor = Array(card.cardIdentifier[self.layout.factorRange])
        let (layout, name) = (self.layout, self.name)
        do {
            return try connection.withTransactionBlocking(resetRetries: 1) { channel throws -> [UInt8] in
                try Self.run(channel: channel, layout: layout, directory: directory, algorithm: card.algorithm,
                    key: key, factor: factor, data: data, name: name, purpose: purpose)
            }
        } catch let error as SecurityModuleError {
            throw error
        } catch let error as ReaderError {
            if error.endsConnection {
                // The PSAM or its reader went away: the next read's prepare() connects again.
                self.session.withLock { if $0.connection === connection { $0.connection = nil } }
            }
            throw SecurityModuleError(error.endsConnection ? .missing : .failed, "\(self.name): \(error.message)")
        } catch {
            throw SecurityModuleError(.failed, "\(self.name): \(error)")
        }
    }

    private static func run(
        channel: any CardChannel, layout: PSAMLayout, directory: UInt16, algorithm: UInt8, key: PSAMLayout.KeyReference,
        factor: [UInt8], data: [UInt8], name: String, purpose: String
    ) throws -> [UInt8] {
        if let application = layout.applicationName {
            let response = try channel.send(try CommandAPDU.select(name: application))
            guard response.status.rawValue == 0x9000 else {
                throw SecurityModuleError(.failed, "\(name): SELECT application answered \(response.status)")
            }
        }
        let select = try channel.send(try CommandAPDU(cla: 0, ins: 0xA4, p1: 0x00, p2: 0x00, data: [UInt8(directory >> 8), UInt8(directory & 0xFF)]))
        switch select.status.rawValue {
        case 0x9000: break
        case 0x6A82: throw SecurityModuleError(.unsupportedAlgorithm(algorithm), "\(name): key directory \(String(directory, radix: 16, uppercase: true)) for algorithm \(Hex.encode([algorithm])) not found")
        default: throw SecurityModuleError(.failed, "\(name): SELECT key directory answered \(select.status)")
        }
        let deliver = try channel.send(try CommandAPDU(cla: 0x80, ins: 0x1A, p1: key.usage, p2: key.index, data: factor))
        switch deliver.status.rawValue {
        case 0x9000: break
        case 0x6A88, 0x6A82, 0x6A83, 0x9403:
            throw SecurityModuleError(.keyMissing, "\(name): no \(purpose) key \(Hex.encode([key.usage, key.index])) (DELIVER KEY answered \(deliver.status))")
        default: throw SecurityModuleError(.failed, "\(name): DELIVER KEY for \(purpose) answered \(deliver.status)")
        }
        let cipher = try channel.send(try CommandAPDU(cla: 0x80, ins: 0xFA, p1: 0x00, p2: 0x00, data: data, expectedLength: 256))
        guard cipher.status.rawValue == 0x9000, !cipher.data.isEmpty else {
            throw SecurityModuleError(.failed, "\(name): CIPHER DATA for \(purpose) answered \(cipher.status)")
        }
        return cipher.data
    }
}
