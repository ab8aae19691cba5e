import APDU
import Bytes

/// A frame of the ID-card security module protocol (`cards.md` §3.2):
///
///     AA AA AA 96 69 | LEN1 LEN2 | body | CHK
///
/// `LEN` (big-endian) counts the body and the checksum; `CHK` is the XOR of `LEN1`, `LEN2` and the body.
/// A request's body is `CMD PARA data`; a response's is `SW1 SW2 SW3 data`. Pure: no I/O.
public struct ModuleFrame: Hashable, Sendable, CustomStringConvertible {
    /// `AA AA AA 96 69`.
    public static let preamble: [UInt8] = [0xAA, 0xAA, 0xAA, 0x96, 0x69]
    /// The largest `LEN` we accept: a read with fingerprints is 2,314 (`0x090A`); real modules send nothing
    /// larger. Anything above is a corrupt length, not a frame.
    public static let maximumLength = 4096

    /// Everything between `LEN` and `CHK`.
    public let body: [UInt8]

    public init(body: [UInt8]) { self.body = body }

    /// A request: command, parameter, data.
    public init(command: UInt8, parameter: UInt8, data: [UInt8] = []) {
        self.body = [command, parameter] + data
    }

    /// A response: status bytes and data.
    public init(status: ModuleStatus, data: [UInt8] = []) {
        self.body = [0x00, 0x00, status.rawValue] + data
    }

    /// The whole frame on the wire.
    public var bytes: [UInt8] {
        let length = self.body.count + 1
        let header = [UInt8(length >> 8), UInt8(length & 0xFF)]
        return Self.preamble + header + self.body + [Self.checksum(header + self.body)]
    }

    /// XOR of every byte.
    public static func checksum(_ bytes: some Sequence<UInt8>) -> UInt8 { bytes.reduce(0, ^) }

    // Request view
    public var command: UInt8? { self.body.first }
    public var parameter: UInt8? { self.body.count > 1 ? self.body[1] : nil }

    // Response view
    /// SW3, the status that matters (SW1 SW2 are `00 00` in every known module).
    public var status: ModuleStatus? { self.body.count >= 3 ? ModuleStatus(rawValue: self.body[2]) : nil }
    /// The response data after the three status bytes.
    public var responseData: [UInt8] { Array(self.body.dropFirst(3)) }
    /// The request data after command and parameter.
    public var requestData: [UInt8] { Array(self.body.dropFirst(2)) }

    /// The first 8 body bytes in hex (never the card data after them).
    public var description: String {
        Hex.encode(self.body.prefix(8)) + (self.body.count > 8 ? "…(\(self.body.count) bytes)" : "")
    }

    /// Decodes exactly one frame from `bytes` (no bytes before or after).
    public static func decode(_ bytes: [UInt8]) throws(ModuleFrameError) -> ModuleFrame {
        var assembler = FrameAssembler()
        assembler.append(bytes)
        guard let first = assembler.next() else { throw ModuleFrameError(.truncated, offset: bytes.count, detail: "incomplete frame") }
        let frame = try first.get()
        guard assembler.bufferedCount == 0, assembler.discardedCount == 0 else {
            throw ModuleFrameError(.trailingBytes, offset: bytes.count - assembler.bufferedCount, detail: "bytes around the frame")
        }
        return frame
    }
}

/// The module's status byte (SW3). Every value a public source names has a case; others are kept.
public struct ModuleStatus: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let ok = ModuleStatus(rawValue: 0x90)
    /// Find card succeeded (data: the card's 4-byte IIN, usually zeros).
    public static let cardFound = ModuleStatus(rawValue: 0x9F)
    public static let checksumError = ModuleStatus(rawValue: 0x10)
    public static let lengthError = ModuleStatus(rawValue: 0x11)
    public static let commandError = ModuleStatus(rawValue: 0x21)
    public static let unknownCommand = ModuleStatus(rawValue: 0x24)
    public static let cardToModuleAuthenticationFailed = ModuleStatus(rawValue: 0x31)
    public static let moduleToCardAuthenticationFailed = ModuleStatus(rawValue: 0x32)
    public static let verificationFailed = ModuleStatus(rawValue: 0x33)
    public static let wrongCardType = ModuleStatus(rawValue: 0x40)
    public static let readFailed = ModuleStatus(rawValue: 0x41)
    public static let randomFailed = ModuleStatus(rawValue: 0x47)
    public static let selfTestFailed = ModuleStatus(rawValue: 0x60)
    public static let notAuthorised = ModuleStatus(rawValue: 0x66)
    public static let findFailed = ModuleStatus(rawValue: 0x80)
    public static let selectFailed = ModuleStatus(rawValue: 0x81)
    /// Named only in a truncated source; modules answer it to "read newest address" when the card has none.
    public static let noContent = ModuleStatus(rawValue: 0x91)

    public var name: String {
        switch self.rawValue {
        case 0x90: "ok"
        case 0x9F: "card found"
        case 0x10: "checksum error"
        case 0x11: "length error"
        case 0x21: "command error"
        case 0x24: "unknown command"
        case 0x31: "card-to-module authentication failed"
        case 0x32: "module-to-card authentication failed"
        case 0x33: "information verification failed"
        case 0x40: "wrong card type"
        case 0x41: "card read failed"
        case 0x47: "random number failed"
        case 0x60: "module self-test failed"
        case 0x66: "module not authorised"
        case 0x80: "no card found"
        case 0x81: "card select failed"
        case 0x91: "no content"
        default: "unknown status"
        }
    }

    public var description: String { "\(Hex.encode([self.rawValue])) (\(self.name))" }
}

/// Why bytes from the module are not a frame.
public struct ModuleFrameError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: String, Hashable, Sendable {
        /// The input ended inside a frame.
        case truncated
        /// `LEN` is below 2 or above ``ModuleFrame/maximumLength``.
        case invalidLength
        /// `CHK` does not match.
        case checksumMismatch
        /// Bytes before or after a frame where exactly one was expected.
        case trailingBytes
    }

    public let code: Code
    /// Offset in the input where the problem starts.
    public let offset: Int
    public let detail: String

    public init(_ code: Code, offset: Int, detail: String) {
        self.code = code
        self.offset = offset
        self.detail = detail
    }

    public var description: String { "\(self.code.rawValue) at offset \(self.offset): \(self.detail)" }
    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(self.code) }
}
