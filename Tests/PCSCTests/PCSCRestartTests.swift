import APDU
import CardCore
import CardSimulator
import Foundation
import PCSC
import TestSupport
import Testing

extension PCSCIntegrationTests {
    /// pcscd crashes and comes back: the driver must recover without a daemon restart.
    @Suite("pcscd restart")
    struct Restart {
        let slot = VPCDSlot.all[7]

        private func isOffline(_ event: ReaderEvent) -> Bool {
            if case .serviceOffline = event { return true }
            return false
        }

        /// Kills pcscd, starts it again, and returns how long the monitor took to report the card again.
        private func cycle(system: PCSCSystem, log: EventLog) async throws -> Duration? {
            let mark = log.count
            try TestPCSCD.kill()
            #expect(await log.waitFor(from: mark, timeout: .seconds(5)) { self.isOffline($0) } != nil, "no serviceOffline after kill")
            let clock = ContinuousClock()
            let started = clock.now
            try TestPCSCD.start()
            let inserted = await log.waitFor(from: mark, timeout: .seconds(5)) {
                $0 == .cardInserted(reader: self.slot.readerName, atr: EchoCard().atr)
            }
            guard inserted != nil else {
                Issue.record("card not reported within 5 s of pcscd's start; events: \(log.all.suffix(12)); sockets: \(TestPCSCD.socketStates(port: self.slot.port))")
                return nil
            }
            return clock.now - started
        }

        /// The command path recovers too: list, connect, exchange, disconnect.
        private func exercise(system: PCSCSystem) async throws {
            let readers = try await system.readers()
            #expect(readers.first { $0.name == self.slot.readerName }?.cardPresent == true)
            let connection = try await system.connect(reader: self.slot.readerName)
            #expect(try await connection.transmit(try .readRecord(1, expectedLength: 16)).data.count == 16)
            await connection.disconnect()
        }

        /// Runs `body` with an echo card in the slot and a monitor that has already reported it.
        private func withWatchedCard(_ body: (PCSCSystem, EventLog) async throws -> Void) async throws {
            let card = VPCDCard(card: EchoCard(), port: self.slot.port)
            card.insert()
            defer { card.remove() }
            let system = PCSCSystem()
            let log = EventLog(system.events())
            defer { log.stop() }
            #expect(await log.waitFor { $0 == .cardInserted(reader: self.slot.readerName, atr: EchoCard().atr) } != nil)
            try await body(system, log)
        }

        @Test("pcscd killed and started again: offline, online, the card reported again within 5 s")
        func recovers() async throws {
            try await self.withWatchedCard { system, log in try await self.checkRecovery(system: system, log: log) }
        }

        private func checkRecovery(system: PCSCSystem, log: EventLog) async throws {
            let mark = log.count
            let recovery = try await self.cycle(system: system, log: log)
            #expect(recovery.map { $0 < .seconds(5) } == true)
            // The order a screen sees: card gone, reader gone, service offline … online, reader back, card back.
            let after = Array(log.all[mark...])
            let removed = after.firstIndex(of: .cardRemoved(reader: self.slot.readerName))
            let offline = after.firstIndex { self.isOffline($0) }
            let online = after.firstIndex(of: .serviceOnline)
            let attached = after.lastIndex(of: .readerAttached(self.slot.readerName))
            let inserted = after.lastIndex(of: .cardInserted(reader: self.slot.readerName, atr: EchoCard().atr))
            #expect(removed != nil && offline != nil && online != nil && attached != nil && inserted != nil)
            if let removed, let offline, let online, let attached, let inserted {
                #expect(removed < offline && offline < online && online < attached && attached < inserted)
            }
            try await self.exercise(system: system)
        }

        @Test("50 kill/start cycles: no context, thread or descriptor leak")
        func fiftyCycles() async throws {
            try await self.withWatchedCard { system, log in try await self.checkCycles(system: system, log: log) }
        }

        private func checkCycles(system: PCSCSystem, log: EventLog) async throws {
            // Warm up: the first cycles create the long-lived threads (command worker, runtime pools).
            for _ in 0..<2 {
                _ = try await self.cycle(system: system, log: log)
                try await self.exercise(system: system)
            }
            try await Task.sleep(for: .milliseconds(200))
            // Threads counted are the driver's own (named pcsc-*): the rest of the suite runs in the same
            // process at the same time, so process-wide thread and descriptor counts move on their own.
            // Each PC/SC context holds one socket to pcscd, so the context count covers descriptors.
            let baseline = (fds: TestPCSCD.openDescriptors, threads: TestPCSCD.pcscThreads, contexts: PCSCSystem.liveContexts)
            var worst = Duration.zero
            for _ in 0..<50 {
                guard let recovery = try await self.cycle(system: system, log: log) else { return }
                worst = max(worst, recovery)
                try await self.exercise(system: system)
            }
            // Connection threads end just after disconnect: give them a moment.
            _ = await waitUntil(timeout: .seconds(2)) { TestPCSCD.pcscThreads <= baseline.threads }
            print("pcscd restart: 50 cycles, slowest recovery \(worst); fds \(baseline.fds) → \(TestPCSCD.openDescriptors), "
                + "pcsc threads \(baseline.threads) → \(TestPCSCD.pcscThreads), contexts \(baseline.contexts) → \(PCSCSystem.liveContexts)")
            #expect(worst < .seconds(5))
            #expect(TestPCSCD.pcscThreads <= baseline.threads)
            #expect(PCSCSystem.liveContexts == baseline.contexts)
        }
    }
}
