import APDU
import ArgumentParser
import CardCore
import Foundation
import PCSC
import SocialSecurityCard
import VirtualCards
import CardSimulator

/// Benchmarks of the PC/SC driver against the C floor (`../shared/tools/pcsc_floor.c`), in the same run on
/// the same virtual card. Run through `scripts/bench.sh`, which builds the C tools and starts pcscd + vpcd.
@main
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kiosk-bench",
        abstract: "CardKiosk benchmarks, each against a baseline in the same run.",
        subcommands: [Bench.self, ISO8583Bench.self, DaemonBench.self, IdleFloor.self],
        defaultSubcommand: Bench.self
    )
}

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pcsc",
        abstract: "APDU round trips through our driver vs the C floor, a full card read, and the reader monitor's idle wake-ups."
    )

    @Option(help: "The reader holding the benchmark card (pcsc_floor uses the first reader pcscd lists).")
    var reader = "Virtual PCD 00 00"

    @Option(help: "Path of the compiled pcsc_floor program.")
    var floor: String

    @Option(help: "APDUs per run.")
    var count = 3000

    @Option(help: "Runs of each side, interleaved.")
    var runs = 15

    @Option(help: "Seconds to watch the idle monitor.")
    var idleSeconds = 10

    @Option(help: "The vpcd reader for the card-read benchmark (its vpcd port is --card-port).")
    var cardReader = "Virtual PCD 1 00 00"

    @Option(help: "vpcd port of --card-reader.")
    var cardPort: UInt16 = 35965

    @Option(help: "Full card reads to time.")
    var reads = 40

    func run() async throws {
        let command = try CommandAPDU(bytes: [0x00, 0xB2, 0x01, 0x04, 0x00])  // the floor program's APDU
        let system = PCSCSystem()
        let connection = try await system.connect(reader: self.reader)
        print("APDU round trips: \(self.runs) interleaved runs of \(self.count) × 00B2010400 on \(self.reader) (protocol \(connection.activeProtocol == .t0 ? "T=0" : "T=1"))")
        var floorRuns: [Double] = []
        var ourRuns: [Double] = []
        var asyncRuns: [Double] = []
        // One warm-up of each, not counted.
        _ = try self.runFloor()
        _ = try await Self.runOurs(connection: connection, command: command, count: self.count)
        for _ in 0..<self.runs {
            floorRuns.append(try self.runFloor())
            ourRuns.append(try await Self.runOurs(connection: connection, command: command, count: self.count))
        }
        for _ in 0..<max(3, self.runs / 3) {
            asyncRuns.append(try await Self.runAsync(connection: connection, command: command, count: self.count))
        }
        await connection.disconnect()
        let floorMedian = Self.median(floorRuns)
        let ourMedian = Self.median(ourRuns)
        let asyncMedian = Self.median(asyncRuns)
        print(String(format: "  C floor (pcsc_floor.c)              median %7.1f µs per APDU   runs %@", floorMedian, Self.list(floorRuns)))
        print(String(format: "  ours, card session (withTransaction) median %7.1f µs per APDU   runs %@", ourMedian, Self.list(ourRuns)))
        print(String(format: "  ours, one async transmit per APDU    median %7.1f µs per APDU   runs %@", asyncMedian, Self.list(asyncRuns)))
        let paired = Self.median(zip(ourRuns, floorRuns).map { $0 / $1 })
        print(String(format: "ratio ours/floor: %.3f (target ≤ 1.05); median of paired run ratios: %.3f", ourMedian / floorMedian, paired))
        print(String(format: "ratio async transmit/floor: %.3f (includes two thread hops per APDU)", asyncMedian / floorMedian))
        try await self.measureCardRead(system: system, floorMicroseconds: floorMedian)
        try await self.measureIdle(system: system)
    }

    /// Runs pcsc_floor once and returns its µs per round trip.
    private func runFloor() throws -> Double {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: self.floor)
        process.arguments = ["\(self.count)"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        // "3000 APDUs, 110.0 us per round trip (proto T=0)"
        guard let range = output.range(of: "APDUs, "), let end = output.range(of: " us per round trip"),
            let value = Double(output[range.upperBound..<end.lowerBound])
        else { throw ValidationError("pcsc_floor printed: \(output)") }
        return value
    }

    /// Our driver as card applications use it: one transaction, synchronous sends on the connection's thread.
    private static func runOurs(connection: any CardConnection, command: CommandAPDU, count: Int) async throws -> Double {
        try await connection.withTransaction { channel in
            let clock = ContinuousClock()
            let start = clock.now
            for _ in 0..<count {
                let response = try channel.send(command)
                guard response.status == .success else { throw ReaderError.malformedResponse }
            }
            return (clock.now - start).inMicroseconds / Double(count)
        }
    }

    /// One `transmit` call per APDU from async code: hops to the connection's thread and back each time.
    private static func runAsync(connection: any CardConnection, command: CommandAPDU, count: Int) async throws -> Double {
        let clock = ContinuousClock()
        let start = clock.now
        for _ in 0..<count { _ = try await connection.transmit(command) }
        return (clock.now - start).inMicroseconds / Double(count)
    }

    /// A full social security card read (identity + bank, the demo card answering as T=0) against the
    /// floor: the read's APDU count × the C floor's round trip measured above.
    private func measureCardRead(system: PCSCSystem, floorMicroseconds: Double) async throws {
        let card = VPCDCard(card: try VirtualSocialSecurityCard.make(VirtualCardCatalog.demoFixture), port: self.cardPort)
        card.insert()
        defer { card.remove() }
        guard card.waitUntilConnected() else { throw ValidationError("vpcd did not accept the card on port \(self.cardPort)") }
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .seconds(5))
        while try await system.readers().first(where: { $0.name == self.cardReader })?.cardPresent != true {
            guard clock.now < deadline else { throw ValidationError("\(self.cardReader) shows no card") }
            try await Task.sleep(for: .milliseconds(20))
        }
        let connection = try await system.connect(reader: self.cardReader)
        _ = try await SocialSecurityCardReader.read(connection: connection, options: CardReadOptions())  // warm-up
        for (scope, label) in [(CardReadOptions.Scope.activation, "an activation's read (what the flow uses)"), (.everything, "a diagnosis read (everything; kioskctl card read)")] {
            var options = CardReadOptions()
            options.scope = scope
            var times: [Double] = []
            var count = 0
            for _ in 0..<self.reads {
                let start = clock.now
                let reading = try await SocialSecurityCardReader.read(connection: connection, options: options)
                times.append((clock.now - start).inMicroseconds)
                count = reading.apduCount
            }
            let median = Self.median(times)
            let floor = Double(count) * floorMicroseconds
            print("card read, \(label): SSSE identity + bank application, 2.00 demo card as T=0, on \(self.cardReader), \(self.reads) reads:")
            print(String(format: "  APDUs per read: %d; median read %.0f µs; floor %d × %.1f µs = %.0f µs", count, median, count, floorMicroseconds, floor))
            print(String(format: "ratio card read/floor: %.3f", median / floor))
        }
        await connection.disconnect()
    }

    /// Counts the monitor thread's context switches while nothing happens.
    private func measureIdle(system: PCSCSystem) async throws {
        let events = system.events()
        let consumer = Task { for await _ in events {} }
        try await Task.sleep(for: .seconds(1))  // initial snapshot done
        guard let monitor = Self.thread(named: "pcsc-monitor") else {
            print("monitor idle wake-ups: monitor thread not found")
            consumer.cancel()
            return
        }
        let before = Self.switches(of: monitor)
        let processBefore = Self.switchesByThread()
        try await Task.sleep(for: .seconds(self.idleSeconds))
        let after = Self.switches(of: monitor)
        let processAfter = Self.switchesByThread()
        // Threads present at both samples; a thread that ended in between would make the sum meaningless.
        let processDelta = processAfter.reduce(0) { total, entry in
            guard let earlier = processBefore[entry.key] else { return total }
            return total + entry.value - earlier
        }
        consumer.cancel()
        let perSecond = Double(after - before) / Double(self.idleSeconds)
        print(String(format: "monitor idle wake-ups: %.2f per second over %d s (%d context switches of thread pcsc-monitor)",
            perSecond, self.idleSeconds, after - before))
        print("  named timers: re-list readers every 30 s (pcsc-lite < 2.3.0 has no PnP reader counter) = 0.033/s")
        print(String(format: "  whole benchmark process while idle: %.2f context switches per second (Swift runtime included)",
            Double(processDelta) / Double(self.idleSeconds)))
    }

    private static func thread(named name: String) -> String? {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        return tasks.first { tid in
            ((try? String(contentsOfFile: "/proc/self/task/\(tid)/comm", encoding: .utf8)) ?? "").hasPrefix(name)
        }
    }

    private static func switches(of tid: String) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/task/\(tid)/status", encoding: .utf8) else { return 0 }
        return status.split(separator: "\n").reduce(0) { total, line in
            guard line.hasPrefix("voluntary_ctxt_switches") || line.hasPrefix("nonvoluntary_ctxt_switches") else { return total }
            return total + (Int(line.split(separator: ":").last?.trimmingCharacters(in: .whitespaces) ?? "") ?? 0)
        }
    }

    private static func switchesByThread() -> [String: Int] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        return Dictionary(uniqueKeysWithValues: tasks.map { ($0, Self.switches(of: $0)) })
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return 0 }
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

    static func list(_ values: [Double]) -> String { values.map { String(format: "%.1f", $0) }.joined(separator: " ") }
}
