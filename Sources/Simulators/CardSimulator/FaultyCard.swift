import CardCore
import Foundation
import Synchronization

/// Wraps a card and injects faults, settable while the card is in use: a delay before every answer,
/// a mute card after a number of commands, a fixed status word for one instruction, or corrupt answers.
public final class FaultyCard: VirtualCard {
    /// The faults in force.
    public struct Faults: Sendable {
        /// Wait this long before every answer (a slow card).
        public var delay: Duration = .zero
        /// After this many commands, stop answering (a mute card).
        public var muteAfterCommands: Int? = nil
        /// Answer this instruction (INS) with this status word only.
        public var statusForInstruction: (ins: UInt8, sw: UInt16)? = nil
        /// Answer with a single byte, which is not a response APDU.
        public var truncateAnswers = false

        public init() {}
    }

    private struct State {
        var faults = Faults()
        var commands = 0
    }

    public let inner: any VirtualCard
    private let state = Mutex(State())

    public init(wrapping inner: any VirtualCard) { self.inner = inner }

    /// The faults in force; change them at any time.
    public var faults: Faults {
        get { self.state.withLock { $0.faults } }
        set { self.state.withLock { $0.faults = newValue } }
    }

    /// Commands received so far.
    public var commandCount: Int { self.state.withLock { $0.commands } }

    public var atr: [UInt8] { self.inner.atr }

    public func reset() { self.inner.reset() }

    public func process(_ command: [UInt8]) -> [UInt8]? {
        let (faults, count) = self.state.withLock { state -> (Faults, Int) in
            state.commands += 1
            return (state.faults, state.commands)
        }
        if faults.delay > .zero { Thread.sleep(forTimeInterval: faults.delay.inSeconds) }
        if let limit = faults.muteAfterCommands, count > limit { return nil }
        if faults.truncateAnswers { return [0x90] }
        if let rule = faults.statusForInstruction, command.count >= 2, command[1] == rule.ins {
            return [UInt8(rule.sw >> 8), UInt8(rule.sw & 0xFF)]
        }
        return self.inner.process(command)
    }
}
