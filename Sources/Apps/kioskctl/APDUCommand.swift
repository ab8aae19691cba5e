import APDU
import ArgumentParser
import Bytes
import CardCore
import Foundation
import PCSC

/// `kioskctl apdu`: send command APDUs, print the answers; with `--repeat`, the median round trip.
struct APDUCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apdu",
        abstract: "Send command APDUs to a card (T=0 rules applied) and print the answers.",
        discussion: """
            Example: kioskctl apdu --reader "Virtual PCD 00 00" 00A404000F7378312E73682EC9E7BBE1B1A3D5CF 00B2010400
            With --repeat N the list is sent N times in one transaction; the last line is the median round trip.
            """
    )

    @Option(help: "The reader's name, as `kioskctl readers` prints it.")
    var reader: String

    @Option(help: "Send the whole list this many times and print the median round trip.")
    var `repeat`: Int = 1

    @Flag(help: "Print JSON: one object per exchange of the first pass, and the median.")
    var json = false

    @Argument(help: "Command APDUs in hex (spaces inside one argument are allowed).")
    var apdus: [String]

    func validate() throws {
        guard self.repeat >= 1 else { throw ValidationError("--repeat must be at least 1") }
        guard !self.apdus.isEmpty else { throw ValidationError("give at least one command APDU") }
        for text in self.apdus { _ = try Self.parse(text) }
    }

    static func parse(_ text: String) throws -> CommandAPDU {
        do {
            return try CommandAPDU(bytes: Hex.decode(text))
        } catch {
            throw ValidationError("not a command APDU: \(text): \(error)")
        }
    }

    struct Exchange: Sendable, Encodable {
        let command: String
        let response: String
        let sw: String
        let meaning: String
        let microseconds: Double
    }

    func run() async throws {
        let commands = try self.apdus.map(Self.parse)
        let repeats = self.repeat
        let reader = self.reader
        let (exchanges, times) = try await withPCSCSystem { system in
            let connection = try await system.connect(reader: reader)
            let outcome: Result<([Exchange], [Double]), any Error>
            do {
                outcome = .success(try await connection.withTransaction { channel in
                    try Self.exchange(commands, repeats: repeats, on: channel)
                })
            } catch {
                outcome = .failure(error)
            }
            await connection.disconnect()
            return try outcome.get()
        }
        let median = Self.median(times)
        if self.json {
            struct Output: Encodable {
                let reader: String
                let exchanges: [Exchange]
                let repeats: Int
                let medianMicroseconds: Double
            }
            print(try JSONOutput.encode(Output(reader: self.reader, exchanges: exchanges, repeats: repeats, medianMicroseconds: median)))
            return
        }
        for exchange in exchanges {
            print("→ \(exchange.command)")
            let data = exchange.response.isEmpty ? "" : "\(exchange.response) "
            print("← \(data)\(exchange.sw) (\(exchange.meaning))")
        }
        if repeats > 1 {
            print("sent \(times.count) APDUs (\(repeats) × \(commands.count))")
            print(String(format: "median %.1f µs", median))
        }
    }

    /// Sends the list `repeats` times; returns the first pass's exchanges and every round trip in µs.
    static func exchange(_ commands: [CommandAPDU], repeats: Int, on channel: any CardChannel) throws -> ([Exchange], [Double]) {
        var exchanges: [Exchange] = []
        var times: [Double] = []
        times.reserveCapacity(repeats * commands.count)
        let clock = ContinuousClock()
        for pass in 0..<repeats {
            for command in commands {
                let start = clock.now
                let response = try channel.send(command)
                let elapsed = clock.now - start
                let micros = elapsed.inMicroseconds
                times.append(micros)
                if pass == 0 {
                    exchanges.append(Exchange(
                        command: Hex.encode(command.bytes), response: Hex.encode(response.data),
                        sw: Hex.encode([response.status.sw1, response.status.sw2]), meaning: response.status.meaning,
                        microseconds: micros))
                }
            }
        }
        return (exchanges, times)
    }

    static func median(_ values: [Double]) -> Double {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        let mid = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    }
}
