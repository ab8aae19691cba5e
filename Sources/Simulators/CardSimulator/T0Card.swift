import APDU
import Synchronization

/// Wraps a card and answers the way a T=0 card does through a plain reader, so the exchange rules get
/// exercised: a response with data to a case 4 command becomes `61xx` and waits for GET RESPONSE (in
/// chunks of ``chunkSize`` bytes, so a chain of `61xx` when the chunk is small); a case 2 command whose
/// Le differs from the data available gets `6Cxx`.
public final class T0Card: VirtualCard {
    /// How the wrapper answers.
    public struct Behaviour: Sendable, Hashable {
        /// Largest part of a pending response handed out per GET RESPONSE.
        public var chunkSize: Int
        /// Answer `6Cxx` to a case 2 command with the wrong Le.
        public var correctsLength: Bool
        /// Answer case 2 commands with `61xx` as well (some cards do).
        public var getResponseForCase2: Bool

        public init(chunkSize: Int = 256, correctsLength: Bool = true, getResponseForCase2: Bool = false) {
            self.chunkSize = max(1, min(chunkSize, 256))
            self.correctsLength = correctsLength
            self.getResponseForCase2 = getResponseForCase2
        }
    }

    private struct Pending {
        var data: [UInt8]
        var status: [UInt8]
    }

    public let inner: any VirtualCard
    public let behaviour: Behaviour
    private let pending = Mutex<Pending?>(nil)

    public init(wrapping inner: any VirtualCard, behaviour: Behaviour = Behaviour()) {
        self.inner = inner
        self.behaviour = behaviour
    }

    public var atr: [UInt8] { self.inner.atr }

    public func reset() {
        self.pending.withLock { $0 = nil }
        self.inner.reset()
    }

    public func process(_ command: [UInt8]) -> [UInt8]? {
        guard command.count >= 4 else { return [0x67, 0x00] }
        if command[1] == 0xC0 {
            return self.pending.withLock { pending -> [UInt8] in
                guard var current = pending else { return [0x69, 0x85] }
                let le = command.count >= 5 ? (command[4] == 0 ? 256 : Int(command[4])) : 256
                let available = min(current.data.count, self.behaviour.chunkSize)
                if le != available && command.count >= 5 && self.behaviour.correctsLength {
                    return [0x6C, UInt8(available & 0xFF)]
                }
                let part = Array(current.data.prefix(min(le, available)))
                current.data.removeFirst(part.count)
                if current.data.isEmpty {
                    pending = nil
                    return part + current.status
                }
                pending = current
                return part + [0x61, UInt8(min(current.data.count, self.behaviour.chunkSize) & 0xFF)]
            }
        }
        self.pending.withLock { $0 = nil }
        guard let response = self.inner.process(command) else { return nil }
        guard response.count > 2 else { return response }
        let data = Array(response.dropLast(2))
        let status = Array(response.suffix(2))
        let parsed = try? CommandAPDU(bytes: command)
        let isCase2 = parsed?.isoCase == 2
        if isCase2 && !self.behaviour.getResponseForCase2 {
            if self.behaviour.correctsLength, let le = parsed?.expectedLength, le != data.count, data.count <= 256 {
                return [0x6C, UInt8(data.count & 0xFF)]
            }
            return response
        }
        self.pending.withLock { $0 = Pending(data: data, status: status) }
        return [0x61, UInt8(min(data.count, self.behaviour.chunkSize) & 0xFF)]
    }
}
