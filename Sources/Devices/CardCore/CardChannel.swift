public import APDU
import Bytes

/// The only way card applications talk to a card: one raw exchange at a time, synchronously,
/// on the thread that owns the connection. Use ``send(_:)``, which applies the T=0 rules.
public protocol CardChannel {
    /// The card's answer to reset.
    var atr: [UInt8] { get }
    /// Sends raw command bytes and returns the card's raw answer (data + SW1 SW2), with no rules applied.
    func transmitRaw(_ command: [UInt8]) throws(ReaderError) -> [UInt8]
}

extension CardChannel {
    /// Sends a command and resolves `61xx` and `6Cxx` answers (see ``T0Exchange``).
    /// - Throws: ``ReaderError`` from the reader, or ``ReaderError/Code/malformedResponse`` when the card's
    ///   answer is not a response APDU or it exceeds the exchange limits.
    public func send(_ command: CommandAPDU) throws(ReaderError) -> ResponseAPDU {
        var exchange = T0Exchange(command: command)
        var next = command
        while true {
            let raw = try self.transmitRaw(next.bytes)
            do {
                switch try exchange.nextCommand(after: raw) {
                case .send(let command): next = command
                case .complete(let response): return response
                }
            } catch {
                throw ReaderError(.malformedResponse, message: "card answer to \(Hex.encode(next.bytes.prefix(4))): \(error)")
            }
        }
    }
}
