/// The module's commands (`cards.md` §3.2).
public enum ModuleCommand: Hashable, Sendable, CustomStringConvertible {
    case reset
    case status
    case readModuleID
    case findCard
    case selectCard
    /// Text (256 bytes) and photo (1024 bytes).
    case readText
    /// Text, photo and fingerprints (1024 bytes).
    case readTextWithFingerprint
    case readNewestAddress
    case setBaudRate(BaudRate)

    /// The rates the module can be switched to, with their parameter byte.
    public enum BaudRate: Int, Hashable, Sendable, CaseIterable {
        case b115200 = 115_200, b57600 = 57_600, b38400 = 38_400, b19200 = 19_200, b9600 = 9_600

        public var parameter: UInt8 {
            switch self {
            case .b115200: 0x00
            case .b57600: 0x01
            case .b38400: 0x02
            case .b19200: 0x03
            case .b9600: 0x04
            }
        }
    }

    /// `CMD PARA`.
    public var code: (command: UInt8, parameter: UInt8) {
        switch self {
        case .reset: (0x10, 0xFF)
        case .status: (0x11, 0xFF)
        case .readModuleID: (0x12, 0xFF)
        case .findCard: (0x20, 0x01)
        case .selectCard: (0x20, 0x02)
        case .readText: (0x30, 0x01)
        case .readTextWithFingerprint: (0x30, 0x10)
        case .readNewestAddress: (0x30, 0x03)
        case .setBaudRate(let rate): (0x60, rate.parameter)
        }
    }

    /// The request frame.
    public var frame: ModuleFrame { ModuleFrame(command: self.code.command, parameter: self.code.parameter) }

    /// The command a request frame carries, if it is one of ours.
    public init?(frame: ModuleFrame) {
        guard let command = frame.command, let parameter = frame.parameter else { return nil }
        switch (command, parameter) {
        case (0x10, 0xFF): self = .reset
        case (0x11, 0xFF): self = .status
        case (0x12, 0xFF): self = .readModuleID
        case (0x20, 0x01): self = .findCard
        case (0x20, 0x02): self = .selectCard
        case (0x30, 0x01): self = .readText
        case (0x30, 0x10): self = .readTextWithFingerprint
        case (0x30, 0x03): self = .readNewestAddress
        case (0x60, let p):
            guard let rate = BaudRate.allCases.first(where: { $0.parameter == p }) else { return nil }
            self = .setBaudRate(rate)
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .reset: "reset"
        case .status: "status"
        case .readModuleID: "read module ID"
        case .findCard: "find card"
        case .selectCard: "select card"
        case .readText: "read text and photo"
        case .readTextWithFingerprint: "read text, photo and fingerprints"
        case .readNewestAddress: "read newest address"
        case .setBaudRate(let rate): "set baud rate \(rate.rawValue)"
        }
    }
}

/// The data of a read response: `textLength photoLength [fingerprintLength]` (2 bytes each, big-endian),
/// then the blocks in that order.
public struct ReadResponse: Hashable, Sendable {
    public var text: [UInt8]
    public var photo: [UInt8]
    public var fingerprint: [UInt8]?

    public init(text: [UInt8], photo: [UInt8], fingerprint: [UInt8]? = nil) {
        self.text = text
        self.photo = photo
        self.fingerprint = fingerprint
    }

    /// Decodes the response data of ``ModuleCommand/readText`` or ``ModuleCommand/readTextWithFingerprint``.
    public init(data: [UInt8], withFingerprint: Bool) throws(ModuleFrameError) {
        let headerLength = withFingerprint ? 6 : 4
        guard data.count >= headerLength else {
            throw ModuleFrameError(.truncated, offset: data.count, detail: "read response without its length fields")
        }
        let textLength = Int(data[0]) << 8 | Int(data[1])
        let photoLength = Int(data[2]) << 8 | Int(data[3])
        let fingerprintLength = withFingerprint ? Int(data[4]) << 8 | Int(data[5]) : 0
        guard textLength >= 256, data.count == headerLength + textLength + photoLength + fingerprintLength else {
            throw ModuleFrameError(
                .invalidLength, offset: 0,
                detail: "lengths \(textLength)+\(photoLength)+\(fingerprintLength) do not match \(data.count - headerLength) data bytes")
        }
        var offset = headerLength
        self.text = Array(data[offset..<offset + textLength])
        offset += textLength
        self.photo = Array(data[offset..<offset + photoLength])
        offset += photoLength
        self.fingerprint = withFingerprint ? Array(data[offset..<offset + fingerprintLength]) : nil
    }

    /// The response data (for the simulator).
    public var data: [UInt8] {
        func length(_ count: Int) -> [UInt8] { [UInt8(count >> 8), UInt8(count & 0xFF)] }
        var out = length(self.text.count) + length(self.photo.count)
        if let fingerprint = self.fingerprint { out += length(fingerprint.count) }
        return out + self.text + self.photo + (self.fingerprint ?? [])
    }
}
