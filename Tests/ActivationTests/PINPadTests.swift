import APDU
import Activation
@testable import ActivationSimulators
import BankGateway
import BankSimulator
import Bytes
import KioskCrypto
import Testing

@Suite("simulated PIN pad: the digits it stores are wiped, a block it cannot make ends the entry")
struct PINPadTests {
    static let pan = "6228230029000005274"

    static func pad() throws -> SimulatedPINPad { try SimulatedPINPad(pinKey: Hex.decode(SimulatedBank.Fixture().pinKey)) }

    /// Waits for the entry's last event.
    static func end(of events: AsyncStream<PINPadEvent>) async -> PINPadEvent? {
        var last: PINPadEvent?
        for await event in events { last = event }
        return last
    }

    @Test("enter: the block opens to the typed PIN, and the stored digits are zeros in their own memory")
    func enterWipesTheStoredDigits() async throws {
        let pad = try Self.pad()
        let events = await pad.beginEntry(PINEntryRequest(pan: Self.pan))
        let stored = try #require(pad.currentDigits)
        for digit in [8, 0, 2, 4, 6, 1] { pad.press(.digit(digit)) }
        #expect(stored.count == 6 && stored.rawBytes.prefix(6) == [8, 0, 2, 4, 6, 1])
        pad.press(.enter)
        guard case .completed(let block)? = await Self.end(of: events) else {
            Issue.record("the entry did not complete")
            return
        }
        let clear = try BlockCipher(.tripleDES, key: Hex.decode(SimulatedBank.Fixture().pinKey)).decrypt(block.bytes)
        #expect(try ISO0PINBlock.pin(fromClearBlock: clear, pan: Self.pan) == "802461")
        #expect(stored.count == 0)
        #expect(stored.rawBytes.allSatisfy { $0 == 0 }, "stored digits left after enter: \(stored.rawBytes)")
    }

    @Test("clear, cancel and a new entry wipe the digits typed so far")
    func clearAndCancelWipe() async throws {
        let pad = try Self.pad()
        let first = await pad.beginEntry(PINEntryRequest(pan: Self.pan))
        let typed = try #require(pad.currentDigits)
        for digit in [9, 9, 9] { pad.press(.digit(digit)) }
        pad.press(.clear)
        #expect(typed.count == 0 && typed.rawBytes.allSatisfy { $0 == 0 })
        for digit in [7, 7] { pad.press(.digit(digit)) }
        let second = await pad.beginEntry(PINEntryRequest(pan: Self.pan))
        #expect(await Self.end(of: first) == .cancelled)
        #expect(typed.rawBytes.allSatisfy { $0 == 0 }, "a replaced entry's digits: \(typed.rawBytes)")
        let next = try #require(pad.currentDigits)
        for digit in [5, 5, 5, 5] { pad.press(.digit(digit)) }
        await pad.cancelEntry()
        #expect(await Self.end(of: second) == .cancelled)
        #expect(next.rawBytes.allSatisfy { $0 == 0 }, "a cancelled entry's digits: \(next.rawBytes)")
    }

    @Test("waitForEntry: woken by the entry beginning (no polling), at once when one is open, false on timeout or cancellation")
    func waitForEntry() async throws {
        let pad = try Self.pad()
        let clock = ContinuousClock()
        let start = clock.now
        #expect(await pad.waitForEntry(timeout: .milliseconds(100)) == false)
        #expect(clock.now - start >= .milliseconds(100))
        let waiter = Task { await pad.waitForEntry(timeout: .seconds(10)) }
        try await Task.sleep(for: .milliseconds(50))
        let began = clock.now
        _ = await pad.beginEntry(PINEntryRequest(pan: "6228231234567890125"))
        #expect(await waiter.value)
        #expect(clock.now - began < .seconds(2))
        #expect(await pad.waitForEntry(timeout: .milliseconds(1)))  // one is open
        await pad.cancelEntry()
        let cancelled = Task { await pad.waitForEntry(timeout: .seconds(10)) }
        cancelled.cancel()
        #expect(await cancelled.value == false)
    }

    @Test("a 12-digit card number cannot bind a format 0 block: enter ends the entry as failed, it never hangs")
    func shortPANFailsTheEntry() async throws {
        #expect(!ISO0PINBlock.accepts(pan: "622823002900"))
        #expect(ISO0PINBlock.accepts(pan: "6228230029000"))
        #expect(!ISO0PINBlock.accepts(pan: "62282300290000x"))
        let pad = try Self.pad()
        let events = await pad.beginEntry(PINEntryRequest(pan: "622823002900"))
        let stored = try #require(pad.currentDigits)
        pad.type("802461")
        guard case .failed(let why)? = await Self.end(of: events) else {
            Issue.record("a block for a 12-digit PAN did not fail the entry")
            return
        }
        #expect(why.contains("13 digits"), "\(why)")
        #expect(stored.rawBytes.allSatisfy { $0 == 0 })
    }

    @Test("the digits' block equals the string's block, and bad digits are refused")
    func digitBlock() throws {
        #expect(try ISO0PINBlock.clearBlock(pinDigits: [1, 2, 3, 4], pan: Self.pan) == ISO0PINBlock.clearBlock(pin: "1234", pan: Self.pan))
        #expect(throws: ISO0PINBlock.Failure.self) { try ISO0PINBlock.clearBlock(pinDigits: [1, 2, 3, 10], pan: Self.pan) }
        #expect(throws: ISO0PINBlock.Failure.self) { try ISO0PINBlock.clearBlock(pinDigits: [1, 2, 3], pan: Self.pan) }
    }
}
