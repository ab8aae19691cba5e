/// The benchmark card: READ BINARY / READ RECORD return Le bytes of `0x41` and `9000`, every other command
/// `9000`. Same behaviour as `../shared/tools/vicc_echo.c`.
public final class EchoCard: VirtualCard {
    public let atr: [UInt8]

    public init(atr: [UInt8] = [0x3B, 0x68, 0x00, 0x00, 0x00, 0x73, 0xC8, 0x40, 0x00, 0x00, 0x90, 0x00]) {
        self.atr = atr
    }

    public func reset() {}

    public func process(_ command: [UInt8]) -> [UInt8]? {
        if command.count >= 4 && (command[1] == 0xB0 || command[1] == 0xB2) {
            var le = command.count >= 5 ? Int(command[4]) : 0
            if le == 0 { le = 256 }
            return [UInt8](repeating: 0x41, count: le) + [0x90, 0x00]
        }
        return [0x90, 0x00]
    }
}
