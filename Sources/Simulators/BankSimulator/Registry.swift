public import BankGateway

extension GatewayRegistry {
    /// Registers the `simulator` kind: every gateway built talks to `bank` in this process.
    public mutating func registerSimulator(bank: SimulatedBank) {
        self.register(kind: "simulator") { profile throws(GatewayConfigurationError) in try SimulatorGateway(profile: profile, bank: bank) }
    }
}
