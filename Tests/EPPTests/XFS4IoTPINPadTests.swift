import Activation
import BankGateway
import EPPSimulator
import Testing
import TestSupport
import XFS4IoTClient
import XFS4IoTPINPad
import Synchronization

@Suite("The EPP over XFS4IoT: kioskd's client against the simulated EPP service, over a real WebSocket")
struct XFS4IoTPINPadTests {
    @Test("import the bank's PIN key under the EPP's master key, enter a PIN: one count per key, a block the bank opens")
    func importAndEnter() async throws {
        try await EPPRig.with { rig in
            let key = try await rig.loadKey()
            #expect(rig.pad.health.pinKey == "PIK01" && rig.pad.health.isReady)
            let events = await rig.entry(pressing: EPPRig.digits("123456"))
            #expect(events.dropLast() == (1...6).map { PINPadEvent.digits($0) })
            #expect(try EPPRig.pin(in: events.last, key: key) == "123456")
            if case .completed(let block)? = events.last { #expect(block.keyName == "PIK01" && block.format == .iso0TripleDES) }
            #expect(rig.device.served["Common.Capabilities"] == 1 && rig.device.served["Common.Status"] == 1)
        }
    }

    @Test("clear and backspace move the count; enter completes with what is left")
    func clearAndBackspace() async throws {
        try await EPPRig.with { rig in
            let key = try await rig.loadKey()
            let keys: [EPPDevice.Key] = EPPRig.digits("98") + [.clear] + EPPRig.digits("1234") + [.backspace] + EPPRig.digits("45") + [.enter]
            let events = await rig.entry(pressing: keys, minimum: 4, maximum: 12)
            #expect(events.dropLast() == [1, 2, 0, 1, 2, 3, 4, 3, 4, 5].map { PINPadEvent.digits($0) })
            #expect(try EPPRig.pin(in: events.last, key: key) == "12345")
        }
    }

    @Test("a new PIN key at each sign-on: the EPP refuses to overwrite the name, so the old key is deleted first")
    func rotationReplacing() async throws {
        try await EPPRig.with { rig in
            try await rig.loadKey("89ABCDEF0123456776543210FEDCBA98")
            let second = try await rig.loadKey("FEDCBA98765432100123456789ABCDEF")
            #expect(rig.device.served["KeyManagement.DeleteKey"] == 1)
            #expect(rig.pad.health.pinKey == "PIK01")
            #expect(try EPPRig.pin(in: await rig.entry(pressing: EPPRig.digits("654321")).last, key: second) == "654321")
        }
    }

    @Test("alternating names: each sign-on's key goes under the other name")
    func rotationAlternating() async throws {
        try await EPPRig.with(settings: EPPSettings(pinKeyNames: ["PIKA", "PIKB"], rotation: .alternate)) { rig in
            try await rig.loadKey("89ABCDEF0123456776543210FEDCBA98")
            #expect(rig.pad.health.pinKey == "PIKA")
            let second = try await rig.loadKey("FEDCBA98765432100123456789ABCDEF")
            #expect(rig.pad.health.pinKey == "PIKB")
            #expect(Set(rig.device.keyNames).isSuperset(of: ["PIKA", "PIKB"]) && rig.device.served["KeyManagement.DeleteKey"] == nil)
            if case .completed(let block)? = await rig.entry(pressing: EPPRig.digits("111222")).last { #expect(block.keyName == "PIKB") }
            try await rig.loadKey("00112233445566778899AABBCCDDEEFF")
            #expect(rig.pad.health.pinKey == "PIKA" && rig.device.served["KeyManagement.DeleteKey"] == 1, "PIKA is replaced")
            _ = second
        }
    }

    @Test("a check value that does not match stops PIN entry with an operator message; so does a refused import")
    func wrongCheckValueAndRefusedImport() async throws {
        try await EPPRig.with { rig in
            rig.device.setFaults { $0.wrongCheckValue = true }
            await #expect(throws: EPPError.self) { try await rig.loadKey() }
            #expect(rig.pad.health.pinKey == nil && !rig.pad.health.isReady)
            #expect(rig.pad.health.notReadyReason?.contains("check value") == true)
            let events = await rig.entry(pressing: EPPRig.digits("123456"))
            guard case .failed(let why)? = events.last else {
                Issue.record("expected a failure, got \(events)")
                return
            }
            #expect(why.contains("check value"))
            rig.device.setFaults { $0.wrongCheckValue = false; $0.refuseImport = true }
            do {
                try await rig.loadKey("FEDCBA98765432100123456789ABCDEF")
                Issue.record("a refused import was accepted")
            } catch let error as EPPError {
                #expect(error.reason == .refused("accessDenied"))
            }
            #expect(rig.pad.health.notReadyReason?.contains("accessDenied") == true)
        }
    }

    @Test("cancel from the screen sends Common.Cancel for the entry; the stream ends cancelled and the EPP waits for nothing")
    func cancelDuringEntry() async throws {
        try await EPPRig.with { rig in
            try await rig.loadKey()
            let events = await rig.pad.beginEntry(PINEntryRequest(pan: EPPRig.pan))
            #expect(await waitUntil(timeout: .seconds(10)) { rig.device.isEntering })
            await rig.device.press(.digit(1))
            await rig.pad.cancelEntry()
            var seen: [PINPadEvent] = []
            for await event in events { seen.append(event) }
            #expect(seen.last == .cancelled)
            #expect(rig.device.served["Common.Cancel"] == 1)
            #expect(!rig.device.isEntering)
            // And the next entry works.
            #expect(await rig.entry(pressing: EPPRig.digits("123456")).last.map { if case .completed = $0 { true } else { false } } == true)
        }
    }

    @Test("cancel on the EPP's own key ends the entry cancelled")
    func cancelKey() async throws {
        try await EPPRig.with { rig in
            try await rig.loadKey()
            #expect(await rig.entry(pressing: EPPRig.digits("12") + [.cancel]).last == .cancelled)
        }
    }

    @Test("the EPP's entryTimeout and the command's own timeout both end the entry timed out")
    func entryTimeouts() async throws {
        try await EPPRig.with { rig in
            try await rig.loadKey()
            rig.device.setFaults { $0.entryTimeoutMilliseconds = 200 }
            #expect(await rig.entry(pressing: []).last == .timedOut)
            rig.device.setFaults { $0.entryTimeoutMilliseconds = 0 }
            #expect(await rig.entry(pressing: [], timeout: .seconds(1)).last == .timedOut)
        }
    }

    @Test("an entry the device ends below the minimum is not a PIN: the dots go back to none and the EPP asks again")
    func tooShortIsAskedAgain() async throws {
        try await EPPRig.with { rig in
            let key = try await rig.loadKey()
            rig.device.setFaults { $0.acceptShortEnter = true }
            let keys: [EPPDevice.Key] = EPPRig.digits("123") + [.enter]
            let events = await rig.pad.beginEntry(PINEntryRequest(pan: EPPRig.pan))
            let presser = Task {
                _ = await waitUntil(timeout: .seconds(10)) { rig.device.isEntering }
                for key in keys { await rig.device.press(key) }
                // The second PinEntry: wait for it, then the real PIN.
                _ = await waitUntil(timeout: .seconds(10)) { rig.device.served["Keyboard.PinEntry"] == 2 && rig.device.isEntering }
                for key in EPPRig.digits("246810") { await rig.device.press(key) }
            }
            var seen: [PINPadEvent] = []
            for await event in events { seen.append(event) }
            await presser.value
            #expect(seen.prefix(4) == [.digits(1), .digits(2), .digits(3), .digits(0)])
            #expect(try EPPRig.pin(in: seen.last, key: key) == "246810")
        }
    }

    @Test("a device that sends digit values anyway: counted like any key, never read, never logged")
    func digitValuesIgnored() async throws {
        try await EPPRig.with { rig in
            let key = try await rig.loadKey()
            rig.device.setFaults { $0.sendDigitValues = true }
            let events = await rig.entry(pressing: EPPRig.digits("975319"))
            #expect(events.dropLast() == (1...6).map { PINPadEvent.digits($0) })
            #expect(try EPPRig.pin(in: events.last, key: key) == "975319")
            let logs = rig.logs.text
            for name in ["nine", "seven", "five", "three", "one", "975319"] { #expect(!logs.contains(name), "\(name) in the logs") }
        }
    }

    @Test("EPP offline: Common.StatusChangedEvent makes the kiosk not ready; online again, ready again")
    func offlineAndBack() async throws {
        try await EPPRig.with { rig in
            try await rig.loadKey()
            rig.device.setFaults { $0.offline = true }
            #expect(await waitUntil(timeout: .seconds(10)) { rig.pad.health.device == "offline" })
            #expect(!rig.pad.health.isReady && rig.pad.health.notReadyReason == "the EPP is offline")
            rig.device.setFaults { $0.offline = false; $0.unsolicitedType = true }
            rig.device.setFaults { $0.offline = true }
            #expect(await waitUntil(timeout: .seconds(10)) { rig.pad.health.device == "offline" })
            rig.device.setFaults { $0.offline = false }
            #expect(await waitUntil(timeout: .seconds(10)) { rig.pad.health.isReady }, "\(rig.pad.health)")
        }
    }

    @Test("no EPP service at start: not ready, an entry fails at once; the service comes up: connected, the key goes in again")
    func serviceDownAtStartThenUp() async throws {
        let rig = try await EPPRig(serviceRunning: false)
        try? await Task.sleep(for: .milliseconds(300))
        #expect(rig.pad.health.connection != "connected" && !rig.pad.health.isReady)
        let key = try EPPRig.bankKey("89ABCDEF0123456776543210FEDCBA98")
        await #expect(throws: EPPError.self) { try await rig.pad.loadPINKey(encrypted: key.encrypted, checkValue: key.check) }
        let failed = await rig.entry(pressing: [])
        if case .failed? = failed.last {} else { Issue.record("expected a failure, got \(failed)") }
        try await rig.startService()
        // The key the bank gave while the EPP was away is imported once it is there.
        #expect(await waitUntil(timeout: .seconds(10)) { rig.pad.health.isReady })
        #expect(try EPPRig.pin(in: await rig.entry(pressing: EPPRig.digits("123456")).last, key: key.clear) == "123456")
        await rig.stop()
    }

    @Test("the EPP service restarts: the pad reconnects and imports the key again (the new service has none)")
    func serviceRestart() async throws {
        let device = EPPDevice(masterKey: EPPRig.masterKey)
        let rig = try await EPPRig(device: device)
        let key = try await rig.loadKey()
        await rig.stopService()
        #expect(await waitUntil(timeout: .seconds(10)) { rig.pad.health.connection != "connected" })
        // A restarted service forgets the PIN key (as a replaced EPP would): the pad must import it again.
        #expect(device.forgetKeys(except: "TMK01") == 1)
        try await rig.startService()
        #expect(await waitUntil(timeout: .seconds(10)) { rig.pad.health.isReady })
        #expect(rig.device.served["KeyManagement.ImportKey", default: 0] >= 2, "imported again after the reconnection")
        #expect(try EPPRig.pin(in: await rig.entry(pressing: EPPRig.digits("121212")).last, key: key) == "121212")
        await rig.stop()
    }

    @Test("the connection drops in the middle of an entry: the entry fails (no hang), and the pad reconnects")
    func dropMidEntry() async throws {
        try await EPPRig.with { rig in
            try await rig.loadKey()
            rig.device.setFaults { $0.dropOnKey = true }
            let events = await rig.entry(pressing: EPPRig.digits("1"))
            guard case .failed? = events.last else {
                Issue.record("expected a failure, got \(events)")
                return
            }
            #expect(await waitUntil(timeout: .seconds(10)) { rig.pad.health.isReady })
        }
    }

    @Test("SM4 PIN blocks need the vendor's format setting; without it the entry fails and says which setting")
    func sm4NeedsVendorMapping() async throws {
        try await EPPRig.with { rig in
            try await rig.loadKey()
            let events = await rig.pad.beginEntry(PINEntryRequest(pan: EPPRig.pan, format: .iso0SM4))
            var seen: [PINPadEvent] = []
            for await event in events { seen.append(event) }
            guard case .failed(let why)? = seen.last else {
                Issue.record("expected a failure, got \(seen)")
                return
            }
            #expect(why.contains("pinPad.sm4PinFormat"))
        }
    }
}

@Suite("XFS4IoT discovery: ServicePublisher.GetServices on the publisher's ports")
struct XFSDiscoveryTests {
    @Test("the first port with a publisher that lists the service wins; ports without one are skipped and named when nothing is found")
    func findsTheService() async throws {
        let device = EPPDevice(masterKey: EPPRig.masterKey)
        // Ports below the ephemeral range, so no other test's server is given them meanwhile.
        let server = try await EPPRig.bindOwnPort(device)
        let serving = Task { await server.run() }
        defer { serving.cancel() }
        let nothing = EPPRig.unusedPort()

        let found = try await XFSDiscovery.find(host: "127.0.0.1", ports: [nothing, server.port], service: "pinpad")
        #expect(found == (try XFSEndpoint(url: server.serviceURL)))
        #expect(device.served["ServicePublisher.GetServices"] == nil, "the publisher is not the PIN pad service")
        do {
            _ = try await XFSDiscovery.find(host: "127.0.0.1", ports: [nothing, server.port], service: "CardReader")
            Issue.record("found a service that is not there")
        } catch {
            #expect(error.description.contains("\(nothing):") && error.description.contains("no CardReader"), "\(error)")
        }
    }

    @Test("a pad that finds its EPP by discovery finds it again when the service comes back on another port")
    func rediscoversAfterARestart() async throws {
        let device = EPPDevice(masterKey: EPPRig.masterKey)
        let first = try await EPPRig.bindOwnPort(device)
        let ports = Mutex<[Int]>([first.port])
        let firstServing = Task { await first.run() }
        let connection = XFSConnection(
            endpoint: .publisher(host: "127.0.0.1", port: first.port),
            resolve: { try await XFSDiscovery.find(host: "127.0.0.1", ports: ports.withLock { $0 }, service: "PinPad1", timeout: .seconds(1)) },
            minimumBackoff: .milliseconds(50), maximumBackoff: .milliseconds(200))
        let pad = XFS4IoTPINPad(connection: connection, settings: EPPSettings())
        let running = Task { await pad.run() }
        defer { running.cancel() }
        let key = try EPPRig.bankKey("89ABCDEF0123456776543210FEDCBA98")
        #expect(await waitUntil(timeout: .seconds(10)) { pad.health.connection == "connected" && pad.health.device != nil })
        try await pad.loadPINKey(encrypted: key.encrypted, checkValue: key.check)
        #expect(pad.health.isReady)

        firstServing.cancel()
        await firstServing.value
        #expect(await waitUntil(timeout: .seconds(10)) { pad.health.connection != "connected" })
        let second = try await EPPRig.bindOwnPort(device)
        ports.withLock { $0.append(second.port) }
        let secondServing = Task { await second.run() }
        #expect(await waitUntil(timeout: .seconds(10)) { pad.health.isReady }, "\(pad.health)")
        #expect(connection.endpoint.port == second.port)
        secondServing.cancel()
        running.cancel()
        await running.value
        await secondServing.value
    }
}
