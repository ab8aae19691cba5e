import APDU
import Bytes
import CardCore
import CardSimulator
import Foundation
import PCSC
import TestSupport
import Testing

extension PCSCIntegrationTests {
    /// The command-line client, run as a person runs it, against the real pcscd.
    @Suite("kioskctl")
    struct Kioskctl {
        static func run(_ arguments: [String]) async throws -> (status: Int32, output: String, error: String) {
            try await runProduct("kioskctl", arguments)
        }

        @Test("readers --json: an array with name, cardPresent and atr (hex or null)")
        func readersJSON() async throws {
            let slot = VPCDSlot.all[1]
            let card = VPCDCard(card: EchoCard(), port: slot.port)
            card.insert()
            defer { card.remove() }
            _ = try await TestPCSCD.waitForCard(in: slot.readerName, present: true)
            let (status, output, _) = try await Self.run(["readers", "--pcsc", "--json"])
            #expect(status == 0)
            let readers = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [[String: Any]])
            let entry = try #require(readers.first { $0["name"] as? String == slot.readerName })
            #expect(entry["cardPresent"] as? Bool == true)
            #expect(entry["atr"] as? String == Hex.encode(EchoCard().atr))
            let empty = try #require(readers.first { $0["name"] as? String == VPCDSlot.all[0].readerName })
            #expect(empty["cardPresent"] as? Bool == false)
            #expect(empty["atr"] is NSNull)
        }

        @Test("apdu: responses with their meaning, and --repeat ends with the median round trip")
        func apdu() async throws {
            let slot = VPCDSlot.all[3]
            let card = VPCDCard(card: CardCatalog.card(named: "demo-t0")!, port: slot.port)
            card.insert()
            defer { card.remove() }
            _ = try await TestPCSCD.waitForCard(in: slot.readerName, present: true)
            let (status, output, _) = try await Self.run([
                "apdu", "--reader", slot.readerName, "--repeat", "20",
                "00A404000F7378312E73682EC9E7BBE1B1A3D5CF00", "00A4020002EF05", "00B2030400", "00B2090400",
            ])
            #expect(status == 0)
            let lines = output.split(separator: "\n").map(String.init)
            #expect(lines.contains("← 0304322E3030 9000 (normal processing)"))
            #expect(lines.contains("← 6A83 (error: record not found)"))
            #expect(lines.contains { $0.hasPrefix("← 6F1984") && $0.hasSuffix("9000 (normal processing)") })
            let last = try #require(lines.last)
            #expect(last.hasPrefix("median ") && last.hasSuffix(" µs"))
            let micros = Double(last.dropFirst("median ".count).dropLast(" µs".count))
            #expect(micros.map { $0 > 0 && $0 < 100_000 } == true)
        }

        @Test("bad input and unknown readers: a clear message on stderr and a non-zero exit")
        func errors() async throws {
            let unknown = try await Self.run(["apdu", "--reader", "No Such Reader", "00B2010400"])
            #expect(unknown.status != 0)
            #expect(unknown.error.contains("unknownReader") && unknown.error.contains("kioskctl readers"))
            let malformed = try await Self.run(["apdu", "--reader", VPCDSlot.all[0].readerName, "00B2"])
            #expect(malformed.status != 0)
            #expect(malformed.error.contains("not a command APDU"))
        }
    }

    @Suite("monitor shutdown")
    struct MonitorShutdown {
        static func monitorThreads() -> Int {
            let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
            return tasks.filter {
                ((try? String(contentsOfFile: "/proc/self/task/\($0)/comm", encoding: .utf8)) ?? "").hasPrefix("pcsc-monitor")
            }.count
        }

        @Test("ending the event stream cancels the wait (SCardCancel) and releases the context promptly")
        func cancel() async throws {
            let system = PCSCSystem()
            let contexts = PCSCSystem.liveContexts
            let threads = Self.monitorThreads()
            let log = EventLog(system.events())
            #expect(await log.waitFor { $0 == .readerAttached(VPCDSlot.all[7].readerName) } != nil)
            try await Task.sleep(for: .milliseconds(100))  // the monitor is now blocked in SCardGetStatusChange
            #expect(Self.monitorThreads() == threads + 1)
            let clock = ContinuousClock()
            let start = clock.now
            log.stop()
            while Self.monitorThreads() > threads && clock.now - start < .seconds(5) {
                try await Task.sleep(for: .milliseconds(5))
            }
            let elapsed = clock.now - start
            #expect(Self.monitorThreads() == threads)
            #expect(PCSCSystem.liveContexts == contexts)
            // Far below the 30 s re-list timer: the wait was cancelled, not timed out.
            #expect(elapsed < .seconds(1), "monitor took \(elapsed) to stop")
        }

        @Test("any number of subscribers share one monitor thread and one context, which stop with the last")
        func sharedMonitor() async throws {
            let system = PCSCSystem()
            let contexts = PCSCSystem.liveContexts
            let threads = Self.monitorThreads()
            let reader = VPCDSlot.all[7].readerName
            let first = EventLog(system.events())
            #expect(await first.waitFor { $0 == .readerAttached(reader) } != nil)
            // Later subscribers get the state so far from the running monitor.
            let later = (0..<3).map { _ in EventLog(system.events()) }
            for log in later {
                #expect(await log.waitFor { $0 == .readerAttached(reader) } != nil)
                #expect(log.all.first == .serviceOnline)
            }
            #expect(system.monitorStarts == 1)
            #expect(system.monitorSubscribers == 4)
            #expect(Self.monitorThreads() == threads + 1)
            #expect(PCSCSystem.liveContexts == contexts + 1)
            // One card event reaches every subscriber.
            let card = VPCDCard(card: EchoCard(), port: VPCDSlot.all[7].port)
            let marks = ([first] + later).map(\.count)
            card.insert()
            defer { card.remove() }
            for (log, mark) in zip([first] + later, marks) {
                #expect(await log.waitFor(from: mark) { $0 == .cardInserted(reader: reader, atr: EchoCard().atr) } != nil)
            }
            for log in later { log.stop() }
            #expect(await waitUntil(timeout: .seconds(5)) { system.monitorSubscribers == 1 })
            try await Task.sleep(for: .milliseconds(100))
            #expect(Self.monitorThreads() == threads + 1, "the monitor stops only with its last subscriber")
            first.stop()
            #expect(await waitUntil(timeout: .seconds(5)) { Self.monitorThreads() == threads && PCSCSystem.liveContexts == contexts })
            #expect(system.monitorSubscribers == 0)
        }
    }
}
