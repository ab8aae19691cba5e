import APDU
import Bytes
public import CardCore

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

/// A PSAM card in a PC/SC reader slot as the security module. Connects on first use and again after
/// the PSAM or its reader went away; each request runs in one PC/SC transaction on the PSAM's thread.
public actor PSAMSecurityModule: SecurityModule {
    public nonisolated let name: String
    private let system: any SmartCardSystem
    private let reader: String
    private let layout: PSAMLayout
    private var connection: (any CardConnection)?

    public init(system: any SmartCardSystem, reader: String, layout: PSAMLayout = .testLayout) {
        self.system = system
        self.reader = reader
        self.layout = layout
        self.name = "PSAM in \"\(reader)\""
    }

    public func internalAuthenticationResponse(challenge: [UInt8], card: CardAuthenticationContext) async throws(SecurityModuleError)
        -> [UInt8]
    {
        try await self.cipher(challenge, key: self.layout.internalAuthenticationKey, card: card, purpose: "internal authentication")
    }

    public func externalAuthenticationData(cardChallenge: [UInt8], card: CardAuthenticationContext) async throws(SecurityModuleError)
        -> [UInt8]
    {
        // The card's 8-byte challenge, zero-padded to one 16-byte block.
        let block = Array(cardChallenge.prefix(16)) + [UInt8](repeating: 0, count: max(0, 16 - cardChallenge.count))
        return try await self.cipher(block, key: self.layout.externalAuthenticationKey, card: card, purpose: "RKSSSE")
    }

    /// Closes the PSAM connection.
    public func close() async {
        await self.connection?.disconnect()
        self.connection = nil
    }

    private func cipher(_ data: [UInt8], key: PSAMLayout.KeyReference, card: CardAuthenticationContext, purpose: String)
        async throws(SecurityModuleError) -> [UInt8]
    {
        guard let directory = self.layout.keyDirectories[card.algorithm] else {
            throw SecurityModuleError(.unsupportedAlgorithm(card.algorithm), "\(self.name): no key directory for algorithm \(Hex.encode([card.algorithm]))")
        }
        guard card.cardIdentifier.count >= self.layout.factorRange.upperBound else {
            throw SecurityModuleError(.failed, "card identification code too short for the diversification factor")
        }
        let factor = Array(card.cardIdentifier[self.layout.factorRange])
        let layout = self.layout
        let name = self.name
        let connection = try await self.connected()
        do {
            return try await connection.withTransaction(resetRetries: 1) { channel throws -> [UInt8] in
                try Self.run(channel: channel, layout: layout, directory: directory, algorithm: card.algorithm,
                    key: key, factor: factor, data: data, name: name, purpose: purpose)
            }
        } catch let error as SecurityModuleError {
            throw error
        } catch let error as ReaderError {
            if error.endsConnection { self.connection = nil }
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

    private func connected() async throws(SecurityModuleError) -> any CardConnection {
        if let connection = self.connection { return connection }
        do {
            let connection = try await self.system.connect(reader: self.reader)
            self.connection = connection
            return connection
        } catch {
            let missing: Set<ReaderError.Code> = [.noCard, .unknownReader, .readerUnavailable, .serviceUnavailable, .noReaders, .cardUnresponsive]
            throw SecurityModuleError(missing.contains(error.code) ? .missing : .failed, "\(self.name): \(error.message)")
        }
    }
}
