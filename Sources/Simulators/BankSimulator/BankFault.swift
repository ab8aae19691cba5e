/// A fault the simulated bank injects into one request's handling. Transports map each to what goes
/// over their wire; the in-process gateway maps it to what a client would experience.
public enum BankFault: String, Hashable, Sendable, Codable, CaseIterable {
    /// Answer only after the processing plus `FaultPlan.delay`.
    case delay
    /// The request never reaches the ledger and no answer comes.
    case noAnswer
    /// Applied; the answer comes after the client's timeout.
    case answerAfterTimeout
    /// Applied; the connection is dropped instead of answering.
    case dropAfterApplying
    /// Applied; the answer is sent twice.
    case duplicateAnswer
    /// Applied; the answer's body is not valid.
    case malformedBody
    /// Applied; the answer's signature is wrong.
    case badSignature
    /// Applied; the answer carries no signature at all (a forged 2xx looks like this).
    case unsignedAnswer
    /// Nothing applied; the server answers 5xx.
    case serverError
    /// Nothing applied; the connection is reset after the request arrived.
    case connectionReset
    /// ISO 8583: applied; the answer carries the wrong STAN (another request's).
    case wrongSTAN
    /// ISO 8583: applied; one byte of the length prefix arrives, then the connection closes.
    case partialLengthPrefix
    /// ISO 8583: applied; half the answer frame arrives, then the connection is reset.
    case resetMidFrame
    /// ISO 8583: nothing applied; RC 77 (sign on again).
    case resignOnRequired
}

/// Which requests get which faults: a queue consumed one per request, then a rate.
public struct FaultPlan: Sendable, Hashable {
    public var queue: [BankFault] = []
    /// A fault applied at random to this share (0…1) of the requests after the queue is empty.
    public var rate: (fault: BankFault, probability: Double)? {
        get { self.rateFault.map { ($0, self.rateProbability) } }
        set {
            self.rateFault = newValue?.fault
            self.rateProbability = newValue?.probability ?? 0
        }
    }
    /// The extra delay of ``BankFault/delay``.
    public var delay: Duration = .milliseconds(200)
    private var rateFault: BankFault?
    private var rateProbability = 0.0
    private var seed: UInt64

    public init(queue: [BankFault] = [], seed: UInt64 = 42) {
        self.queue = queue
        self.seed = seed
    }

    mutating func next() -> BankFault? {
        if !self.queue.isEmpty { return self.queue.removeFirst() }
        guard let fault = self.rateFault, self.rateProbability > 0 else { return nil }
        // xorshift64*: reproducible per seed.
        self.seed ^= self.seed >> 12
        self.seed ^= self.seed << 25
        self.seed ^= self.seed >> 27
        let value = Double((self.seed &* 2_685_821_657_736_338_717) >> 11) / Double(1 << 53)
        return value < self.rateProbability ? fault : nil
    }
}
