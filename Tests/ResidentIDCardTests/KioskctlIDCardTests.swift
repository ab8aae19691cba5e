import Foundation
import IDModuleSimulator
import ResidentIDCard
import TestSupport
import Testing

/// `kioskctl idcard read` against the simulator's pty, as an operator runs it.
@Suite(.timeLimit(.minutes(1))) struct KioskctlIDCardTests {
    static func run(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        let run = try await runProduct("kioskctl", arguments)
        return (run.status, run.output + run.error)
    }

    @Test func readJSONMaskedAndUnmasked() async throws {
        let bench = try PTYBench()
        let device = bench.directory + "/ttyID"
        let fixture = try idFixture("resident-x-longterm")
        bench.simulator.faults.refindsPresentCard = true
        bench.simulator.place(fixture)
        let masked = try await Self.run(["idcard", "read", "--device", device, "--json"])
        #expect(masked.status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(masked.output.utf8)) as? [String: Any])
        #expect(object["type"] as? String == "residentIDCard")
        #expect(object["name"] as? String == "李娜")
        #expect(object["gender"] as? String == "female")
        #expect(object["nation"] as? String == "回族")
        #expect(object["birthDate"] as? String == "1975-06-12")
        #expect(object["address"] as? String == fixture.address)
        #expect(object["citizenId"] as? String == "110***********008X")
        #expect(object["issuer"] as? String == fixture.issuer)
        #expect(object["validFrom"] as? String == "2015-08-01")
        #expect(object["validTo"] as? String == "长期")
        #expect(!masked.output.contains(fixture.idNumber))
        let unmasked = try await Self.run(["idcard", "read", "--device", device, "--json", "--unmasked"])
        #expect(unmasked.output.contains(fixture.idNumber))
        bench.simulator.removeCard()
        let none = try await Self.run(["idcard", "read", "--device", device, "--json"])
        #expect(none.status == 3)
        #expect(none.output.contains("\"reason\":\"noCard\""))
        await bench.finish()
        let gone = try await Self.run(["idcard", "read", "--device", device])
        #expect(gone.status == 4)
        #expect(gone.output.contains("ID-card module not available"))
    }
}
