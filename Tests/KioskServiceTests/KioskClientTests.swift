import KioskClient
import KioskProtocol
import KioskService
import Testing

@Suite("kiosk socket client (kioskctl's, the benchmark's and the tests')", .timeLimit(.minutes(1)))
struct KioskClientTests {
    @Test("calls and waits are answered by the message itself; wait(after:) skips earlier ones; a stream replays, then follows")
    func waitsAndStreams() async throws {
        let served = try await Served.start()
        let client = try KioskSocketClient(path: served.path)
        let first = try await client.call("Common.Status", timeout: .seconds(10))
        #expect(first.header.type == .completion && first.header.name == "Common.Status")
        let mark = client.count
        #expect(mark == 2, "acknowledge and completion")
        // A wait from `mark` on does not take the earlier completion; it is woken by the next one.
        let clock = ContinuousClock()
        let started = clock.now
        async let next = client.wait(after: mark, timeout: .seconds(20)) { $0.header.type == .completion }
        let id = client.send("Common.Capabilities")
        let answer = await next
        #expect(answer?.header.requestId == id && answer?.header.name == "Common.Capabilities")
        #expect(clock.now - started < .seconds(10), "woken by the answer, not by the 20 s timeout")
        // Nothing matches: nil when the time is up.
        #expect(await client.wait(after: client.count, timeout: .milliseconds(100)) { _ in true } == nil)
        // The stream gives the four kept messages, then the next ones.
        var names: [String] = []
        let stream = client.stream()
        client.send("Common.Status")
        for await message in stream {
            names.append("\(message.header.name) \(message.header.type.rawValue)")
            if names.count == 6 { break }
        }
        #expect(names == [
            "Common.Status acknowledge", "Common.Status completion", "Common.Capabilities acknowledge", "Common.Capabilities completion",
            "Common.Status acknowledge", "Common.Status completion",
        ])
        client.close()
        #expect(await client.waitClosed())
        await served.stop()
    }

    @Test("when the daemon goes away, waiting calls end at once with the reason, not at their timeout")
    func connectionEnds() async throws {
        let served = try await Served.start()
        let client = try KioskSocketClient(path: served.path)
        _ = try await client.call("Common.Status", timeout: .seconds(10))
        let clock = ContinuousClock()
        let started = clock.now
        async let waiting = client.wait(after: client.count, timeout: .seconds(30)) { $0.header.name == "never" }
        await served.stop()
        #expect(await waiting == nil)
        #expect(clock.now - started < .seconds(15), "ended with the connection, not at the 30 s timeout")
        #expect(client.isClosed)
        #expect(await client.wait(timeout: .seconds(30)) { $0.header.name == "Common.Status" } != nil, "what arrived before the end still counts")
        await #expect(throws: KioskClientError.self) { try await client.call("Common.Status", timeout: .seconds(30)) }
        #expect(throws: KioskClientError.self) { try KioskSocketClient(path: served.path + ".missing") }
    }
}
