import Activation
import BankGateway
import Identity
import Journal
import ResidentIDCard
import Testing

/// The flow's rules alone: inputs in, actions out, no devices, no clock, no bank.
@Suite("FlowMachine: the flow's rules as (state, input) -> actions")
struct FlowMachineTests {
    static let configuration = FlowConfiguration(
        terminalID: "TERM-42", pinBlockFormat: .iso0SM4,
        timeouts: FlowTimeouts(cards: .seconds(90), confirm: .seconds(60), pinEntry: .seconds(45), takeCards: .seconds(30), warning: .seconds(10)),
        today: CalendarDate(year: 2026, month: 11, day: 29)!)

    static func stages(_ actions: [FlowMachine.Action]) -> [FlowStage] {
        actions.compactMap { if case .emit(.stage(let stage, _)) = $0 { stage } else { nil } }
    }

    static func block(_ byte: UInt8) -> EncryptedPINBlock { EncryptedPINBlock(format: .iso0SM4, keyName: "PIK", bytes: Array(repeating: byte, count: 16)) }

    /// A machine that has both cards read and verified, at the confirmation.
    static func confirming() async throws -> (FlowMachine, IDCardData) {
        var machine = FlowMachine(id: "flow-test", configuration: Self.configuration)
        _ = machine.handle(.start)
        let id = try FlowHarness.idCard("resident-common")
        _ = machine.handle(.device(.idCardRead(id)))
        _ = machine.handle(.device(.cardInserted))
        let actions = machine.handle(.device(.cardRead(try await FlowHarness.reading("v2-common"))))
        let verify = actions.compactMap { if case .verify(_, let number) = $0 { number } else { nil } }
        #expect(verify.count == 1)
        let confirmed = machine.handle(.verified(.verified, number: try #require(verify.first)))
        #expect(Self.stages(confirmed) == [.confirming])
        #expect(confirmed.contains { if case .emit(.details) = $0 { true } else { false } })
        return (machine, id)
    }

    @Test("start shows the first stage, notes it and arms its timer with a warning first; a second start does nothing")
    func start() {
        var machine = FlowMachine(id: "flow-test", configuration: Self.configuration)
        let actions = machine.handle(.start)
        #expect(Self.stages(actions) == [.waitingForCards])
        #expect(actions.contains(.audit("flow-test stage waitingForCards")))
        #expect(actions.contains(.startTimer(generation: 1, after: .seconds(80), expired: false)))
        #expect(actions.contains(.startTimer(generation: 1, after: .seconds(90), expired: true)))
        #expect(machine.handle(.start).isEmpty)
    }

    @Test("the whole activation as actions: the PIN request has the configured format, the bank call the configured terminal ID")
    func happyPath() async throws {
        var (machine, _) = try await Self.confirming()
        let first = machine.handle(.device(.confirm))
        let request = try #require(first.compactMap { if case .beginPINEntry(let request, 1) = $0 { request } else { nil } }.first)
        #expect(request.format == .iso0SM4)
        #expect(request.timeout == .seconds(45))
        #expect(machine.handle(.pinPad(.digits(3), entry: 1)) == [.emit(.pinProgress(3))])
        let second = machine.handle(.pinPad(.completed(Self.block(1)), entry: 1))
        #expect(Self.stages(second) == [.confirmingPIN])
        let call = machine.handle(.pinPad(.completed(Self.block(1)), entry: 2))
        #expect(Self.stages(call) == [.processing])
        let terminal = try #require(call.compactMap { if case .callBank(_, _, _, let terminalID) = $0 { terminalID } else { nil } }.first)
        #expect(terminal == "TERM-42")
        #expect(machine.isWithBank)
        // Cancel and removal cannot stop a request with the bank.
        #expect(machine.handle(.device(.cancel)).isEmpty)
        _ = machine.handle(.device(.cardRemoved))
        #expect(machine.isWithBank)
        let answer = machine.handle(.bankAnswered(.success(ExecutionResult(key: "k1", state: .approved, outcome: .approved(bankReference: "R1")))))
        #expect(Self.stages(answer) == [.result])
        #expect(answer.contains { if case .emit(.result(state: "approved", _, _)) = $0 { true } else { false } })
        // The PIN pad is stopped before anyone hears the end.
        #expect(answer.last == FlowMachine.Action.stopPINPad)
        #expect(!machine.isEnded)
        let stopped = machine.handle(.pinPadStopped)
        #expect(stopped.last == FlowMachine.Action.close(.completed))
        #expect(machine.isEnded)
        #expect(machine.handle(.device(.cardInserted)).isEmpty)
    }

    @Test("stale answers do not count: an old timer, an earlier PIN entry's events, a superseded verification")
    func staleAnswers() async throws {
        var (machine, id) = try await Self.confirming()
        // The confirmation's timer is generation 4 (waiting, reading, confirming... each stage arms one).
        let armed = machine.handle(.device(.moreTime))
        let generation = try #require(armed.compactMap { if case .startTimer(let generation, _, true) = $0 { generation } else { nil } }.first)
        #expect(machine.handle(.timer(generation: generation - 1, expired: true)).isEmpty)
        #expect(machine.stage == .confirming)
        _ = machine.handle(.device(.confirm))
        _ = machine.handle(.pinPad(.completed(Self.block(1)), entry: 1))
        #expect(machine.handle(.pinPad(.digits(2), entry: 1)).isEmpty)  // the first entry is over
        #expect(machine.handle(.pinPad(.digits(2), entry: 2)) == [.emit(.pinProgress(2))])

        var other = FlowMachine(id: "flow-other", configuration: Self.configuration)
        _ = other.handle(.start)
        _ = other.handle(.device(.cardInserted))
        _ = other.handle(.device(.cardRead(try await FlowHarness.reading("v2-common"))))
        let firstVerify = other.handle(.device(.idCardRead(id)))
        let secondVerify = other.handle(.device(.idCardRead(id)))
        #expect(firstVerify.contains(.verify(id, number: 1)))
        #expect(secondVerify.contains(.verify(id, number: 2)))
        #expect(other.handle(.verified(.rejected("old answer"), number: 1)).isEmpty)
        #expect(Self.stages(other.handle(.verified(.verified, number: 2))) == [.confirming])
    }

    @Test("ending waits for the PIN pad: inputs meanwhile only track the cards; the first reason stands")
    func endingWaitsForThePad() async throws {
        var (machine, _) = try await Self.confirming()
        _ = machine.handle(.device(.confirm))
        let cancelled = machine.handle(.device(.cancel))
        #expect(cancelled == [.stopPINPad])
        #expect(machine.end == .cancelled)
        #expect(machine.handle(.device(.readerFailed("late"))).isEmpty)
        #expect(machine.handle(.pinPad(.completed(Self.block(1)), entry: 1)).isEmpty)
        #expect(machine.handle(.timer(generation: 99, expired: true)).isEmpty)
        _ = machine.handle(.device(.cardRemoved))
        let stopped = machine.handle(.pinPadStopped)
        #expect(stopped.contains(.audit("flow-test ended cancelled: cancelled on the screen")))
        #expect(stopped.last == FlowMachine.Action.close(.cancelled))  // the card left meanwhile: no take-cards stage
        #expect(machine.endDetail == "cancelled on the screen")
    }

    @Test("a weak PIN goes back to entry twice, then the bank's refusal stands; a card gone during the call is not asked again")
    func weakPIN() async throws {
        var (machine, _) = try await Self.confirming()
        let weak = ExecutionResult(key: "k", state: .declined, outcome: .declined(.weakPIN(.repeatedDigits), bankCode: "55"))
        func toBank(_ entry: Int) {
            _ = machine.handle(.pinPad(.completed(Self.block(7)), entry: entry))
            _ = machine.handle(.pinPad(.completed(Self.block(7)), entry: entry + 1))
        }
        _ = machine.handle(.device(.confirm))
        toBank(1)
        #expect(Self.stages(machine.handle(.bankAnswered(.success(weak)))) == [.enteringPIN])
        toBank(3)
        #expect(Self.stages(machine.handle(.bankAnswered(.success(weak)))) == [.enteringPIN])
        toBank(5)
        let third = machine.handle(.bankAnswered(.success(weak)))
        #expect(Self.stages(third) == [.result])
        #expect(machine.end == .refused)

        var (gone, _) = try await Self.confirming()
        _ = gone.handle(.device(.confirm))
        _ = gone.handle(.pinPad(.completed(Self.block(7)), entry: 1))
        _ = gone.handle(.pinPad(.completed(Self.block(7)), entry: 2))
        _ = gone.handle(.device(.cardRemoved))
        _ = gone.handle(.bankAnswered(.success(weak)))
        #expect(gone.end == .cardRemoved)
    }

    @Test("abandon closes at once with the end so far (shutdown), or out of service when there was none")
    func abandon() async throws {
        var (machine, _) = try await Self.confirming()
        #expect(machine.handle(.abandon).last == FlowMachine.Action.close(.outOfService))
        #expect(machine.isEnded)
        #expect(machine.handle(.abandon).isEmpty)
    }
}
