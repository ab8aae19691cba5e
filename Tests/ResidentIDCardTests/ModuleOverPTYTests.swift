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

    init(timeouts: IDModuleTimeouts = IDModuleTimeouts(command: .milliseconds(800), read: .seconds(2))) throws {
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

    @Test func corruptChecksumIsRetriedOnce() async throws {
        let bench = try PTYBench()
        bench.simulator.place(try idFixture("resident-common"))
        bench.simulator.faults.corruptChecksums = 1
        _ = try await bench.module.readCard()
        bench.simulator.faults.corruptChecksums = 2
        await #expect(throws: IDModuleError(.malformedFrame, detail: "")) { try await bench.module.status() }
        #expect(try await bench.module.status() == .ok)
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
        bench.simulator.faults.delay = .milliseconds(900)
        let clock = ContinuousClock()
        let start = clock.now
        await #expect(throws: IDModuleError(.timeout, detail: "")) { try await bench.module.status() }
        #expect(clock.now - start < .seconds(2))
        bench.simulator.faults.delay = .zero
        try await Task.sleep(for: .milliseconds(1000))  // the late answer arrives and is flushed
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
        guard case .moduleOnline = await events.next() else { Issue.record("module online first"); return }
        bench.simulator.place(try idFixture("resident-common"))
        guard case .cardArrived(let card) = await events.next() else { Issue.record("card arrived"); return }
        #expect(card.name == "张三")
        // The card stays: several polls find it again, and no second arrival is reported.
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .seconds(5))
        while bench.simulator.requests.filter({ $0 == "read text and photo" }).count < 3 && clock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(bench.simulator.requests.filter { $0 == "read text and photo" }.count >= 3)
        bench.simulator.removeCard()
        guard case .cardLeft = await events.next() else { Issue.record("card left"); return }
        bench.simulator.place(try idFixture("hmt-permit"))
        guard case .cardArrived(let second) = await events.next() else { Issue.record("second card"); return }
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
        guard case .cardArrived = await events.next() else { Issue.record("card arrived"); return }
        guard case .cardLeft = await events.next() else { Issue.record("no longer found"); return }
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
        guard case .cardArrived = await events.next() else { Issue.record("two failures, then the third attempt reads"); return }
        #expect(bench.simulator.requests.filter { $0 == "read text and photo" }.count == 3)
        bench.simulator.removeCard()
        _ = await events.next()  // left
        bench.simulator.faults.failingReads = 10
        bench.simulator.place(try idFixture("resident-common"))
        guard case .readFailed(let error) = await events.next() else { Issue.record("read failed after 3 attempts"); return }
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
        guard case .moduleOffline = await events.next() else { Issue.record("offline"); return }
        try bench.simulator.plug()
        guard case .moduleOnline = await events.next() else { Issue.record("online again"); return }
        await bench.finish()
    }
}
