import Activation
import ActivationSimulators
import BankSimulator
import Foundation
import Glibc
import KioskClient
import KioskProtocol
import KioskService
import Messages
import TestSupport
import Synchronization
import Testing
import UnixSocket

@Suite("kiosk socket: protocol v1 over a real Unix socket", .timeLimit(.minutes(2)))
struct ServerTests {
    @Test("status, capabilities: acknowledged, then exactly one completion; the socket is mode 0660")
    func statusAndCapabilities() async throws {
        let served = try await Served.start()
        let client = try TestClient(path: served.path)
        client.send("Common.Status", 1)
        client.send("Common.Capabilities", 2)
        let status = try #require(await client.completion(1))
        #expect(status.payload["device"]?.string == "online" && status.payload["activation"]?.string == "idle")
        let capabilities = try #require(await client.completion(2))
        let names = capabilities.payload["interfaces"]?.array?.compactMap { $0["name"]?.string } ?? []
        #expect(Set(names) == Set(KioskProtocol.commands.keys))
        #expect(client.messages(for: 1).map(\.header.type) == [.acknowledge, .completion])
        var info = stat()
        #expect(stat(served.path, &info) == 0 && info.st_mode & 0o777 == 0o660)
        client.disconnect()
        await served.stop()
    }

    @Test("a whole activation over the socket: events with the requestId, masked details, PIN dots, result, one completion")
    func activation() async throws {
        let served = try await Served.start()
        let client = try TestClient(path: served.path)
        client.send("Activation.Start", 10, timeout: 0)
        #expect(await client.wait { $0.header.name == "Activation.StageEvent" && $0.payload["stage"]?.string == "waitingForCards" } != nil)
        let flow = try #require(served.host.lastFlow)
        await flow.send(.idCardRead(try Cards.idCard("resident-common")))
        await flow.send(.cardInserted)
        await flow.send(.cardRead(try await Cards.reading("v2-common")))
        let details = try #require(await client.wait { $0.header.name == "Activation.DetailsEvent" })
        #expect(details.payload["idNumber"]?.string == "440***********1117" && details.header.requestId == 10)
        client.send("Activation.Confirm", 11)
        #expect(await client.completion(11)?.header.completionCode == .success)
        for _ in 0..<2 {
            #expect(await served.host.pad.typeWhenAsked("802461"))
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(await client.wait { $0.header.name == "Activation.ResultEvent" && $0.payload["state"]?.string == "approved" } != nil)
        await flow.send(.cardRemoved)
        let completion = try #require(await client.completion(10))
        #expect(completion.header.completionCode == .success && completion.payload["end"]?.string == "completed")
        let mine = client.messages(for: 10)
        #expect(mine.first?.header.type == .acknowledge && mine.last?.header.type == .completion)
        #expect(mine.filter { $0.header.type == .completion }.count == 1)
        #expect(mine.contains { $0.header.name == "Activation.PINProgressEvent" && $0.payload["digits"]?.int == 6 })
        #expect(await served.host.bank.ledger().count == 1)
        // The journal over the socket, masked; the chain verifies.
        client.send("Journal.Recent", 12, payload: ["limit": 5])
        let recent = try #require(await client.completion(12))
        #expect(recent.payload["activations"]?.array?.first?["state"]?.string == "approved")
        #expect(recent.payload["activations"]?.array?.first?["maskedPAN"]?.string?.contains("*") == true)
        client.send("Journal.Verify", 13)
        #expect(await client.completion(13)?.payload["intact"]?.bool == true)
        client.send("Common.Status", 14)
        client.send("Common.Capabilities", 15)
        client.send("Readers.List", 16)
        client.send("Operations.Metrics", 17)
        client.sendRaw(Array("garbage\n".utf8))
        _ = await client.completion(17)
        try await checkAgainstSchemas(client.messages)
        client.disconnect()
        await served.stop()
    }

    @Test("one activation at a time; only its connection can confirm or cancel it; a closed connection cancels it")
    func ownership() async throws {
        let served = try await Served.start()
        let owner = try TestClient(path: served.path)
        let other = try TestClient(path: served.path)
        owner.send("Activation.Start", 1)
        #expect(await owner.wait { $0.header.name == "Activation.StageEvent" } != nil)
        other.send("Activation.Start", 1)
        #expect(await other.completion(1)?.header.completionCode == .sequenceError)
        other.send("Activation.Confirm", 2)
        #expect(await other.completion(2)?.header.completionCode == .sequenceError)
        other.send("Common.Cancel", 3)
        #expect(await other.completion(3)?.payload["errorCode"]?.string == "noMatchingRequestIDs")
        owner.send("Common.Cancel", 2, payload: ["requestIds": [1]])
        #expect(await owner.completion(2)?.header.completionCode == .success)
        #expect(await owner.completion(1)?.header.completionCode == .canceled)
        // A new activation, and its client goes away: cancelled, nothing sent.
        other.send("Activation.Start", 5)
        #expect(await other.wait { $0.header.requestId == 5 && $0.header.name == "Activation.StageEvent" } != nil)
        let flow = try #require(served.host.lastFlow)
        other.disconnect()
        #expect(await flow.ended() == .cancelled)
        #expect(await served.host.bank.ledger().isEmpty)
        owner.send("Common.Status", 9)
        #expect(await owner.completion(9)?.payload["activation"]?.string == "idle")
        owner.disconnect()
        await served.stop()
    }

    @Test("Activation.Start's language: every message's text is in it (Chinese by default), and the completion says which")
    func language() async throws {
        let served = try await Served.start()
        let client = try TestClient(path: served.path)
        client.send("Activation.Start", 30, payload: ["language": "en"])
        let english = try #require(await client.wait { $0.header.requestId == 30 && $0.header.name == "Activation.StageEvent" })
        #expect(english.payload["message"]?["text"]?.string == FlowStage.waitingForCards.customerMessage.en)
        #expect(english.payload["message"]?["zhHans"]?.string == FlowStage.waitingForCards.customerMessage.zhHans)
        client.send("Activation.Reject", 31)
        let completion = try #require(await client.completion(30))
        #expect(completion.payload["language"]?.string == "en")
        #expect(completion.payload["message"]?["text"]?.string == FlowEnd.cancelled.customerMessage.en)
        client.send("Activation.Start", 32)
        let chinese = try #require(await client.wait { $0.header.requestId == 32 && $0.header.name == "Activation.StageEvent" })
        #expect(chinese.payload["message"]?["text"]?.string == FlowStage.waitingForCards.customerMessage.zhHans)
        client.send("Common.Cancel", 33)
        #expect(await client.completion(32)?.payload["language"]?.string == "zh-Hans")
        client.disconnect()
        await served.stop()
    }

    @Test("a command's timeout cancels it: completion timeOut")
    func commandTimeout() async throws {
        let served = try await Served.start()
        let client = try TestClient(path: served.path)
        client.send("Activation.Start", 1, timeout: 300)
        #expect(await client.completion(1)?.header.completionCode == .timeOut)
        client.disconnect()
        await served.stop()
    }

    @Test("protocol abuse gets typed answers and the connection keeps working: oversized, deep, invalid UTF-8, unknown name and version, garbage")
    func abuse() async throws {
        let served = try await Served.start()
        let client = try TestClient(path: served.path)
        client.sendRaw([UInt8](repeating: 0x7B, count: 70_000) + [0x0A])
        client.sendRaw(Array((String(repeating: "[", count: 100) + "\n").utf8))
        client.sendRaw([0x7B, 0xC3, 0x28, 0x7D, 0x0A])
        client.sendRaw(Array(#"{"header":{"name":"Nope.X","requestId":4,"type":"command","version":"1.0"},"payload":{}}"#.utf8) + [0x0A])
        client.sendRaw(Array(#"{"header":{"name":"Common.Status","requestId":5,"type":"command","version":"7.0"},"payload":{}}"#.utf8) + [0x0A])
        client.sendRaw(Array("garbage\n".utf8))
        client.send("Common.Status", 6)
        #expect(await client.completion(6)?.header.completionCode == .success)
        let refusals = client.messages.filter { $0.header.type == .acknowledge && $0.header.status != nil }
        #expect(refusals.count == 6)
        #expect(refusals.contains { $0.header.requestId == 4 && $0.header.status == "unsupportedCommand" })
        #expect(refusals.contains { $0.header.requestId == 5 && $0.header.status == "unsupportedVersion" })
        client.disconnect()
        await served.stop()
    }

    @Test("a flood is rate-limited; a slow sender and 1,000 connection attempts do not stop a legitimate client")
    func flooding() async throws {
        let served = try await Served.start(limits: ServerLimits(maximumConnections: 8, commandsPerSecond: 20))
        let legit = try TestClient(path: served.path)
        let flood = try TestClient(path: served.path)
        for id in 1...200 { flood.send("Common.Status", id) }
        #expect(await flood.wait { $0.header.status == "tooManyRequests" } != nil)
        // One byte per 100 ms of a message that never ends.
        let slow = try TestClient(path: served.path)
        let dribble = Task {
            for byte in Array(#"{"header":{"name":"Common.Status""#.utf8) {
                slow.sendRaw([byte])
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
        // 1,000 connection attempts: the extra ones are turned away, the legitimate client is served.
        let attempts = try await onOwnThread { () -> Int in
            var opened = 0
            for _ in 0..<1000 {
                if let client = try? TestClient(path: served.path) {
                    opened += 1
                    client.disconnect()
                }
            }
            return opened
        }
        #expect(attempts > 0)
        legit.send("Common.Status", 1)
        #expect(await legit.completion(1)?.header.completionCode == .success)
        dribble.cancel()
        for client in [flood, slow] { client.disconnect() }
        #expect(await waitUntil(timeout: .seconds(5)) { served.server.connectionCount == 1 })
        legit.disconnect()
        await served.stop()
    }

    @Test("the wrong peer uid is disconnected at once; unsolicited status changes reach every client")
    func peerAndUnsolicited() async throws {
        let refusing = try await Served.start(limits: ServerLimits(allowedUIDs: [getuid() &+ 4242]))
        let stranger = try TestClient(path: refusing.path)
        #expect(await stranger.waitClosed())
        stranger.disconnect()
        await refusing.stop()

        let served = try await Served.start(limits: ServerLimits(allowedUIDs: [getuid()]))
        let a = try TestClient(path: served.path)
        let b = try TestClient(path: served.path)
        a.send("Common.Status", 1)
        b.send("Common.Status", 1)
        _ = await a.completion(1)
        _ = await b.completion(1)
        served.host.changesContinuation.yield(["reader": "Mock Reader 00 00", "media": "present"])
        for client in [a, b] {
            #expect(await client.wait { $0.header.type == .unsolicited && $0.header.name == "Common.StatusChangedEvent" && $0.payload["media"]?.string == "present" } != nil)
        }
        a.disconnect()
        b.disconnect()
        await served.stop()
    }

    @Test("stopping while connections pour in: every accepted connection is served and finished, run() returns (swift-nio#2813 traps otherwise)")
    func stopUnderConnectionStorm() async throws {
        for _ in 0..<15 {
            let served = try await Served.start()
            let path = served.path
            // Blocking connects, on a thread of their own (not the cooperative pool the other suites share).
            let calm = Mutex(false)
            let storm = Task {
                try await onOwnThread {
                    var opened = 0
                    while !calm.withLock({ $0 }) && opened < 400 {
                        if let fd = try? UnixSocket.connect(path) {
                            opened += 1
                            close(fd)
                        }
                    }
                }
            }
            try await Task.sleep(for: .milliseconds(Int.random(in: 0...30)))
            await served.stop()
            calm.withLock { $0 = true }
            _ = await storm.result
            #expect(await waitUntil(timeout: .seconds(3)) { served.server.connectionCount == 0 })
        }
    }

    @Test("an idle connection is closed")
    func idle() async throws {
        let served = try await Served.start(limits: ServerLimits(idleTimeout: .seconds(1)))
        let client = try TestClient(path: served.path)
        #expect(await client.waitClosed(timeout: .seconds(5)))
        await served.stop()
    }
}

/// Every message against docs/protocol/schemas, by jsonschema (PyPI), when scripts/test.sh installed it.
func checkAgainstSchemas(_ messages: [KioskMessage]) async throws {
    guard ProcessInfo.processInfo.environment["KIOSK_JSONSCHEMA"] != nil else { return }
    let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let lines = messages.map { String(decoding: KioskProtocol.encode($0), as: UTF8.self) }.joined()
    let run = try await runProcess("/usr/bin/env", [
        "python3", repository.appendingPathComponent("scripts/lib/check_protocol.py").path, repository.appendingPathComponent("docs/protocol/schemas").path,
    ], input: Data(lines.utf8))
    #expect(run.status == 0, "\(run.output.split(separator: "\n").filter { $0.hasPrefix("FAIL") }) \(run.error)")
    #expect(run.output.split(separator: "\n").count == messages.count)
}
