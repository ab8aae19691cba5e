import Foundation
import KioskClient
import KioskProtocol
import TestSupport
import Testing
import UnixSocket

/// kioskd with the EPP as it runs at an outlet: three processes. kiosk-bank-sim serves ISO 8583 and writes the
/// TEST terminal master key; kiosk-epp-sim holds that master key, as an EPP loaded at installation; kioskd
/// (`pinPad.kind: xfs4iot`) signs on, imports the bank's PIN key into the EPP and never sees a PIN digit.
@Suite(.serialized, .timeLimit(.minutes(3))) struct DaemonEPPTests {
    static var specPath: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Config/iso8583/cups-pos.json").path
    }

    static func control(_ path: String, _ line: String) async -> String {
        (try? await onOwnThread { try UnixSocket.request(path, line: line) }) ?? "error: no control socket"
    }

    static func pinPadStatus(_ daemon: MockDaemon) async -> JSONValue? {
        guard let client = try? TestClient(path: daemon.socket) else { return nil }
        defer { client.disconnect() }
        client.send("Common.Status", 1)
        return await client.completion(1, timeout: .seconds(5))?.payload["pinPad"]
    }

    @Test("a whole activation over ISO 8583 with the EPP: PIK imported at sign-on, the bank opens the EPP's block; a re-sign-on rotates the PIK; EPP offline refuses new activations as out of service")
    func activationThroughTheEPP() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("epp-e2e-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let bank = try await StartedProduct(
            "kiosk-bank-sim", ["serve", "--keys", directory, "--port", "0", "--iso-port", "0", "--spec", Self.specPath, "--fault", "resignOnRequired"], lines: 2)
        defer { bank.stop() }
        let epp = try await EPPSimulatorProcess(directory: directory, keys: directory)
        defer { epp.stop() }
        let eppControl = epp.control
        let url = epp.url
        let config = directory + "/kioskd.yaml"
        try "mode: test\npinPad:\n  kind: xfs4iot\n  url: \(url)\n".write(toFile: config, atomically: true, encoding: .utf8)

        let daemon = try await MockDaemon(arguments: ["--config", config, "--bank-profile", directory + "/iso8583-profile.json"], epp: epp)
        // Signed on at start: the PIN key is in the EPP before the first customer.
        let ready = await poll(timeout: .seconds(20), every: .milliseconds(100)) { () async -> JSONValue? in
            let status = await Self.pinPadStatus(daemon)
            return status?["ready"]?.bool == true ? status : nil
        }
        #expect(ready?["pinKey"]?.string == "PIK01" && ready?["kind"]?.string == "xfs4iot", "\(daemon.log.suffix(2000))")
        // kioskd's own simulator control presses no PIN keys when the pad is the EPP.
        #expect(await daemon.sim("pin 802461").hasPrefix("error"))

        let screen = try Screen.start(daemon)
        #expect(await screen.activateApproved(daemon, confirmRequest: 2), "\(screen.client.messages.map(\.header.name))")
        #expect(await screen.completion() != nil)
        screen.client.disconnect()
        let ledgerURL = String(bank.lines[0].dropFirst("listening on ".count))
        let ledger = try await runProduct("kiosk-bank-sim", ["ledger", "--url", ledgerURL, "--json"])
        #expect(ledger.output.contains("\"effects\":1") || ledger.output.contains("\"effects\" : 1"), "\(ledger.output)")
        // The bank answered the first request RC 77 (keys out of step): the gateway signed on again, and the new
        // sign-on's PIN key went into the EPP under the same name (the EPP refuses to overwrite: deleted first).
        // (The import follows the sign-on on its own task: wait for it rather than race it.)
        _ = await waitUntil(timeout: .seconds(10)) { await Self.control(eppControl, "status").contains("KeyManagement.ImportKey=3,") }
        let served = await Self.control(eppControl, "status")
        // ImportKey: the first key, the second refused (duplicateKey), the second again after DeleteKey.
        #expect(served.contains("KeyManagement.ImportKey=3,") && served.contains("KeyManagement.DeleteKey=1,"), "\(served)")
        #expect(served.contains("PinPad.GetPinBlock=2") && served.contains("Keyboard.PinEntry=2"), "\(served)")

        // The EPP goes offline: the kiosk says so (to every client, unasked) and refuses a new activation with its own message.
        let watcher = try TestClient(path: daemon.socket)
        watcher.send("Common.Status", 1)
        _ = await watcher.completion(1)
        #expect(await Self.control(eppControl, "fault offline on") == "ok")
        let changed = await watcher.wait { $0.header.name == "Common.StatusChangedEvent" && $0.payload["pinPad"]?["device"]?.string == "offline" }
        #expect(changed?.payload["event"]?.string == "pinPadChanged" && changed?.payload["pinPad"]?["ready"]?.bool == false)
        watcher.disconnect()
        #expect(await waitUntil(timeout: .seconds(10)) { await Self.pinPadStatus(daemon)?["device"]?.string == "offline" })
        // The gauges follow the EPP's state on their own task: read until they show it.
        let text = await poll(timeout: .seconds(10), every: .milliseconds(50)) { () async -> String? in
            guard let metrics = try? TestClient(path: daemon.socket) else { return nil }
            defer { metrics.disconnect() }
            metrics.send("Operations.Metrics", 1)
            let text = await metrics.completion(1)?.payload["text"]?.string ?? ""
            return text.contains("kiosk_epp_online 0") ? text : nil
        } ?? ""
        for line in ["kiosk_epp_ready 0", "kiosk_epp_online 0", "kiosk_epp_connected 1", "kiosk_epp_master_key 1", "kiosk_epp_pin_key 1"] {
            #expect(text.contains(line), "\(line) in \(text)")
        }
        let refused = try TestClient(path: daemon.socket)
        refused.send("Activation.Start", 7, payload: ["language": "en"])
        let completion = await refused.completion(7)
        #expect(completion?.header.completionCode == .deviceNotReady)
        #expect(completion?.payload["end"]?.string == "outOfService" && completion?.payload["message"]?["key"]?.string == "kiosk.outOfService")
        #expect(completion?.payload["message"]?["text"]?.string == "This kiosk is out of service. Please go to a counter.")
        refused.disconnect()
        #expect(await Self.control(eppControl, "fault offline off") == "ok")
        #expect(await waitUntil(timeout: .seconds(10)) { await Self.pinPadStatus(daemon)?["ready"]?.bool == true })

        // Nothing kioskd logged holds the PIN.
        #expect(!daemon.log.contains("802461"))
        #expect(await daemon.stop() == 0)
    }
}
