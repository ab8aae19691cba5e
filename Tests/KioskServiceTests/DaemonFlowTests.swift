import BankGateway
import BankHTTP
import BankSimulator
import BankSimulatorServer
import Foundation
import Glibc
import Identity
import Journal
import KioskClient
import KioskProtocol
import KioskService
import KioskSettings
import MetricsEndpoint
import Synchronization
import TestSupport
import Testing
import UnixSocket

/// kioskd --mock as a process, driven over its socket as a kiosk screen would: every refusal, the bank's
/// refusals that go back to PIN entry, cancel, card removal, a screen that disconnects, and protocol abuse
/// with the daemon's memory measured. One kioskd at a time: seven started together on a 2-core machine
/// starve the other suites' timeouts.
@Suite("kioskd over its socket: refusals, cancel, removal, disconnect, abuse", .serialized, .timeLimit(.minutes(4)))
struct DaemonFlowTests {
    /// The demo cardholder's ID card with some fields changed.
    static func idCard(_ changes: [String: String]) -> String {
        var fields = [
            "type": "residentIDCard", "name": "张三", "gender": "1", "birthDate": "1981-01-01", "address": "广东省深圳市南山区科技园路1号",
            "idNumber": "440303198101011117", "issuer": "深圳市公安局南山分局", "validFrom": "2016-05-01", "validTo": "2036-05-01",
        ]
        fields.merge(changes) { $1 }
        let body = fields.keys.sorted().map { "\"\($0)\": \"\(fields[$0]!)\"" }.joined(separator: ", ")
        return "{\"summary\": \"test\", \"nation\": 1, \(body)}"
    }

    struct Refusal: CustomStringConvertible {
        let description: String
        let id: String  // "demo" or a file
        let card: String  // a catalog name or a file
        let key: String
    }

    @Test("every identity refusal ends the activation refused, with its message key, nothing journaled and nothing unmasked")
    func everyRefusal() async throws {
        let daemon = try await MockDaemon()
        let fixtures = "\(fixturesDirectory)/"
        let otherHolder = try daemon.write(
            "other-holder.json",
            #"{"summary": "bank account of someone else", "citizenId": "440303198101011117", "name": "张三", "birthDate": "1981-01-01", "bank": {"holderId": "11010819750612008X"}}"#)
        let shortPAN = try daemon.write(
            "short-pan.json",
            #"{"summary": "a 12-digit card number", "citizenId": "440303198101011117", "name": "张三", "birthDate": "1981-01-01", "bank": {"pan": "622823002900"}}"#)
        let cases = [
            Refusal(description: "different person", id: fixtures + "idcard/resident-x-longterm.json", card: "ssc-demo", key: "check.differentPerson"),
            Refusal(description: "same number, other name", id: try daemon.write("name.json", Self.idCard(["name": "张四"])), card: "ssc-demo", key: "check.nameMismatch"),
            Refusal(description: "ID card expired", id: try daemon.write("expired.json", Self.idCard(["validFrom": "2000-01-01", "validTo": "2020-01-01"])), card: "ssc-demo", key: "check.idCardExpired"),
            Refusal(description: "a foreigner's card with a resident's social security card", id: fixtures + "idcard/foreign-2017.json", card: "ssc-demo", key: "check.differentPerson"),
            Refusal(
                description: "a foreign card whose English name the bank application holds cut short",
                id: fixtures + "idcard/foreign-2023-english.json", card: fixtures + "ssc/foreign-2023-english.json", key: "check.documentNeedsStaff"),
            Refusal(description: "social security card expired", id: "demo", card: fixtures + "ssc/expired.json", key: "check.sscExpired"),
            Refusal(description: "social security card locked", id: "demo", card: fixtures + "ssc/card-locked.json", key: "card.ssc.cardLocked"),
            Refusal(description: "no bank application", id: "demo", card: fixtures + "ssc/no-bank.json", key: "check.noBankApplication"),
            Refusal(description: "bank account of another holder", id: "demo", card: otherHolder, key: "check.bankHolderMismatch"),
            Refusal(description: "a card number too short for a PIN block", id: "demo", card: shortPAN, key: "check.cardNumberUnusable"),
        ]
        for (index, refusal) in cases.enumerated() {
            let screen = try Screen.start(daemon, requestId: index + 1)
            #expect(await screen.stage("waitingForCards"), "\(refusal)")
            #expect(await daemon.sim("id place \(refusal.id)") == "ok")
            #expect(await daemon.sim("card insert \(refusal.card)") == "ok")
            let notice = await screen.event("Activation.NoticeEvent")
            #expect(notice?.payload["message"]?["key"]?.string == refusal.key, "\(refusal): \(notice.map { "\($0.payload)" } ?? "no notice")")
            #expect(notice?.payload["message"]?["zhHans"]?.string?.isEmpty == false && notice?.payload["message"]?["en"]?.string?.isEmpty == false)
            #expect(await screen.stage("takeCards"), "\(refusal)")
            await daemon.sim("card remove")
            await daemon.sim("id remove")
            let completion = await screen.completion()
            #expect(completion?.header.completionCode == .commandErrorCode, "\(refusal)")
            #expect(completion?.payload["end"]?.string == "refused" && completion?.payload["errorCode"]?.string == "refused", "\(refusal)")
            for number in ["440303198101011117", "11010819750612008X", "6228230029000005274", "622823002900"] {
                #expect(!screen.transcript.contains(number), "\(refusal): \(number) went to the screen unmasked")
            }
            screen.client.disconnect()
        }
        let operatorClient = try TestClient(path: daemon.socket)
        operatorClient.send("Journal.Recent", 1)
        let recent = await operatorClient.completion(1)
        #expect(recent?.payload["activations"]?.array?.count == 0, "a refusal before the bank call journals no activation")
        operatorClient.disconnect()
        // The operator log names every refusal, masked.
        let log = daemon.log
        #expect(log.contains("differentPerson") && log.contains("bankHolderMismatch") && log.contains("cardNumberUnusable"), "\(log.suffix(2000))")
        for number in ["440303198101011117", "11010819750612008X", "6228230029000005274", "622823002900"] { #expect(!log.contains(number), "\(number) in kioskd's log") }
        #expect(await daemon.stop() == 0)
    }

    @Test("HK/Macao/Taiwan residence permits and foreign permanent residence cards (2017, 2023) activate; the details name the document")
    func otherDocuments() async throws {
        let daemon = try await MockDaemon()
        let fixtures = "\(fixturesDirectory)/"
        let documents = [
            ("hmt-permit", "hmtResidencePermit", "810000199501010023"), ("foreign-2017", "foreignPermanentResident2017", "USA310080101001"),
            ("foreign-2023", "foreignPermanentResident2023", "931156198002020017"), ("foreign-2017-english", "foreignPermanentResident2017", "GBR440085031502"),
        ]
        for (index, (name, type, number)) in documents.enumerated() {
            let screen = try Screen.start(daemon, requestId: 10 * index + 1)
            #expect(await screen.stage("waitingForCards"))
            #expect(await daemon.sim("id place \(fixtures)idcard/\(name).json") == "ok")
            #expect(await daemon.sim("card insert \(fixtures)ssc/\(name).json") == "ok")
            let details = await screen.event("Activation.DetailsEvent")
            #expect(details?.payload["documentType"]?.string == type, "\(name): \(details.map { "\($0.payload)" } ?? "no details")")
            #expect(details?.payload["document"]?["key"]?.string == "document.\(type)")
            #expect(details?.payload["document"]?["zhHans"]?.string?.isEmpty == false && details?.payload["document"]?["en"]?.string?.isEmpty == false)
            #expect(details?.payload["idNumber"]?.string == Masking.citizenID(number))
            #expect(await screen.confirmAndTypePIN(daemon, confirmRequest: 10 * index + 2))
            let result = await screen.event("Activation.ResultEvent")
            #expect(result?.payload["state"]?.string == "approved", "\(name): \(result.map { "\($0.payload)" } ?? "no result")")
            #expect(result?.payload["test"]?.bool == true, "--mock is test mode: every result says so")
            await daemon.sim("card remove")
            await daemon.sim("id remove")
            #expect(await screen.completion()?.header.completionCode == .success, "\(name)")
            #expect(!screen.transcript.contains(number), "\(name): the document number went to the screen unmasked")
            screen.client.disconnect()
        }
        #expect(!daemon.log.contains("931156198002020017") && !daemon.log.contains("USA310080101001"))
        #expect(await daemon.stop() == 0)
    }

    @Test("the identity verifier's refusal, the customer's reject, differing PINs and the bank's weak-PIN refusal")
    func verifierRejectAndPINRefusals() async throws {
        let rejecting = try await MockDaemon(arguments: ["--identity-verifier", "simulated-reject"])
        let refused = try Screen.start(rejecting)
        #expect(await refused.stage("waitingForCards"))
        await rejecting.sim("id place demo")
        await rejecting.sim("card insert ssc-demo")
        #expect(await refused.event("Activation.NoticeEvent")?.payload["message"]?["key"]?.string == "check.identityNotVerified")
        await rejecting.sim("card remove")
        #expect(await refused.completion()?.payload["end"]?.string == "refused")
        refused.client.disconnect()
        #expect(await rejecting.stop() == 0)

        let daemon = try await MockDaemon()
        // The customer rejects the details shown: cancelled, nothing sent.
        let rejected = try Screen.start(daemon)
        #expect(await rejected.stage("waitingForCards"))
        await daemon.sim("id place demo")
        await daemon.sim("card insert ssc-demo")
        #expect(await rejected.event("Activation.DetailsEvent") != nil)
        rejected.send("Activation.Reject", 2)
        #expect(await rejected.client.completion(2)?.header.completionCode == .success)
        await daemon.sim("card remove")
        await daemon.sim("id remove")
        let end = await rejected.completion()
        #expect(end?.header.completionCode == .canceled && end?.payload["end"]?.string == "cancelled", "\(end.map { "\($0)" } ?? "no completion")")
        rejected.client.disconnect()

        // PINs that differ, then a weak PIN the bank refuses: both go back to entry; then the activation succeeds.
        let screen = try Screen.start(daemon, requestId: 5)
        #expect(await screen.stage("waitingForCards"))
        await daemon.sim("id place demo")
        await daemon.sim("card insert ssc-demo")
        #expect(await screen.event("Activation.DetailsEvent") != nil)
        screen.send("Activation.Confirm", 6)
        #expect(await daemon.typePIN("802461"))
        #expect(await screen.stage("confirmingPIN"))
        #expect(await daemon.typePIN("802462"))
        let differ = await screen.event("Activation.NoticeEvent")
        #expect(differ?.payload["message"]?["key"]?.string == "flow.pinMismatch", "\(differ.map { "\($0.payload)" } ?? "no notice")")
        #expect(await daemon.typePIN("111111"))
        try await Task.sleep(for: .milliseconds(200))
        #expect(await daemon.typePIN("111111"))
        let weak = await screen.event("Activation.NoticeEvent") { $0["message"]?["key"]?.string != differ?.payload["message"]?["key"]?.string }
        #expect(weak?.payload["message"]?["key"]?.string == "bank.declined.weakPIN", "\(weak.map { "\($0.payload)" } ?? "no weak-PIN notice")")
        #expect(await daemon.typePIN("802461"))
        try await Task.sleep(for: .milliseconds(200))
        #expect(await daemon.typePIN("802461"))
        let result = await screen.event("Activation.ResultEvent")
        #expect(result?.payload["state"]?.string == "approved")
        await daemon.sim("card remove")
        #expect(await screen.completion()?.header.completionCode == .success)
        #expect(!screen.transcript.contains("802461") && !screen.transcript.contains("111111"))
        screen.client.disconnect()
        #expect(await daemon.stop() == 0)
    }

    @Test("cancel and card removal before the bank call send nothing; a screen that disconnects mid-flow frees the kiosk for the next")
    func cancelRemovalDisconnect() async throws {
        let daemon = try await MockDaemon()
        let watcher = try TestClient(path: daemon.socket)
        watcher.send("Common.Status", 1)
        #expect(await watcher.completion(1)?.payload["mode"]?.string == "test", "--mock is test mode")

        // Cancel during PIN entry.
        let cancelled = try Screen.start(daemon)
        #expect(await cancelled.presentDemoCards(daemon))
        cancelled.send("Activation.Confirm", 2)
        #expect(await cancelled.stage("enteringPIN"))
        cancelled.client.send("Common.Cancel", 3, payload: ["requestIds": [1]])
        #expect(await cancelled.client.completion(3)?.header.completionCode == .success)
        #expect(await cancelled.stage("takeCards"))
        await daemon.sim("card remove")
        await daemon.sim("id remove")
        let cancelEnd = await cancelled.completion()
        #expect(cancelEnd?.header.completionCode == .canceled && cancelEnd?.payload["end"]?.string == "cancelled")
        cancelled.client.disconnect()

        // The card pulled out during PIN entry.
        let removed = try Screen.start(daemon, requestId: 10)
        #expect(await removed.presentDemoCards(daemon))
        removed.send("Activation.Confirm", 11)
        #expect(await removed.stage("enteringPIN"))
        #expect(await daemon.sim("card remove") == "ok")
        await daemon.sim("id remove")
        let removedEnd = await removed.completion()
        #expect(removedEnd?.header.completionCode == .commandErrorCode && removedEnd?.payload["end"]?.string == "cardRemoved")
        #expect(removedEnd?.payload["message"]?["key"]?.string == "flow.cardRemoved")
        removed.client.disconnect()

        // The screen goes away while the details are shown: the activation is cancelled, the kiosk is free.
        let vanishing = try Screen.start(daemon, requestId: 20)
        #expect(await vanishing.presentDemoCards(daemon))
        vanishing.client.disconnect()
        await daemon.sim("id remove")
        #expect(
            await watcher.wait { $0.header.name == "Activation.StateChangedEvent" && $0.payload["stage"]?.string == "ended" && $0.payload["end"]?.string == "cancelled" }
                != nil, "the other connection hears the activation end")
        await daemon.sim("card remove")
        var idle = false
        for attempt in 100..<200 where !idle {
            watcher.send("Common.Status", attempt)
            idle = await watcher.completion(attempt)?.payload["activation"]?.string == "idle"
            if !idle { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(idle)

        // Nothing of the three reached the bank; the next customer activates.
        watcher.send("Journal.Recent", 300)
        #expect(await watcher.completion(300)?.payload["activations"]?.array?.count == 0)
        let next = try Screen.start(daemon, requestId: 30)
        #expect(await next.activateApproved(daemon, confirmRequest: 31))
        await daemon.sim("id remove")
        #expect(await next.completion()?.header.completionCode == .success)
        // The watcher saw the stages of the other connection's activation, without any personal data.
        let stages = watcher.messages.filter { $0.header.name == "Activation.StateChangedEvent" }
        #expect(stages.contains { $0.payload["stage"]?.string == "processing" })
        #expect(
            stages.allSatisfy {
                guard case .object(let payload) = $0.payload else { return false }
                return Set(payload.keys).isSubset(of: ["stage", "end"])
            })
        try await checkAgainstSchemas(watcher.messages + next.client.messages)
        next.client.disconnect()
        watcher.disconnect()
        #expect(await daemon.stop() == 0)
    }

    /// One round of abuse: oversized, deep, invalid UTF-8, garbage, unknown name and version, a flood, a
    /// 1-byte dribbler and 1,000 connection attempts. Returns the abusive clients (still open).
    ///
    /// `watcher` (a connection of the test's own) first waits until kioskd has let go of the previous round's
    /// connections: the storm of 1,000 ends the round, and kioskd is still closing them when `abuse` returns.
    /// A round begun then found kioskd at its connection limit and the rude client refused with "too many
    /// connections" (1 soak run in 10).
    static func abuse(_ daemon: MockDaemon, watcher: TestClient) async throws -> [TestClient] {
        #expect(await Self.connections(of: daemon, seenBy: watcher, become: 1), "kioskd still holds the last round's connections")
        // Admitted first: the last round's storm may still sit in the listen backlog, where kioskd's count
        // cannot see it, and a client accepted behind it can meet the connection limit (1 soak run in 3).
        let rude = try await Self.admittedClient(daemon)
        rude.sendRaw(Array(repeating: UInt8(ascii: "a"), count: 70_000) + [0x0A])
        rude.sendRaw(Array(("{\"header\":{\"name\":\"Common.Status\",\"requestId\":1,\"type\":\"command\",\"version\":\"1.0\"},\"payload\":" + String(repeating: "[", count: 200) + String(repeating: "]", count: 200) + "}\n").utf8))
        rude.sendRaw([0xFF, 0xFE, 0xC3, 0x28, 0x0A])
        rude.sendRaw(Array("}{ not json at all\n\u{0}\u{1}\n".utf8))
        rude.send("Common.Nonsense", 2)
        rude.sendRaw(Array(#"{"header":{"name":"Common.Status","requestId":3,"type":"command","version":"9.9"},"payload":{}}"#.utf8) + [0x0A])
        let flood = try await Self.admittedClient(daemon)
        for id in 1...200 { flood.send("Common.Status", id) }
        let slow = try TestClient(path: daemon.socket)
        let dribble = Task {
            for byte in Array(#"{"header":{"name":"Common.Status""#.utf8).prefix(20) {
                slow.sendRaw([byte])
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
        let socket = daemon.socket
        let opened = try await onOwnThread { () -> Int in
            var opened = 0
            for _ in 0..<1000 {
                if let fd = try? UnixSocket.connect(socket) {
                    opened += 1
                    close(fd)
                }
            }
            return opened
        }
        #expect(opened > 0)
        #expect(
            await rude.wait { $0.header.status != nil && $0.payload["errorDescription"]?.string?.contains("longer than") == true } != nil,
            "the rude client got \(rude.messages.prefix(3).map { "\($0.header.name) \($0.header.status ?? "-") \($0.payload)" })")
        #expect(await rude.wait { $0.header.requestId == 3 && $0.header.status != nil } != nil, "the unknown version is refused with a typed status")
        #expect(await flood.wait { $0.header.status == "tooManyRequests" } != nil)
        await dribble.value
        return [rude, flood, slow]
    }

    /// Asks `watcher`'s `Common.Status` until kioskd counts `count` connections (within 5 s). Five a second at
    /// most: the legitimate screen's own ten a second must stay under the connection's rate of 20.
    static func connections(of daemon: MockDaemon, seenBy watcher: TestClient, become count: Int) async -> Bool {
        for attempt in 1...25 {
            let requestId = Self.statusRequests.add(1, ordering: .relaxed).newValue
            watcher.send("Common.Status", requestId)
            if await watcher.completion(requestId)?.payload["connections"]?.int == count { return true }
            if attempt < 25 { try? await Task.sleep(for: .milliseconds(200)) }
        }
        return false
    }
    static let statusRequests = Atomic<Int>(500_000)

    /// A connection kioskd has admitted (its status request answered); one refused at the connection limit
    /// is closed and tried again, for up to 10 s.
    static func admittedClient(_ daemon: MockDaemon) async throws -> TestClient {
        for _ in 0..<50 {
            let client = try TestClient(path: daemon.socket)
            let requestId = Self.statusRequests.add(1, ordering: .relaxed).newValue
            client.send("Common.Status", requestId)
            if await client.completion(requestId, timeout: .seconds(2)) != nil { return client }
            client.disconnect()
            try await Task.sleep(for: .milliseconds(200))
        }
        throw NotAdmitted()
    }

    struct NotAdmitted: Error, CustomStringConvertible {
        var description: String { "kioskd did not admit a connection within 50 tries (10 s)" }
    }

    @Test("protocol abuse against kioskd: a legitimate screen is served throughout, a stranger's uid is refused, connections and memory return to baseline")
    func abuseAndMemory() async throws {
        let root = getuid() == 0
        // As root the socket belongs to group nogroup (65534), so a stranger (uid 65534) can open it and is
        // turned away by SO_PEERCRED alone.
        let daemon = try await MockDaemon(arguments: ["--allow-uid", "\(getuid())"] + (root ? ["--socket-group", "65534"] : []))
        let legit = try TestClient(path: daemon.socket)
        // Warm up: one whole activation and three rounds of abuse, then the baseline. (kioskd's RSS takes one
        // step of 1–3 MiB within the first rounds and is flat after it: ten rounds were measured flat. With
        // one warm-up round that step fell inside the measured rounds and read as growth.)
        let warm = try Screen.start(daemon, requestId: 1_000_000)
        #expect(await warm.activateApproved(daemon, confirmRequest: 1_000_001))
        await daemon.sim("id remove")
        #expect(await warm.completion()?.header.completionCode == .success)
        warm.client.disconnect()
        for _ in 0..<3 {
            for client in try await Self.abuse(daemon, watcher: legit) { client.disconnect() }
        }
        try await Task.sleep(for: .seconds(1))
        let baseline = daemon.privateKiB
        let baselineRSS = daemon.residentKiB
        let baselineDescriptors = daemon.openDescriptors

        // The legitimate screen asks for status every 100 ms throughout. Stopped by a flag, not by cancelling
        // the task: a cancelled wait ends at once, and the request in flight would count as unanswered.
        let stopAsking = Mutex(false)
        let served = Task { () -> (asked: Int, answered: Int, slowest: Duration) in
            var asked = 0
            var answered = 0
            var slowest = Duration.zero
            let clock = ContinuousClock()
            while !stopAsking.withLock({ $0 }) {
                asked += 1
                let start = clock.now
                legit.send("Common.Status", asked)
                if await legit.completion(asked, timeout: .seconds(5)) != nil { answered += 1 }
                slowest = max(slowest, clock.now - start)
                try? await Task.sleep(for: .milliseconds(100))
            }
            return (asked, answered, slowest)
        }
        if root {
            let stranger = try await runProcess(
                "/usr/bin/setpriv",
                ["--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c",
                 "import socket,sys\ns=socket.socket(socket.AF_UNIX)\ns.connect(sys.argv[1])\ns.settimeout(5)\ntry:\n  s.sendall(b'{\"header\":{\"name\":\"Common.Status\",\"requestId\":1,\"type\":\"command\",\"version\":\"1.0\"},\"payload\":{}}\\n')\n  data=s.recv(65536)\nexcept (BrokenPipeError, ConnectionResetError):\n  data=b''\nprint('got', len(data))",
                 daemon.socket])
            #expect(stranger.status == 0 && stranger.output.contains("got 0"), "connected as uid 65534: \(stranger.output) \(stranger.error)")
        }
        var rounds: [Int] = []
        for _ in 0..<4 {
            for client in try await Self.abuse(daemon, watcher: legit) { client.disconnect() }
            // Measured once the daemon has closed the round's connections (its descriptors are back).
            #expect(await daemon.waitForDescriptors(atMost: baselineDescriptors), "kioskd holds \(daemon.openDescriptors) descriptors, \(baselineDescriptors) before")
            try await Task.sleep(for: .milliseconds(500))
            rounds.append(daemon.privateKiB)
        }
        stopAsking.withLock { $0 = true }
        let service = await served.value
        // Connections return to the legitimate one.
        var connections = -1
        for attempt in 1...100 where connections != 1 {
            legit.send("Common.Status", 10_000 + attempt)
            connections = await legit.completion(10_000 + attempt)?.payload["connections"]?.int ?? -1
            if connections != 1 { try await Task.sleep(for: .milliseconds(50)) }
        }
        try await Task.sleep(for: .seconds(1))
        let after = daemon.privateKiB
        print(
            "kioskd under abuse: private memory baseline \(baseline) KiB, after rounds \(rounds) KiB, settled \(after) KiB (RSS \(baselineRSS) → \(daemon.residentKiB) KiB); status \(service.answered)/\(service.asked) answered, slowest \(service.slowest)")
        #expect(service.answered == service.asked && service.asked > 10)
        #expect(service.slowest < .seconds(2))
        #expect(connections == 1)
        #expect(baseline > 0 && after > 0)
        // Memory returns to its baseline: no more than 4 MiB above it after four rounds.
        #expect(after - baseline <= 4096, "private memory grew from \(baseline) KiB to \(after) KiB")
        // A leak grows every round; the allocator's steps (a new arena or heap top, 1–3 MiB) come once. So at
        // most one of the three steps between the four rounds may exceed 512 KiB (a leak of half a KiB per
        // connection of the storm would show in all three), and the rounds' whole span stays within 4 MiB.
        let steps = zip(rounds.dropFirst(), rounds).map { $0 - $1 }
        #expect(steps.filter { $0 > 512 }.count <= 1, "private memory grew round after round: \(rounds)")
        #expect(rounds[3] - rounds[0] <= 4096, "private memory grew by round: \(rounds)")
        legit.send("Common.Status", 99_999)
        #expect(await legit.completion(99_999)?.header.completionCode == .success)
        legit.disconnect()
        #expect(await daemon.stop() == 0)
    }

    @Test("a card in manual reconciliation is refused with its own message; an operator settles it with kioskctl journal settle, audited; a stranger may not")
    func manualReconciliation() async throws {
        let root = getuid() == 0
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("manual-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/journal.sqlite"
        do {
            // An earlier activation of the demo card whose answer was lost at a bank with neither inquiry nor reversal.
            let journal = try Journal(path: path)
            try await journal.begin(
                key: "manual-demo-0001", pan: "6228230029000005274", maskedPAN: "622823*********5274", idNumber: "440303198101011117",
                maskedID: "440***********1117", gateway: "a bank without inquiry or reversal")
            try await journal.record("manual-demo-0001", state: .manual, detail: "the bank offers no inquiry and no reversal: reconcile by hand")
        }
        let daemon = try await MockDaemon(arguments: ["--journal", path] + (root ? ["--socket-group", "65534"] : []))
        let screen = try Screen.start(daemon)
        #expect(await screen.presentDemoCards(daemon))
        #expect(await screen.confirmAndTypePIN(daemon, confirmRequest: 2))
        let notice = await screen.event("Activation.NoticeEvent") { $0["message"]?["key"]?.string == "activation.needsStaff" }
        #expect(notice != nil, "\(screen.client.messages.map { "\($0.header.name) \($0.payload)" })")
        await daemon.sim("card remove")
        await daemon.sim("id remove")
        #expect(await screen.completion()?.payload["end"]?.string == "refused")
        screen.client.disconnect()

        if root {
            // A peer that is not an operator (uid 65534) may connect (the socket's group) but not settle.
            let stranger = try await runProcess(
                "/usr/bin/setpriv",
                ["--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c",
                 "import socket,sys\ns=socket.socket(socket.AF_UNIX)\ns.connect(sys.argv[1])\ns.settimeout(5)\ns.sendall(b'{\"header\":{\"name\":\"Journal.Settle\",\"requestId\":1,\"type\":\"command\",\"version\":\"1.0\"},\"payload\":{\"key\":\"manual-demo-0001\",\"applied\":false,\"operator\":\"x\"}}\\n')\ndata=b''\nwhile b'completion' not in data:\n  chunk=s.recv(65536)\n  if not chunk: break\n  data+=chunk\nprint(data.decode())",
                 daemon.socket])
            #expect(stranger.output.contains("notAnOperator") && stranger.output.contains("uid 65534"), "\(stranger.output) \(stranger.error)")
        }
        let bad = try await runProduct("kioskctl", ["journal", "settle", "manual-demo-0001", "--operator", "Li Wei", "--socket", daemon.socket])
        #expect(bad.status != 0 && bad.error.contains("exactly one of --applied and --not-applied"), "\(bad.error)")
        let settled = try await runProduct(
            "kioskctl", ["journal", "settle", "manual-demo-0001", "--not-applied", "--operator", "Li Wei", "--note", "bank hotline: not found", "--socket", daemon.socket])
        #expect(settled.status == 0 && settled.output.contains("manual-demo-0001 settled: notApplied"), "\(settled.output) \(settled.error)")
        let again = try await runProduct("kioskctl", ["journal", "settle", "manual-demo-0001", "--applied", "--operator", "Li Wei", "--socket", daemon.socket])
        #expect(again.status == 3 && again.output.contains("not manual"), "\(again.output)")
        let list = try await runProduct("kioskctl", ["journal", "--socket", daemon.socket])
        #expect(list.status == 0 && list.output.contains("notApplied") && list.output.contains("manual-demo-0001"), "\(list.output)")
        let verify = try await runProduct("kioskctl", ["journal", "--verify", "--socket", daemon.socket])
        #expect(verify.status == 0 && verify.output.contains("intact"), "\(verify.output)")

        // The card may start again.
        let next = try Screen.start(daemon, requestId: 10)
        #expect(await next.activateApproved(daemon, confirmRequest: 11))
        await daemon.sim("id remove")
        #expect(await next.completion()?.payload["end"]?.string == "completed")
        next.client.disconnect()
        #expect(await daemon.stop() == 0)
    }

    @Test("kioskctl readers and watch speak the protocol: roles and ATRs from kioskd; card, reader and activation events as they happen")
    func kioskctlReadersAndWatch() async throws {
        let daemon = try await MockDaemon()
        let readers = try await runProduct("kioskctl", ["readers", "--socket", daemon.socket])
        #expect(readers.status == 0, "\(readers.error)")
        #expect(readers.output.contains("Mock Reader 00 00  empty  [social security card]"), "\(readers.output)")
        #expect(readers.output.contains("[PSAM]") && readers.output.contains("ATR 3B"))
        let json = try await runProduct("kioskctl", ["readers", "--socket", daemon.socket, "--json"])
        let list = try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [[String: Any]]
        #expect(list?.count == 2 && list?.first?["role"] as? String == "socialSecurityCard" && list?.first?["cardPresent"] as? Bool == false)

        let watch = Process()
        watch.executableURL = URL(fileURLWithPath: productPath("kioskctl"))
        watch.arguments = ["watch", "--socket", daemon.socket]
        let output = Pipe()
        watch.standardOutput = output
        try watch.run()
        let jsonWatch = Process()
        jsonWatch.executableURL = URL(fileURLWithPath: productPath("kioskctl"))
        jsonWatch.arguments = ["watch", "--socket", daemon.socket, "--json"]
        let jsonOutput = Pipe()
        jsonWatch.standardOutput = jsonOutput
        try jsonWatch.run()
        try await Task.sleep(for: .milliseconds(500))
        let activation = try await runProduct("kioskctl", ["activate", "--socket", daemon.socket, "--simulate-customer", daemon.control, "--pin-pad-control", daemon.pinControl, "--card", "ssc-demo"])
        #expect(activation.status == 0, "\(activation.output) \(activation.error)")
        try await Task.sleep(for: .milliseconds(500))
        watch.terminate()
        jsonWatch.terminate()
        let text = try await onOwnThread { String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) }
        let lines = try await onOwnThread { String(decoding: jsonOutput.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) }
        #expect(text.contains("watching kioskd"))
        #expect(text.contains("mediaPresent  reader \"Mock Reader 00 00\""), "\(text)")
        #expect(text.contains("activation: processing") && text.contains("activation ended: completed"), "\(text)")
        #expect(!text.contains("440303198101011117") && !text.contains("6228230029000005274"))
        let messages = lines.split(separator: "\n").compactMap { try? KioskProtocol.decode(Array($0.utf8)) }
        #expect(messages.count >= 8 && messages.allSatisfy { $0.header.type == .unsolicited }, "\(lines)")
        try await checkAgainstSchemas(messages)
        #expect(await daemon.stop() == 0)
    }

    /// `bank` over HTTP on loopback, signing with the fixture keys that ``simulatedHTTPBankProfile`` names.
    static func fixtureKeyedServer(_ bank: SimulatedBank) throws -> SimulatedBankServer {
        let keys = "\(fixturesDirectory)/bank/keys/"
        return SimulatedBankServer(
            bank: bank,
            configuration: .init(
                signer: try RSASigner(pem: String(contentsOfFile: keys + "bank.key", encoding: .utf8)),
                terminalVerifier: try RSAVerifier(pem: String(contentsOfFile: keys + "terminal.pub", encoding: .utf8))))
    }

    @Test("50 unsettled activations and a slow bank: kioskd is ready at once, the background resolver settles all 50 later, each once")
    func backgroundResolver() async throws {
        var fixture = SimulatedBank.Fixture()
        fixture.processingMilliseconds = 150
        let bank = SimulatedBank(fixture: fixture)
        let server = try Self.fixtureKeyedServer(bank)
        let port = try await server.start()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("resolver-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let profilePath = directory + "/bank.json"
        try simulatedHTTPBankProfile(port: Int(port), responseMilliseconds: 3000).write(toFile: profilePath, atomically: true, encoding: .utf8)
        let configPath = directory + "/kioskd.yaml"
        try "resolver:\n  intervalSeconds: 1\n  perRound: 20\n  concurrency: 4\n".write(toFile: configPath, atomically: true, encoding: .utf8)

        // 50 activations a crash left unknown: the even ones reached the bank and were applied, the odd ones never did.
        let journalPath = directory + "/journal.sqlite"
        let direct = try SimulatorGateway(profile: SimulatorGateway.profile(), bank: bank)
        var applied: Set<String> = []
        do {
            let journal = try Journal(path: journalPath)
            for index in 0..<50 {
                let key = String(format: "orphan-%04d", index)
                let pan = String(format: "62282300290%08d", index)
                try await journal.begin(key: key, pan: pan, maskedPAN: Masking.pan(pan), idNumber: "440303198101011117", maskedID: "440***********1117", gateway: "http-json")
                try await journal.record(key, state: .unknown, detail: "the daemon stopped before the answer")
                if index % 2 == 0 {
                    let outcome = await direct.activate(try request(pan: pan, key: IdempotencyKey(key)!))
                    guard case .approved = outcome else { throw CocoaError(.featureUnsupported, userInfo: [NSLocalizedDescriptionKey: "\(key): \(outcome)"]) }
                    applied.insert(key)
                }
            }
        }
        let clock = ContinuousClock()
        let started = clock.now
        let daemon = try await MockDaemon(arguments: ["--bank-profile", profilePath, "--journal", journalPath, "--config", configPath])
        let ready = clock.now - started
        // Sequential, before serving, the old start-up resolver took 50 × (inquiry + reversal) ≈ 15 s here.
        #expect(ready < .seconds(5), "kioskd served its socket \(ready) after start")

        let watcher = try TestClient(path: daemon.socket)
        var states: [String: String] = [:]
        var request = 0
        let deadline = clock.now.advanced(by: .seconds(60))
        while clock.now < deadline {
            request += 1
            watcher.send("Journal.Recent", request, payload: ["limit": 100])
            let rows = await watcher.completion(request)?.payload["activations"]?.array ?? []
            states = Dictionary(rows.compactMap { row in row["key"]?.string.map { ($0, row["state"]?.string ?? "") } }, uniquingKeysWith: { $1 })
            if states.count == 50 && states.values.allSatisfy({ $0 == "approved" || $0 == "notApplied" }) { break }
            try await Task.sleep(for: .milliseconds(500))
        }
        watcher.disconnect()
        #expect(await daemon.stop() == 0)
        #expect(states.count == 50)
        for (key, state) in states {
            #expect(state == (applied.contains(key) ? "approved" : "notApplied"), "\(key): \(state)")
        }
        // Each settled once: one final transition in its audit trail; at the bank, never applied twice.
        let journal = try Journal(path: journalPath)
        for index in 0..<50 {
            let key = String(format: "orphan-%04d", index)
            let finals = try await journal.audit(for: key).filter { $0.detail.contains("→ approved") || $0.detail.contains("→ notApplied") }
            #expect(finals.count == 1, "\(key) settled \(finals.count) times: \(finals.map(\.detail))")
        }
        #expect(await bank.ledger().allSatisfy { $0.effects <= 1 })
        #expect(await bank.ledger().filter { $0.effects == 1 }.count == 25)
        await server.stop()
    }

    @Test("SIGTERM while the request is with the bank: kioskd waits for the answer, journals and shows it, then exits 0; the journal stays consistent")
    func sigtermDuringTheBankCall() async throws {
        var fixture = SimulatedBank.Fixture()
        fixture.processingMilliseconds = 2500
        let bank = SimulatedBank(fixture: fixture)
        let server = try Self.fixtureKeyedServer(bank)
        let port = try await server.start()
        let profilePath = FileManager.default.temporaryDirectory.appendingPathComponent("bank-\(UUID().uuidString.prefix(8)).json").path
        try simulatedHTTPBankProfile(port: Int(port), responseMilliseconds: 10000).write(toFile: profilePath, atomically: true, encoding: .utf8)
        defer { unlink(profilePath) }

        let daemon = try await MockDaemon(arguments: ["--bank-profile", profilePath])
        let screen = try Screen.start(daemon)
        #expect(await screen.presentDemoCards(daemon))
        #expect(await screen.confirmAndTypePIN(daemon, confirmRequest: 2))
        #expect(await screen.stage("processing"))
        try await Task.sleep(for: .milliseconds(300))
        kill(daemon.process.processIdentifier, SIGTERM)
        // The answer comes ~2.2 s later; the screen still sees it before its connection closes.
        #expect(await screen.client.wait { $0.header.type == .unsolicited && $0.payload["event"]?.string == "daemonStopping" } != nil)
        let result = await screen.event("Activation.ResultEvent", timeout: .seconds(15))
        #expect(result?.payload["state"]?.string == "approved", "\(screen.client.messages.map(\.header.name))")
        #expect(await waitUntil(timeout: .seconds(15)) { !daemon.process.isRunning })
        #expect(!daemon.process.isRunning && daemon.process.terminationStatus == 0)
        screen.client.disconnect()

        // Started again on the same journal: the activation is approved, once, and the audit chain is intact.
        let journal = daemon.directory + "/journal.sqlite"
        let again = try await MockDaemon(arguments: ["--bank-profile", profilePath, "--journal", journal])
        let operatorClient = try TestClient(path: again.socket)
        operatorClient.send("Journal.Recent", 1)
        let recent = await operatorClient.completion(1)?.payload["activations"]?.array ?? []
        #expect(recent.count == 1 && recent.first?["state"]?.string == "approved", "\(recent)")
        operatorClient.send("Journal.Verify", 2)
        #expect(await operatorClient.completion(2)?.payload["intact"]?.bool == true)
        let ledger = await bank.ledger()
        #expect(ledger.count == 1 && ledger.first?.effects == 1)
        operatorClient.disconnect()
        #expect(await again.stop() == 0)
        try? FileManager.default.removeItem(atPath: daemon.directory)
        await server.stop()
    }

    /// One HTTP/1.1 request over TCP to 127.0.0.1:`port`; the whole answer (the server closes).
    static func http(port: Int, _ request: String) throws -> String {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard connected == 0 else { throw CocoaError(.fileReadNoPermission) }
        UnixSocket.writeAll(fd, Array(request.utf8))
        shutdown(fd, Int32(SHUT_WR))  // the request is all there is; a garbage one ends at EOF, not the idle timeout
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = read(fd, &buffer, buffer.count)
            if count <= 0 { break }
            answer += buffer[0..<count]
        }
        return String(decoding: answer, as: UTF8.self)
    }

    @Test("the simulated devices' control socket: 0600 when it appears, kioskd's own user only (SO_PEERCRED), a silent client holds up no one")
    func simulatorControlSocket() async throws {
        let daemon = try await MockDaemon()
        var status = stat()
        #expect(stat(daemon.control, &status) == 0 && status.st_mode & 0o777 == 0o600, "mode \(String(status.st_mode & 0o777, radix: 8))")
        #expect(!((try? FileManager.default.contentsOfDirectory(atPath: daemon.directory)) ?? []).contains { $0.hasPrefix(".bind-") }, "the staging directory is gone")
        // A client that connects and says nothing: the next ones are still answered.
        let silent = try UnixSocket.connect(daemon.control)
        defer { close(silent) }
        #expect(await daemon.sim("stats").hasPrefix("ok apdus="))
        #expect(await daemon.sim("id remove") == "ok")
        // Another user, even when the socket's mode lets it connect, is refused by its credentials: the
        // refusal comes unasked and the connection closes (the client only reads; a write could meet the close).
        if getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") {
            chmod(daemon.control, 0o666)
            let script = "import socket; s = socket.socket(socket.AF_UNIX); s.connect('\(daemon.control)'); print(s.recv(200).decode().strip())"
            let other = try await runProcess("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c", script])
            #expect(other.output.hasPrefix("error not allowed"), "uid 65534 got: \(other.output) \(other.error)")
            #expect(daemon.log.contains("refused a client of another user"))
        }
        #expect(await daemon.stop() == 0)
    }

    @Test("Prometheus' GET /metrics on loopback: the registry's text after an activation; 404 elsewhere; a non-loopback address is refused at start")
    func metricsEndpoint() async throws {
        let daemon = try await MockDaemon(arguments: ["--metrics-port", "0"])
        let port = await poll(timeout: .seconds(10)) { () -> Int? in
            guard let line = daemon.log.split(separator: "\n").first(where: { $0.contains("metrics endpoint ready") }),
                let range = line.range(of: "http://127.0.0.1:")
            else { return nil }
            return Int(line[range.upperBound...].prefix { $0.isNumber })
        }
        let metricsPort = try #require(port, "no 'metrics endpoint ready' in the log: \(daemon.log)")
        let screen = try Screen.start(daemon)
        #expect(await screen.activateApproved(daemon, confirmRequest: 2))
        #expect(await screen.completion()?.header.completionCode == .success)
        screen.client.disconnect()
        // An approved activation leaves no clear PIN, ID number or PAN in the log.
        for secret in ["802461", "440303198101011117", "6228230029000005274"] { #expect(!daemon.log.contains(secret), "\(secret) in kioskd's log") }

        let scrape = try await onOwnThread { try Self.http(port: metricsPort, "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n") }
        #expect(scrape.hasPrefix("HTTP/1.1 200 OK"), "\(scrape.prefix(200))")
        #expect(scrape.contains("Content-Type: text/plain; version=0.0.4"))
        #expect(scrape.contains(#"kiosk_activations_total{state="approved"} 1"#), "\(scrape)")
        #expect(scrape.contains(#"kiosk_card_reads_total{result="ok"}"#))
        let missing = try await onOwnThread { try Self.http(port: metricsPort, "GET /admin HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n") }
        #expect(missing.hasPrefix("HTTP/1.1 404"))
        let posted = try await onOwnThread { try Self.http(port: metricsPort, "POST /metrics HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n") }
        #expect(posted.hasPrefix("HTTP/1.1 405"))
        let garbage = try await onOwnThread { try Self.http(port: metricsPort, "\u{1}\u{2} nonsense\r\n\r\n") }
        #expect(!garbage.contains("200 OK"))
        let again = try await onOwnThread { try Self.http(port: metricsPort, "GET /metrics HTTP/1.0\r\n\r\n") }
        #expect(again.contains("kiosk_activations_total"), "the endpoint still serves after garbage")
        #expect(await daemon.stop() == 0)

        let config = FileManager.default.temporaryDirectory.appendingPathComponent("kioskd-\(UUID().uuidString.prefix(8)).yaml").path
        try "metrics:\n  address: 0.0.0.0\n  port: 9464\n".write(toFile: config, atomically: true, encoding: .utf8)
        defer { unlink(config) }
        let refused = try await runProduct("kioskd", ["--config", config, "--check-config"])
        #expect(refused.status == 78 && refused.error.contains("metrics.address"), "\(refused.error)")
        for host in ["127.0.0.1", "127.8.9.10", "::1", "localhost"] { #expect(KioskSettings.isLoopback(host), "\(host)") }
        for host in ["0.0.0.0", "10.0.0.1", "::", "::2", "128.0.0.1", "example.com", ""] { #expect(!KioskSettings.isLoopback(host), "\(host)") }
        await #expect(throws: (any Error).self) { _ = try await MetricsHTTPServer(host: "0.0.0.0", port: 0) { "" }.start() }
    }
}
