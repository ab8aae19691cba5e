/// Why an ISO 8583 exchange failed before it produced an answer the gateway can use. Internal to the
/// gateway's decisions; what reaches the flow is a ``BankGateway`` outcome.
public enum ISO8583GatewayError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Nothing left this kiosk (connect refused or timed out, channel already closed).
    case notSent(String)
    /// The request went out and no usable answer came back in time.
    case noAnswer(String)
    /// The connection ended after the request went out.
    case connectionLost(String)
    /// An answer came that is not a message of the spec or breaks the framing.
    case malformedReply(String)
    /// The answer's MAC is missing or wrong.
    case badMAC(String)
    /// Sign-on failed or its keys were refused.
    case signOn(String)
    /// Our own message cannot be built (configuration or data).
    case encoding(String)

    public var description: String {
        switch self {
        case .notSent(let detail): "not sent: \(detail)"
        case .noAnswer(let detail): "no answer: \(detail)"
        case .connectionLost(let detail): "connection lost after sending: \(detail)"
        case .malformedReply(let detail): "malformed reply: \(detail)"
        case .badMAC(let detail): "reply MAC: \(detail)"
        case .signOn(let detail): "sign-on: \(detail)"
        case .encoding(let detail): "cannot build the request: \(detail)"
        }
    }

    /// True when the bank cannot have seen the request.
    public var nothingSent: Bool {
        if case .notSent = self { return true }
        if case .encoding = self { return true }
        return false
    }
}
