import APDU
public import CardSimulator
import Synchronization

/// A PSAM in software that holds ``TestKeyScheme`` keys in the ``SocialSecurityCard/PSAMLayout/testLayout``:
/// key directories `DF01` (3DES) and `DF03` (SM4), DELIVER KEY (`80 1A`) and CIPHER DATA (`80 FA`).
public final class VirtualPSAM: VirtualCard {
    private struct Session {
        var algorithm: UInt8?
        var key: [UInt8]?
    }

    public let atr: [UInt8] = [0x3B, 0x69, 0x00, 0x00, 0x43, 0x4B, 0x54, 0x45, 0x53, 0x54, 0x50, 0x53, 0x4D]
    /// Algorithm identifiers with a key directory.
    public let algorithms: Set<UInt8>
    /// Key usages present (`27` internal authentication, `28` RKSSSE).
    public let keyUsages: Set<UInt8>
    private let session = Mutex(Session())

    public init(algorithms: Set<UInt8> = [0x01, 0x03], keyUsages: Set<UInt8> = [TestKeyScheme.internalAuthenticationUsage, TestKeyScheme.externalAuthenticationUsage]) {
        self.algorithms = algorithms
        self.keyUsages = keyUsages
    }

    public func reset() { self.session.withLock { $0 = Session() } }

    public func process(_ bytes: [UInt8]) -> [UInt8]? {
        guard let command = try? CommandAPDU(bytes: bytes) else { return [0x67, 0x00] }
        return self.session.withLock { session -> [UInt8] in
            switch (command.cla, command.ins) {
            case (0x00, 0xA4):
                guard command.data.count == 2, command.data[0] == 0xDF, self.algorithms.contains(command.data[1]) else { return [0x6A, 0x82] }
                session = Session(algorithm: command.data[1], key: nil)
                return [0x90, 0x00]
            case (0x80, 0x1A):
                guard let algorithm = session.algorithm else { return [0x69, 0x85] }
                guard self.keyUsages.contains(command.p1), command.p2 == 0x01 else { return [0x6A, 0x88] }
                guard let key = TestKeyScheme.cardKey(usage: command.p1, algorithm: algorithm, factor: command.data) else { return [0x6A, 0x80] }
                session.key = key
                return [0x90, 0x00]
            case (0x80, 0xFA):
                guard let algorithm = session.algorithm, let key = session.key else { return [0x69, 0x85] }
                guard let out = TestKeyScheme.encrypt(command.data, key: key, algorithm: algorithm) else { return [0x6A, 0x80] }
                return out + [0x90, 0x00]
            default:
                return [0x6D, 0x00]
            }
        }
    }
}
