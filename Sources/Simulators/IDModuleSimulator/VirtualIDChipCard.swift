public import CardSimulator
import Synchronization

/// The resident ID card as a contactless PC/SC reader without a security module sees it: the ATR
/// `3B 88 80 01 D1 03 86 05 00 80 80 00 58` and the chip serial command `00 36 00 00 08`; everything
/// else is refused (the card's files need the module's mutual authentication).
public final class VirtualIDChipCard: VirtualCard {
    public let atr: [UInt8] = [0x3B, 0x88, 0x80, 0x01, 0xD1, 0x03, 0x86, 0x05, 0x00, 0x80, 0x80, 0x00, 0x58]
    public let serial: [UInt8]

    public init(serial: [UInt8] = [0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC, 0xDE, 0xF0]) { self.serial = serial }

    public func reset() {}

    public func process(_ command: [UInt8]) -> [UInt8]? {
        if command == [0x00, 0x36, 0x00, 0x00, 0x08] { return self.serial + [0x90, 0x00] }
        if command.count >= 4 && command[0] == 0x00 && command[1] == 0x36 { return [0x6C, 0x08] }
        return [0x69, 0x82]
    }
}
