import BankSimulator
import BankSimulatorServer
import BankHTTP
import CardSimulator
import Foundation
import Glibc
import IDModuleSimulator
import TestSupport
import Testing
import VirtualCards

extension PCSCIntegrationTests {
    /// kioskd as installed (real readers through pcscd + vpcd, the ID module on a tty, the bank over signed
    /// HTTP from a profile file), driven over the kiosk socket by kioskctl as a kiosk screen.
    @Suite("kioskd over its socket with pcscd, the ID-module pty and the bank over HTTP")
    struct DaemonPCSC {
        @Test("a whole activation through kioskctl activate; the PIN typed on the EPP (kiosk-epp-sim)")
        func activationOverTheSocket() async throws {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kd-e2e-\(UUID().uuidString.prefix(8))").path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let cardSlot = VPCDSlot.all[4]
            let psamSlot = VPCDSlot.all[5]
            let psam = VPCDCard(card: VirtualPSAM(), port: psamSlot.port)
            let card = VPCDCard(card: try VirtualSocialSecurityCard.make(try SocialSecurityCardFixture.load(path: sscFixturePath("v3-sm4-rare"))), port: cardSlot.port)
            psam.insert()
            card.insert()
            defer {
                card.remove()
                psam.remove()
            }
            _ = try await TestPCSCD.waitForCard(in: psamSlot.readerName, present: true)
            _ = try await TestPCSCD.waitForCard(in: cardSlot.readerName, present: true)
            let simulator = IDModuleSimulator(linkPath: directory + "/ttyID")
            try simulator.plug()
            defer { simulator.stop() }
            simulator.place(try IDCardFixture.load(path: "\(fixturesDirectory)/idcard/resident-rare.json"))

            let keys = "\(fixturesDirectory)/bank/keys/"
            let bank = SimulatedBank()
            let server = SimulatedBankServer(
                bank: bank,
                configuration: .init(
                    signer: try RSASigner(pem: String(contentsOfFile: keys + "bank.key", encoding: .utf8)),
                    terminalVerifier: try RSAVerifier(pem: String(contentsOfFile: keys + "terminal.pub", encoding: .utf8))))
            let port = try await server.start()
            let profile = simulatedHTTPBankProfile(port: Int(port))
            try profile.write(toFile: directory + "/bank.json", atomically: true, encoding: .utf8)

            // The EPP: kiosk-epp-sim in its own process, with the TEST master key the profile's PIN key is under.
            let epp = try await EPPSimulatorProcess(directory: directory)
            defer { epp.stop() }
            let daemon = Process()
            daemon.executableURL = URL(fileURLWithPath: productPath("kioskd"))
            daemon.environment = ProcessInfo.processInfo.environment.merging(["KIOSKD_PIN_PAD_URL": epp.url]) { $1 }
            daemon.arguments = [
                "--card-reader", cardSlot.readerName, "--psam-reader", psamSlot.readerName, "--id-device", simulator.linkPath,
                "--bank-profile", directory + "/bank.json", "--socket", directory + "/kiosk.sock", "--journal", directory + "/journal.sqlite",
                "--sim-control", directory + "/sim.sock", "--test",
            ]
            daemon.standardError = FileHandle(forWritingAtPath: "/dev/null")
            try daemon.run()
            defer {
                if daemon.isRunning { kill(daemon.processIdentifier, SIGKILL) }
            }
            _ = await waitUntil(timeout: .seconds(20)) { FileManager.default.fileExists(atPath: directory + "/kiosk.sock") }
            // Then until the EPP has the bank's PIN key.
            #expect(await waitUntilReadyForCustomer(socket: directory + "/kiosk.sock", timeout: .seconds(20)))

            let screenEnded = Recorder()
            let screen = Task {
                defer { screenEnded.append("ended") }
                return try await runProduct("kioskctl", ["activate", "--socket", directory + "/kiosk.sock", "--yes", "--timeout", "60"])
            }
            // The customer types the PIN twice on the EPP (kiosk-epp-sim's control socket, never kioskd), for as
            // long as the screen waits for the activation (its own --timeout).
            var typed = 0
            var monitorThreads: [Int] = []
            while typed < 2 && screenEnded.items.isEmpty {
                if (try? await runProduct("kioskctl", ["sim", "--control", epp.control, "pin", "802461"]))?.status == 0 {
                    typed += 1
                    // Mid-activation: the log, the screen's status and the flow all watch the readers, through one monitor.
                    monitorThreads.append(Self.threads(of: daemon.processIdentifier, named: "pcsc-monitor"))
                    try await Task.sleep(for: .milliseconds(300))
                } else {
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
            #expect(typed == 2)
            #expect(monitorThreads == [1, 1], "kioskd runs one PC/SC monitor (one thread, one context) for every subscriber")
            // Then takes the cards.
            try await Task.sleep(for: .milliseconds(500))
            card.remove()
            simulator.removeCard()
            let result = try await screen.value
            #expect(result.status == 0, "\(result.output) \(result.error)")
            #expect(result.output.contains("approved") && result.output.contains("PIN ●●●●●●"))
            #expect(!result.output.contains("440304199003070026"))
            #expect(result.output.contains("[TEST MODE: not a real activation]"), "--test: the result says so")
            let status = try await runProduct("kioskctl", ["status", "--socket", directory + "/kiosk.sock"])
            #expect(status.output.hasPrefix("TEST MODE") && status.output.contains("mode: test"), "\(status.output)")
            let ledger = await bank.ledger()
            #expect(ledger.count == 1 && ledger.first?.effects == 1)
            let journal = try await runProduct("kioskctl", ["journal", "--socket", directory + "/kiosk.sock"])
            #expect(journal.output.contains("approved"))
            kill(daemon.processIdentifier, SIGTERM)
            #expect(await waitUntil(timeout: .seconds(10)) { !daemon.isRunning })
            await server.stop()
            _ = try? await TestPCSCD.waitForCard(in: cardSlot.readerName, present: false)
        }

        /// Threads of process `pid` whose name starts with `prefix`.
        static func threads(of pid: Int32, named prefix: String) -> Int {
            let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
            return tasks.filter { ((try? String(contentsOfFile: "/proc/\(pid)/task/\($0)/comm", encoding: .utf8)) ?? "").hasPrefix(prefix) }.count
        }
    }
}
