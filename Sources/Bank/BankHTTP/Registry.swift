public import BankGateway

extension GatewayRegistry {
    /// Registers the `http-json` kind (``HTTPGateway``, built from the profile's settings).
    public mutating func registerHTTPJSON() {
        self.register(kind: "http-json") { profile throws(GatewayConfigurationError) in try HTTPGateway(profile: profile) }
    }
}
