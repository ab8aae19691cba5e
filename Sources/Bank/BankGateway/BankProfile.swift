import Foundation

/// How to reach one bank: which gateway implementation, where, with which keys and result codes.
/// A profile is data (a JSON file today, a section of the kiosk configuration later): adding a bank takes
/// a profile and, at most, a new gateway kind.
public struct BankProfile: Codable, Hashable, Sendable {
    /// For logs: `ICBC Shenzhen`.
    public var name: String
    /// The implementation: `simulator`, `http-json`, `iso8583`.
    public var kind: String
    /// The bank's code on the card (UnionPay institution code or an internal name).
    public var bankCode: String
    /// This kiosk's terminal ID at the bank.
    public var terminalID: String
    /// `http(s)://host:port/base` or `tcp://host:port`.
    public var endpoint: String?
    public var timeouts: Timeouts
    /// The bank's result codes and their meaning (see ``ResultClass``); empty = ``ResultCodeTable/unionPay``.
    public var resultCodes: [String: String]
    /// Kind-specific settings (signing scheme, key files, distinguishing ID …), by name.
    public var settings: [String: String]

    public struct Timeouts: Codable, Hashable, Sendable {
        public var connectMilliseconds: Int
        /// After the request went out: past this the outcome is `unknown`.
        public var responseMilliseconds: Int
        public init(connectMilliseconds: Int = 3000, responseMilliseconds: Int = 30_000) {
            self.connectMilliseconds = connectMilliseconds
            self.responseMilliseconds = responseMilliseconds
        }
        public var connect: Duration { .milliseconds(self.connectMilliseconds) }
        public var response: Duration { .milliseconds(self.responseMilliseconds) }
    }

    public init(
        name: String, kind: String, bankCode: String, terminalID: String, endpoint: String? = nil, timeouts: Timeouts = Timeouts(),
        resultCodes: [String: String] = [:], settings: [String: String] = [:]
    ) {
        self.name = name
        self.kind = kind
        self.bankCode = bankCode
        self.terminalID = terminalID
        self.endpoint = endpoint
        self.timeouts = timeouts
        self.resultCodes = resultCodes
        self.settings = settings
    }

    /// Reads a profile file.
    public static func load(path: String) throws -> BankProfile {
        try JSONDecoder().decode(BankProfile.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }

    /// The result-code table this profile names.
    public func resultCodeTable() throws(GatewayConfigurationError) -> ResultCodeTable {
        self.resultCodes.isEmpty ? .unionPay : try ResultCodeTable(self.resultCodes)
    }

    /// A required setting, or an error naming it.
    public func setting(_ name: String) throws(GatewayConfigurationError) -> String {
        guard let value = self.settings[name], !value.isEmpty else {
            throw GatewayConfigurationError(key: "settings.\(name)", problem: "missing; the \(self.kind) gateway needs it")
        }
        return value
    }
}

/// A bank profile that cannot work, with the key to fix.
public struct GatewayConfigurationError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The profile key at fault (`resultCodes.77`, `settings.signingKey`, `kind`).
    public let key: String
    public let problem: String
    public init(key: String, problem: String) {
        self.key = key
        self.problem = problem
    }
    public var description: String { "bank profile \(self.key): \(self.problem)" }
    /// Errors compare by the key at fault.
    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.key == rhs.key }
    public func hash(into hasher: inout Hasher) { hasher.combine(self.key) }
}
