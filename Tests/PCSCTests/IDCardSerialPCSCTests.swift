import APDU
import Bytes
import CardCore
import CardSimulator
import Foundation
import IDModuleSimulator
import PCSC
import ResidentIDCard
import Testing

extension PCSCIntegrationTests {
    /// Without a security module, a contactless reader still shows that an ID card is there.
    @Suite("ID card chip serial through pcscd")
    struct IDCardSerialPCSC {
        @Test("00 36 00 00 08 gives the chip serial through the real stack, and kioskctl idcard serial prints it")
        func chipSerial() async throws {
            let slot = VPCDSlot.all[6]
            let system = PCSCSystem()
            let card = VPCDCard(card: VirtualIDChipCard(), port: slot.port)
            card.insert()
            _ = try await TestPCSCD.waitForCard(in: slot.readerName, present: true, system: system)
            let connection = try await system.connect(reader: slot.readerName)
            #expect(IDCardChipSerial.knownATRs.contains(connection.atr))
            let serial = try await IDCardChipSerial.read(connection: connection)
            #expect(Hex.encode(serial) == "123456789ABCDEF0")
            await connection.disconnect()
            let run = try await Kioskctl.run(["idcard", "serial", "--reader", slot.readerName])
            #expect(run.status == 0)
            #expect(run.output.contains("chip serial 123456789ABCDEF0"))
            card.remove()
            _ = try await TestPCSCD.waitForCard(in: slot.readerName, present: false, system: system)
        }
    }
}
