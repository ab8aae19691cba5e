public import APDU
public import CardCore
import Synchronization

/// The card behind a connection, touched only on the connection's worker thread.
final class CardBox: Sendable {
    private let card: Mutex<RawCard?>

    init(_ card: sending RawCard) { self.card = Mutex(card) }

    /// Runs `body` with the open card, or throws ``ReaderError/Code/closed``.
    func with<R, E: Error>(_ body: (RawCard) throws(E) -> sending R) throws(E) -> sending R? {
        try self.card.withLock { (card: inout RawCard?) throws(E) -> sending R? in
            guard let card else { return nil }
            return try body(card)
        }
    }

    /// Disconnects and forgets the card.
    func close(disposition: CardDisposition) {
        self.card.withLock { card in
            card?.disconnect(disposition: disposition.rawDisposition)
            card = nil
        }
    }
}

extension CardDisposition {
    var rawDisposition: UInt {
        switch self {
        case .leave: return UInt(RawCard.leaveCard)
        case .reset: return UInt(RawCard.resetCard)
        case .unpower: return UInt(RawCard.unpowerCard)
        case .eject: return UInt(RawCard.ejectCard)
        }
    }
}

/// A PC/SC connection to one card: its own context and its own thread, as pcsc-lite wants.
public final class PCSCConnection: CardConnection {
    public let readerName: String
    public let atr: [UInt8]
    public let activeProtocol: CardProtocols
    private let worker: BlockingWorker
    private let box: CardBox

    init(readerName: String, atr: [UInt8], activeProtocol: CardProtocols, worker: BlockingWorker, box: CardBox) {
        self.readerName = readerName
        self.atr = atr
        self.activeProtocol = activeProtocol
        self.worker = worker
        self.box = box
    }

    deinit {
        // Safety net: a connection dropped without disconnect still releases its handle and context.
        let box = self.box
        self.worker.submit { box.close(disposition: .reset) }
        self.worker.stop()
    }

    public func withTransaction<R: Sendable>(
        resetRetries: Int, _ body: @escaping @Sendable (any CardChannel) throws -> R
    ) async throws -> R {
        let (box, reader, atr) = (self.box, self.readerName, self.atr)
        return try await self.worker.runUntyped { () throws -> R in
            try Self.transaction(box: box, reader: reader, atr: atr, resetRetries: resetRetries, body)
        }
    }

    public func withTransactionBlocking<R: Sendable>(resetRetries: Int, _ body: @escaping @Sendable (any CardChannel) throws -> R) throws -> R {
        let (box, reader, atr) = (self.box, self.readerName, self.atr)
        return try self.worker.runBlocking { () throws -> R in
            try Self.transaction(box: box, reader: reader, atr: atr, resetRetries: resetRetries, body)
        }
    }

    /// On the worker thread: the transaction, run again from the start after a reset, `resetRetries` times.
    private static func transaction<R: Sendable>(
        box: CardBox, reader: String, atr: [UInt8], resetRetries: Int, _ body: (any CardChannel) throws -> R
    ) throws -> R {
        let result: R? = try box.with { (card: RawCard) throws -> R in
            var attempt = 0
            while true {
                do {
                    return try Self.transaction(card: card, reader: reader, atr: atr, body)
                } catch let error as ReaderError where error.code == .cardReset && attempt < resetRetries {
                    attempt += 1
                }
            }
        }
        guard let result else { throw ReaderError.closed }
        return result
    }

    private static func transaction<R>(
        card: RawCard, reader: String, atr: [UInt8], _ body: (any CardChannel) throws -> R
    ) throws -> R {
        do throws(PCSCError) {
            try card.beginTransaction()
        } catch let error where error == .resetCard {
            try Self.acknowledgeReset(card: card, reader: reader)
        } catch {
            throw ReaderError(pcsc: error, reader: reader, operation: "begin transaction")
        }
        defer { _ = try? card.endTransaction() }
        return try body(PCSCChannel(card: card, atr: atr))
    }

    /// Reconnects after `SCARD_W_RESET_CARD` and reports ``ReaderError/Code/cardReset``.
    static func acknowledgeReset(card: RawCard, reader: String) throws(ReaderError) -> Never {
        do throws(PCSCError) {
            try card.reconnect(initialization: RawCard.leaveCard)
        } catch {
            throw ReaderError(pcsc: error, reader: reader, operation: "reconnect after reset")
        }
        throw ReaderError(pcsc: .resetCard, reader: reader, operation: "transmit")
    }

    public func transmit(_ command: CommandAPDU) async throws(ReaderError) -> ResponseAPDU {
        let box = self.box
        let atr = self.atr
        return try await self.worker.run { () throws(ReaderError) -> ResponseAPDU in
            let response: ResponseAPDU? = try box.with { (card: RawCard) throws(ReaderError) -> ResponseAPDU in
                try PCSCChannel(card: card, atr: atr).send(command)
            }
            guard let response else { throw ReaderError.closed }
            return response
        }
    }

    public func control(code: UInt32, data: [UInt8]) async throws(ReaderError) -> [UInt8] {
        let (box, reader) = (self.box, self.readerName)
        return try await self.worker.run { () throws(ReaderError) -> [UInt8] in
            let answer: [UInt8]? = try box.with { (card: RawCard) throws(ReaderError) -> [UInt8] in
                do throws(PCSCError) {
                    return try card.control(code: code, data: data)
                } catch {
                    throw ReaderError(pcsc: error, reader: reader, operation: "control 0x\(String(code, radix: 16))")
                }
            }
            guard let answer else { throw ReaderError.closed }
            return answer
        }
    }

    public func disconnect(_ disposition: CardDisposition) async {
        let box = self.box
        try? await self.worker.run { () throws(ReaderError) in box.close(disposition: disposition) }
        self.worker.stop()
    }
}

/// The channel card applications use inside a transaction: raw exchanges on the worker thread.
struct PCSCChannel: CardChannel {
    let card: RawCard
    let atr: [UInt8]

    /// How long an anomalous answer waits for pcscd to confirm a removal.
    static let removalConfirmationMilliseconds: UInt32 = 1000

    func transmitRaw(_ command: [UInt8]) throws(ReaderError) -> [UInt8] {
        let answer: [UInt8]
        do throws(PCSCError) {
            answer = try self.card.transmit(command)
        } catch let error where error == .resetCard {
            try PCSCConnection.acknowledgeReset(card: self.card, reader: self.card.readerName)
        } catch let error where error == .noSmartcard {
            throw ReaderError(pcsc: .removedCard, reader: self.card.readerName, operation: "transmit")
        } catch let error where error == .notTransacted {
            let removed = self.card.cardWasRemoved(waitingUpTo: Self.removalConfirmationMilliseconds)
            throw ReaderError(pcsc: removed ? .removedCard : error, reader: self.card.readerName, operation: "transmit")
        } catch {
            throw ReaderError(pcsc: error, reader: self.card.readerName, operation: "transmit")
        }
        if answer.count < 2 && self.card.cardWasRemoved(waitingUpTo: Self.removalConfirmationMilliseconds) {
            throw ReaderError(pcsc: .removedCard, reader: self.card.readerName, operation: "transmit")
        }
        return answer
    }
}
