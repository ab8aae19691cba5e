/// The ISO/IEC 7816-3/-4 response rules that T=0 cards (and some T=1 cards) rely on, in one place:
///
/// - `61xx`: more data waits; send GET RESPONSE with Le = xx, again while the card keeps answering `61xx`,
///   and join the data of every part.
/// - `6Cxx`: wrong Le; send the same command again with Le = xx.
///
/// This is a pure state machine: the caller transmits what ``nextCommand(after:)`` asks for and feeds the
/// answer back, so the same rules serve PC/SC, the mock reader and tests. Limits keep a hostile card from
/// looping forever or growing the response without bound.
public struct T0Exchange: Sendable {
    /// What to do after a raw response.
    public enum Step: Hashable, Sendable {
        /// Transmit this command next.
        case send(CommandAPDU)
        /// The exchange is over; this is the assembled response.
        case complete(ResponseAPDU)
    }

    /// Most GET RESPONSE / resend rounds for one command.
    public static let maximumRounds = 300
    /// Most data bytes assembled for one command.
    public static let maximumResponseLength = 65_536 + 256

    /// The command the exchange started with.
    public let command: CommandAPDU
    private var collected: [UInt8] = []
    private var rounds = 0
    private var resentForLength = false
    private var inGetResponseChain = false

    public init(command: CommandAPDU) { self.command = command }

    /// Feeds the card's raw answer to the last command sent and says what to do next.
    /// - Throws: ``APDUError/truncated`` for an answer shorter than a status word,
    ///   ``APDUError/exchangeLimit`` when the card exceeds the rounds or length limits.
    public mutating func nextCommand(after raw: [UInt8]) throws(APDUError) -> Step {
        let response = try ResponseAPDU(bytes: raw)
        self.rounds += 1
        guard self.rounds <= Self.maximumRounds else {
            throw APDUError(.exchangeLimit, reason: "more than \(Self.maximumRounds) rounds for one command")
        }
        if let available = response.status.bytesAvailable {
            self.collected.append(contentsOf: response.data)
            self.inGetResponseChain = true
            guard self.collected.count + available <= Self.maximumResponseLength else {
                throw APDUError(.exchangeLimit, reason: "response grew past \(Self.maximumResponseLength) bytes")
            }
            return .send(try .getResponse(cla: self.command.cla, expectedLength: available))
        }
        if let exact = response.status.exactLength {
            if self.inGetResponseChain {
                // A GET RESPONSE in a 61xx chain had the wrong Le.
                return .send(try .getResponse(cla: self.command.cla, expectedLength: exact))
            }
            if !self.resentForLength {
                // The original command had the wrong Le: send it again, once.
                self.resentForLength = true
                return .send(self.command.with(expectedLength: exact))
            }
            // A second 6Cxx for the resent command: report it as it is.
        }
        guard self.collected.count + response.data.count <= Self.maximumResponseLength else {
            throw APDUError(.exchangeLimit, reason: "response grew past \(Self.maximumResponseLength) bytes")
        }
        return .complete(ResponseAPDU(data: self.collected + response.data, status: response.status))
    }
}
