public import CardSimulator

/// Every virtual card a person can pick by name: the generic ones of ``CardSimulator/CardCatalog`` and
/// the social security cards and PSAM of this module. All holder data is synthetic.
public enum VirtualCardCatalog {
    /// Names and one-line descriptions.
    public static let entries: [(name: String, summary: String)] = CardCatalog.entries + [
        ("ssc-demo", "2.00 social security card answering as T=0, with a UnionPay bank application (synthetic holder)"),
        ("ssc-demo-v3", "3.00 social security card (SM4): needs the PSAM (`--psam`) in another reader"),
        ("psam", "virtual PSAM holding the test key scheme's keys"),
    ]

    /// The card called `name`, or `nil`.
    public static func card(named name: String) -> (any VirtualCard)? {
        switch name {
        case "ssc-demo": return try? VirtualSocialSecurityCard.make(Self.demoFixture)
        case "ssc-demo-v3": return try? VirtualSocialSecurityCard.make(Self.demoFixtureV3)
        case "psam": return VirtualPSAM()
        default: return CardCatalog.card(named: name)
        }
    }

    /// A 2.00 card, T=0, PSE directory, GPO format 2.
    public static let demoFixture: SocialSecurityCardFixture = {
        var fixture = SocialSecurityCardFixture(citizenId: "440303198101011117", name: "张三", birthDate: "1981-01-01")
        fixture.summary = "CardKiosk demo card (synthetic holder)"
        fixture.protocol = "T=0"
        fixture.birthplace = "440303"
        var bank = SocialSecurityCardFixture.Bank()
        bank.holderId = fixture.citizenId
        bank.holderName = "ZHANG/SAN"
        fixture.bank = bank
        return fixture
    }()

    /// The demo card as a 3.00 SM4 card.
    public static let demoFixtureV3: SocialSecurityCardFixture = {
        var fixture = Self.demoFixture
        fixture.specVersion = "3.00"
        fixture.algorithm = 3
        fixture.expiryDate = nil
        return fixture
    }()
}
