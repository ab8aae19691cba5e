import Foundation
import IDModuleSimulator
import Messages
import Identity
import ResidentIDCard
import TestSupport
import Testing

/// A simulator on its own pty and link path, and a module client on that path: each test has its own,
/// so they run in parallel.
struct PTYBench {
    let directory: String
    let simulator: IDModuleSimulator
    let module: IDCardModule

    /// The product's timeouts (1 s per command, 3 s per read); the tests of timeouts set their own.
    init(timeouts: IDModuleTimeouts = IDModuleTimeouts()) throws {
        self.directory = FileManager.default.temporaryDirectory.appendingPathComponent("idmodule-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: self.directory, withIntermediateDirectories: true)
        self.simulator = IDModuleSimulator(linkPath: self.directory + "/ttyID")
        try self.simulator.plug()
        self.module = IDCardModule(device: self.directory + "/ttyID", timeouts: timeouts)
    }

    func finish() async {
        await self.module.close()
        self.simulator.stop()
        try? FileManager.default.removeItem(atPath: self.directory)
    }
}

@Suite(.timeLimit(.minutes(1))) struct ModuleOverPTYTests {
    @Test(arguments: allIDFixtures)
    func readsEveryFixtureThroughTheTTY(_ name: String) async throws {
        let bench = try PTYBench()
        let fixture = try idFixture(name)
        bench.simulator.place(fixture)
        let card = try await bench.module.readCard(fingerprint: fixture.fingerprint ?? false)
        #expect(card.name == fixture.name)
        #expect(card.idNumber == fixture.idNumber)
        #expect(card.type == fixture.type)
        #expect(card.validTo == fixture.card.validTo)
        #expect(card.photo == fixture.photo)
        #expect(card.hasFingerprint == (fixture.fingerprint ?? false))
        #expect(bench.simulator.requests.suffix(3) == ["find card", "select card", fixture.fingerprint == true ? "read text, photo and fingerprints" : "read text and photo"])
        await bench.finish()
    }

    @Test func statusIdentityAddressAndBaud() async throws {
        let bench = try PTYBench()
        #expect(try await bench.module.status() == .ok)
        #expect(try await bench.module.moduleID() == "05.01-20181793-1234567890-0123456789")
        try await bench.module.reset()
        try await bench.module.setBaudRate(.b115200)
        bench.simulator.place(try idFixture("resident-x-longterm"))
        _ = try await bench.module.readCard()
        #expect(try await bench.module.readNewestAddress() == "北京市朝阳区建国路88号")
        bench.simulator.place(try idFixture("resident-common"))
        _ = try await bench.module.readCard()
        #expect(try await bench.module.readNewestAddress() == nil)
        bench.simulator.faults.selfTestFailed = true
        #expect(try await bench.module.status() == .selfTestFailed)
        await bench.finish()
    }

    @Test func noCardIsItsOwnError() async throws {
        let bench = try PTYBench()
        await #expect(throws: IDModuleError(.noCard, detail: "")) { try await bench.module.readCard() }
        #expect(IDModuleError(.noCard, detail: "").customerMessage.key == "idcard.noCard")
        await bench.finish()
    }

    /// Line noise comes in bursts. Find and select change nothing on the card, so a burst of 1, 2 or 3 corrupt
    /// answers (whatever the corruption) is ridden out and the read succeeds.
    @Test(arguments: IDModuleSimulator.Faults.Corruption.allCases, [1, 2, 3])
    func findAndSelectRideOutABurst(_ corruption: IDModuleSimulator.Faults.Corruption, _ burst: Int) async throws {
        let bench = try PTYBench()
        let fixture = try idFixture("resident-common")
        bench.simulator.place(fixture)
        bench.simulator.faults.corruption = corruption
        bench.simulator.faults.corruptChecksums = burst  // on the answers to find
        let card = try await bench.module.readCard()
        #expect(card.idNumber == fixture.idNumber)
        // A module that saw our request corrupted (`10`) did not act on it, so it records nothing.
        let acted = corruption == .moduleChecksumStatus ? 0 : burst
        #expect(bench.simulator.requests.filter { $0 == "find card" }.count == acted + 1)
        bench.simulator.removeCard()
        bench.simulator.place(fixture)
        #expect(try await bench.module.findCard())
        bench.simulator.faults.corruptChecksums = burst  // on the answers to select
        try await bench.module.selectCard()
        #expect(bench.simulator.requests.filter { $0 == "select card" }.count == 1 + acted + 1)
        #expect(try await bench.module.readSelectedCard().idNumber == fixture.idNumber)
        await bench.finish()
    }

    /// A line that stays corrupt is a module fault, not the card's: its own reason and the "reader not
    /// working" message, after the bounded attempts and well within the command timeout per attempt.
    @Test(arguments: IDModuleSimulator.Faults.Corruption.allCases)
    func aLineThatStaysCorruptIsAModuleFault(_ corruption: IDModuleSimulator.Faults.Corruption) async throws {
        let bench = try PTYBench()
        bench.simulator.place(try idFixture("resident-common"))
        bench.simulator.faults.corruption = corruption
        bench.simulator.faults.corruptChecksums = 100
        let error = await #expect(throws: IDModuleError.self) { try await bench.module.readCard() }
        #expect(error?.reason == .noisyLine)
        #expect(error?.customerMessage.key == "idcard.readerUnavailable")
        #expect(error?.operatorMessage.contains("5 corrupt answers in a row") == true)
        #expect(bench.simulator.requests.filter { $0 == "find card" }.count == (corruption == .moduleChecksumStatus ? 0 : 5))
        bench.simulator.faults.corruptChecksums = 0
        #expect(try await bench.module.readCard().idNumber == (try idFixture("resident-common")).idNumber)
        await bench.finish()
    }

    /// The module counts a card as read once it answered a read, so a corrupt read answer is not retried:
    /// the customer is asked to lift the card and place it again, for a burst of any length.
    @Test(arguments: [1, 2, 3])
    func aCorruptReadAsksForTheCardAgain(_ burst: Int) async throws {
        let bench = try PTYBench()
        bench.simulator.place(try idFixture("resident-common"))
        #expect(try await bench.module.findCard())
        try await bench.module.selectCard()
        bench.simulator.faults.corruptChecksums = burst
        let error = await #expect(throws: IDModuleError.self) { try await bench.module.readSelectedCard() }
        #expect(error?.reason == .malformedFrame)
        #expect(error?.customerMessage.key == "idcard.readFailed")
        #expect(bench.simulator.requests.filter { $0 == "read text and photo" }.count == 1)
        await bench.finish()
    }

    /// The reader loop: bursts on find neither take the module offline nor lose the card; a corrupt read
    /// answer is reported as a failed read (place it again), and the module stays online.
    @Test(arguments: [1, 2, 3])
    func readerLoopRidesOutBursts(_ burst: Int) async throws {
        let bench = try PTYBench()
        var watcher = IDCardWatcher(module: bench.module)
        watcher.pollInterval = .milliseconds(50)
        var events = watcher.events().makeAsyncIterator()
        let event1 = await events.next()
        guard case .moduleOnline = event1 else { Issue.record("online; got \(event1.map { "\($0)" } ?? "the end of the stream")"); return }
        bench.simulator.faults.corruptChecksums = burst
        try await Task.sleep(for: .milliseconds(300))  // the burst lands on the loop's finds
        bench.simulator.place(try idFixture("resident-common"))
        let event2 = await events.next()
        guard case .cardArrived = event2 else { Issue.record("burst of \(burst) on find: the card is read, the module stays online; got \(event2.map { "\($0)" } ?? "the end of the stream")"); return }
        bench.simulator.removeCard()
        let event3 = await events.next()
        guard case .cardLeft = event3 else { Issue.record("left; got \(event3.map { "\($0)" } ?? "the end of the stream")"); return }
        // Now the burst hits the reads' answers: each time the module has counted the card as read, so the
        // customer is asked to place it again (not a module fault), until the burst is over.
        bench.simulator.faults.corruptOnlyReads = true
        bench.simulator.faults.corruptChecksums = burst
        for attempt in 1...burst {
            bench.simulator.place(try idFixture("resident-common"))
            let event4 = await events.next()
        guard case .readFailed(let error) = event4 else { Issue.record("corrupt read \(attempt): read failed; got \(event4.map { "\($0)" } ?? "the end of the stream")"); return }
            #expect(error.reason == .malformedFrame && error.customerMessage.key == "idcard.readFailed")
            bench.simulator.removeCard()
            try await Task.sleep(for: .milliseconds(150))
        }
        bench.simulator.place(try idFixture("resident-common"))
        let event5 = await events.next()
        guard case .cardArrived = event5 else { Issue.record("after the burst the card is read; got \(event5.map { "\($0)" } ?? "the end of the stream")"); return }
        await bench.finish()
    }

    @Test func splitGluedAndNoisyWritesStillRead() async throws {
        let bench = try PTYBench()
        let fixture = try idFixture("resident-rare")
        bench.simulator.place(fixture)
        var faults = IDModuleSimulator.Faults()
        faults.splitWrites = true
        faults.gluedWrites = true
        faults.leadingNoise = [0x00, 0xAA, 0x55, 0xAA, 0xAA]
        faults.refindsPresentCard = true
        bench.simulator.faults = faults
        for _ in 0..<3 {
            let card = try await bench.module.readCard(fingerprint: true)
            #expect(card.name == fixture.name && card.photo == fixture.photo)
        }
        await bench.finish()
    }

    @Test func slowModuleWithinAndBeyondTheTimeout() async throws {
        let bench = try PTYBench(timeouts: IDModuleTimeouts(command: .milliseconds(400), read: .milliseconds(400)))
        bench.simulator.faults.delay = .milliseconds(150)
        #expect(try await bench.module.status() == .ok)
        // Far beyond the timeout: the module's thread may be scheduled late on a loaded machine, and an answer
        // already there when it looks is (rightly) taken; 900 ms against 400 ms left too thin a margin.
        bench.simulator.faults.delay = .milliseconds(2500)
        let clock = ContinuousClock()
        let start = clock.now
        await #expect(throws: IDModuleError(.timeout, detail: "")) { try await bench.module.status() }
        #expect(clock.now - start < .seconds(2))
        bench.simulator.faults.delay = .zero
        try await Task.sleep(for: .milliseconds(2600))  // the late answer arrives and is flushed
        #expect(try await bench.module.status() == .ok)
        await bench.finish()
    }

    @Test func unpluggedAndBack() async throws {
        let bench = try PTYBench()
        bench.simulator.place(try idFixture("resident-common"))
        #expect(try await bench.module.status() == .ok)
        bench.simulator.unplug()
        do {
            _ = try await bench.module.status()
            Issue.record("an unplugged module must fail")
        } catch {
            #expect([.deviceGone, .deviceUnavailable].contains(error.reason))
            #expect(error.customerMessage.key == "idcard.readerUnavailable")
        }
        await #expect(throws: IDModuleError(.deviceUnavailable, detail: "")) { try await bench.module.status() }
        try bench.simulator.plug()
        let card = try await bench.module.readCard()
        #expect(card.idNumber == "440303198101011117")
        await bench.finish()
    }

    /// Unplugging while the module is about to answer: its answer must never land in a descriptor the
    /// process opens afterwards under the pty's old number (a soak run once found an SQLite journal opened
    /// by another test "not a database": the simulator's frame had been written into it).
    @Test func anAnswerDueAtUnplugGoesNowhereElse() async throws {
        let bench = try PTYBench(timeouts: IDModuleTimeouts(command: .seconds(2), read: .seconds(2)))
        bench.simulator.faults.delay = .milliseconds(400)
        let asking = Task { try? await bench.module.status() }
        try await Task.sleep(for: .milliseconds(150))  // the request is in; the answer is being delayed
        bench.simulator.unplug()
        #expect(!bench.simulator.isPlugged)
        // The lowest free numbers go to the next opens: the pty's, if it was closed under the serving thread.
        let files = (0..<4).map { _ in bench.directory + "/file-\(UUID().uuidString)" }
        let descriptors = files.map { open($0, O_RDWR | O_CREAT | O_CLOEXEC, 0o600) }
        try await Task.sleep(for: .milliseconds(700))  // well past the answer's time
        for (file, fd) in zip(files, descriptors) {
            #expect(fd >= 0)
            let size = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? -1
            #expect(size == 0, "\(size) bytes were written into a file opened after the unplug (descriptor \(fd))")
            close(fd)
        }
        _ = await asking.value
        await bench.finish()
    }

    @Test func missingDeviceAndNonSerialPath() async throws {
        let missing = IDCardModule(device: "/nonexistent/ttyID")
        await #expect(throws: IDModuleError(.deviceUnavailable, detail: "")) { try await missing.status() }
        await missing.close()
        let notATTY = IDCardModule(device: "/dev/null")
        await #expect(throws: IDModuleError(.deviceUnavailable, detail: "")) { try await notATTY.status() }
        await notATTY.close()
    }
}

@Suite(.timeLimit(.minutes(1))) struct WatcherTests {
    func next(_ iterator: inout AsyncStream<IDCardEvent>.Iterator, within: Duration = .seconds(5)) async -> IDCardEvent? {
        await iterator.next()
    }

    @Test func arrivalOnceThenLeft() async throws {
        let bench = try PTYBench()
        var watcher = IDCardWatcher(module: bench.module)
        watcher.pollInterval = .milliseconds(50)
        bench.simulator.faults.refindsPresentCard = true
        var events = watcher.events().makeAsyncIterator()
        let event6 = await events.next()
        guard case .moduleOnline = event6 else { Issue.record("module online first; got \(event6.map { "\($0)" } ?? "the end of the stream")"); return }
        bench.simulator.place(try idFixture("resident-common"))
        let event7 = await events.next()
        guard case .cardArrived(let card) = event7 else { Issue.record("card arrived; got \(event7.map { "\($0)" } ?? "the end of the stream")"); return }
        #expect(card.name == "张三")
        // The card stays: several polls find it again, and no second arrival is reported.
        #expect(await waitUntil(timeout: .seconds(5)) { bench.simulator.requests.filter { $0 == "read text and photo" }.count >= 3 })
        bench.simulator.removeCard()
        let event8 = await events.next()
        guard case .cardLeft = event8 else { Issue.record("card left; got \(event8.map { "\($0)" } ?? "the end of the stream")"); return }
        bench.simulator.place(try idFixture("hmt-permit"))
        let event9 = await events.next()
        guard case .cardArrived(let second) = event9 else { Issue.record("second card; got \(event9.map { "\($0)" } ?? "the end of the stream")"); return }
        #expect(second.type == .hmtResidencePermit)
        await bench.finish()
    }

    @Test func modulesThatDoNotRefindReportTheCardOnce() async throws {
        let bench = try PTYBench()
        var watcher = IDCardWatcher(module: bench.module)
        watcher.pollInterval = .milliseconds(50)
        var events = watcher.events().makeAsyncIterator()
        _ = await events.next()  // online
        bench.simulator.place(try idFixture("resident-common"))
        let event10 = await events.next()
        guard case .cardArrived = event10 else { Issue.record("card arrived; got \(event10.map { "\($0)" } ?? "the end of the stream")"); return }
        let event11 = await events.next()
        guard case .cardLeft = event11 else { Issue.record("no longer found; got \(event11.map { "\($0)" } ?? "the end of the stream")"); return }
        try await Task.sleep(for: .milliseconds(300))
        #expect(bench.simulator.requests.filter { $0 == "read text and photo" }.count == 1)
        await bench.finish()
    }

    @Test func failedReadsAreRetriedThenReported() async throws {
        let bench = try PTYBench()
        var watcher = IDCardWatcher(module: bench.module)
        watcher.pollInterval = .milliseconds(50)
        var events = watcher.events().makeAsyncIterator()
        _ = await events.next()  // online
        bench.simulator.faults.failingReads = 2
        bench.simulator.place(try idFixture("resident-common"))
        let event12 = await events.next()
        guard case .cardArrived = event12 else { Issue.record("two failures, then the third attempt reads; got \(event12.map { "\($0)" } ?? "the end of the stream")"); return }
        #expect(bench.simulator.requests.filter { $0 == "read text and photo" }.count == 3)
        bench.simulator.removeCard()
        _ = await events.next()  // left
        bench.simulator.faults.failingReads = 10
        bench.simulator.place(try idFixture("resident-common"))
        let event13 = await events.next()
        guard case .readFailed(let error) = event13 else { Issue.record("read failed after 3 attempts; got \(event13.map { "\($0)" } ?? "the end of the stream")"); return }
        #expect(error.reason == .moduleStatus(.readFailed))
        await bench.finish()
    }

    @Test func moduleOfflineAndBack() async throws {
        let bench = try PTYBench()
        var watcher = IDCardWatcher(module: bench.module)
        watcher.pollInterval = .milliseconds(50)
        var events = watcher.events().makeAsyncIterator()
        _ = await events.next()  // online
        bench.simulator.unplug()
        let event14 = await events.next()
        guard case .moduleOffline = event14 else { Issue.record("offline; got \(event14.map { "\($0)" } ?? "the end of the stream")"); return }
        try bench.simulator.plug()
        let event15 = await events.next()
        guard case .moduleOnline = event15 else { Issue.record("online again; got \(event15.map { "\($0)" } ?? "the end of the stream")"); return }
        await bench.finish()
    }
}
