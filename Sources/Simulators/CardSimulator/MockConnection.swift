public import APDU
public import CardCore
import Foundation
import Synchronization

/// A connection to a card in a ``MockCardSystem`` reader. Exchanges run on the connection's own thread,
/// as they do with PC/SC, so a slow mock card blocks nothing else.
public final class MockConnection: CardConnection {
    public let readerName: String
    public let atr: [UInt8]
    public let activeProtocol: CardProtocols
    private let system: MockCardSystem
    private let worker = BlockingWorker(name: "mock-card")
    /// The insertion and reset generations this connection is bound to; `nil` once closed.
    private let binding: Mutex<(insertion: Int, resets: Int)?>

    init(system: MockCardSystem, readerName: String, atr: [UInt8], insertion: Int, resets: Int, direct: Bool) {
        self.system = system
        self.readerName = readerName
        self.atr = atr
        self.activeProtocol = direct ? [] : .t1
        self.binding = Mutex((insertion, resets))
    }

    deinit { self.worker.stop() }

    /// One raw exchange, on the worker thread.
    fileprivate func exchange(_ command: [UInt8]) throws(ReaderError) -> [UInt8] {
        let reader = self.readerName
        let (card, latency) = try self.system.state.withLock {
            (state: inout MockCardSystem.State) throws(ReaderError) -> ((any VirtualCard), Duration) in
            guard state.online else { throw ReaderError.serviceUnavailable }
            guard let slot = state.slots[reader] else {
                throw ReaderError(.readerUnavailable, message: "the mock reader was unplugged", readerName: reader)
            }
            return try self.binding.withLock { (binding: inout (insertion: Int, resets: Int)?) throws(ReaderError) in
                guard let bound = binding else { throw ReaderError.closed }
                guard let card = slot.card, slot.insertion == bound.insertion else { throw ReaderError.cardRemoved }
                if slot.resets != bound.resets {
                    binding?.resets = slot.resets  // acknowledged, as SCardReconnect does
                    throw ReaderError.cardReset
                }
                guard !slot.mute else { throw ReaderError.cardUnresponsive }
                state.slots[reader]?.exchanges += 1
                return (card, slot.latency)
            }
        }
        if latency > .zero { Thread.sleep(forTimeInterval: latency.inSeconds) }
        guard let answer = card.process(command) else { throw ReaderError.cardUnresponsive }
        return answer
    }

    public func withTransaction<R: Sendable>(
        resetRetries: Int, _ body: @escaping @Sendable (any CardChannel) throws -> R
    ) async throws -> R {
        try await self.worker.runUntyped { [self] () throws -> R in try self.transaction(resetRetries: resetRetries, body) }
    }

    public func withTransactionBlocking<R: Sendable>(resetRetries: Int, _ body: @escaping @Sendable (any CardChannel) throws -> R) throws -> R {
        try self.worker.runBlocking { [self] () throws -> R in try self.transaction(resetRetries: resetRetries, body) }
    }

    private func transaction<R>(resetRetries: Int, _ body: (any CardChannel) throws -> R) throws -> R {
        var attempt = 0
        while true {
            do {
                return try body(MockChannel(connection: self))
            } catch let error as ReaderError where error.code == .cardReset && attempt < resetRetries {
                attempt += 1
            }
        }
    }

    public func transmit(_ command: CommandAPDU) async throws(ReaderError) -> ResponseAPDU {
        try await self.worker.run { [self] () throws(ReaderError) -> ResponseAPDU in
            try MockChannel(connection: self).send(command)
        }
    }

    public func control(code: UInt32, data: [UInt8]) async throws(ReaderError) -> [UInt8] {
        // Like vpcd: one feature, GET_TLV_PROPERTIES, reporting dwMaxAPDUDataSize = 65536.
        let tlvPropertiesCode: UInt32 = 0x4200_0000 + 0x33_0012
        switch code {
        case ReaderFeatures.getFeatureRequestControlCode:
            return [0x12, 0x04] + withUnsafeBytes(of: tlvPropertiesCode.bigEndian) { Array($0) }
        case tlvPropertiesCode:
            return [0x0A, 0x04, 0x00, 0x00, 0x01, 0x00]
        default:
            throw ReaderError(.unsupportedFeature, message: "the mock reader has no control code \(code)", readerName: self.readerName)
        }
    }

    public func disconnect(_ disposition: CardDisposition) async {
        self.binding.withLock { $0 = nil }
        self.worker.stop()
    }
}

private struct MockChannel: CardChannel {
    let connection: MockConnection
    var atr: [UInt8] { self.connection.atr }
    func transmitRaw(_ command: [UInt8]) throws(ReaderError) -> [UInt8] { try self.connection.exchange(command) }
}
