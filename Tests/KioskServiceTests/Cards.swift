import CardCore
import CardSimulator
import IDModuleSimulator
import ResidentIDCard
import SocialSecurityCard
import TestSupport
import VirtualCards

enum Cards {
    static func idCard(_ name: String) throws -> IDCardData {
        try IDCardFixture.load(path: "\(fixturesDirectory)/idcard/\(name).json").card
    }

    static func reading(_ name: String) async throws -> SocialSecurityCardReading {
        let system = MockCardSystem(readers: ["Mock Card 00 00"])
        system.insert(try VirtualSocialSecurityCard.make(try SocialSecurityCardFixture.load(path: sscFixturePath(name))), into: "Mock Card 00 00")
        let connection = try await system.connect(reader: "Mock Card 00 00")
        let reading = try await SocialSecurityCardReader.read(connection: connection, options: CardReadOptions())
        await connection.disconnect()
        return reading
    }
}
