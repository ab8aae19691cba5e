public import CardCore
import APDU

/// The fallback when no security module is configured but a contactless PC/SC reader is: the ID card's
/// chip serial number (`00 36 00 00 08`, `cards.md` §3.1), so an operator can at least see that a card is
/// there. It identifies the chip, not the person; nothing else is readable without the module.
public enum IDCardChipSerial {
    /// ATRs PC/SC readers give the resident ID card (`cards.md` §3.1).
    public static let knownATRs: [[UInt8]] = [
        [0x3B, 0x88, 0x80, 0x01, 0xD1, 0x03, 0x86, 0x05, 0x00, 0x80, 0x80, 0x00, 0x58],
        [0x3B, 0x86, 0x80, 0x01, 0x80, 0x4F, 0x03, 0xF0, 0x01, 0x00, 0x3A],
    ]

    /// Reads the 8-byte chip serial. Throws ``IDModuleError`` with `.moduleStatus` semantics mapped:
    /// a card that refuses answers `.invalidCardData`; reader failures `.deviceUnavailable`.
    public static func read(connection: any CardConnection) async throws(IDModuleError) -> [UInt8] {
        let response: ResponseAPDU
        do {
            response = try await connection.transmit(try CommandAPDU(cla: 0x00, ins: 0x36, p1: 0, p2: 0, expectedLength: 8))
        } catch let error as ReaderError {
            throw IDModuleError(error.code == .noCard || error.code == .cardRemoved ? .noCard : .deviceUnavailable, detail: error.message)
        } catch {
            throw IDModuleError(.deviceUnavailable, detail: "\(error)")
        }
        guard response.status == .success, response.data.count == 8 else {
            throw IDModuleError(.invalidCardData, detail: "chip serial command answered \(response)")
        }
        return response.data
    }
}
