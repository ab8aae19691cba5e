/// Where an XFS4IoT service is: `ws://host:port/xfs4iot/v1.0/{Service}/` or its `wss://` form (`xfs4iot.md` §6).
public struct XFSEndpoint: Hashable, Sendable, CustomStringConvertible {
    public var secure: Bool
    public var host: String
    public var port: Int
    /// The request path, starting with `/`.
    public var path: String

    public init(secure: Bool = false, host: String, port: Int, path: String) {
        self.secure = secure
        self.host = host
        self.port = port
        self.path = path.hasPrefix("/") ? path : "/" + path
    }

    /// Parses a `ws://` or `wss://` URL. The port defaults to 80 or 443.
    public init(url: String) throws(XFSClientError) {
        let secure: Bool
        let rest: Substring
        if url.hasPrefix("ws://") {
            (secure, rest) = (false, url.dropFirst(5))
        } else if url.hasPrefix("wss://") {
            (secure, rest) = (true, url.dropFirst(6))
        } else {
            throw .invalidURL(url, "it must start with ws:// or wss://")
        }
        let authority = rest.prefix { $0 != "/" }
        let path = rest.dropFirst(authority.count)
        var host = Substring(authority)
        var port = secure ? 443 : 80
        if authority.hasPrefix("[") {
            // An IPv6 literal: [::1]:5846
            guard let close = authority.firstIndex(of: "]") else { throw .invalidURL(url, "unclosed [ in the host") }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":") {
                guard let number = Int(after.dropFirst()) else { throw .invalidURL(url, "the port is not a number") }
                port = number
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            guard let number = Int(authority[authority.index(after: colon)...]) else { throw .invalidURL(url, "the port is not a number") }
            port = number
        }
        guard !host.isEmpty else { throw .invalidURL(url, "no host") }
        guard (1...65_535).contains(port) else { throw .invalidURL(url, "port \(port) is out of range") }
        self.init(secure: secure, host: String(host), port: port, path: path.isEmpty ? "/" : String(path))
    }

    public var description: String {
        let host = self.host.contains(":") ? "[\(self.host)]" : self.host
        return "\(self.secure ? "wss" : "ws")://\(host):\(self.port)\(self.path)"
    }

    /// The ports an XFS4IoT service publisher binds, in the order clients probe them: 80, 443, 5846–5856.
    public static let publisherPorts = [80, 443] + Array(5846...5856)

    /// The publisher's endpoint on `host` and `port`.
    public static func publisher(host: String, port: Int) -> XFSEndpoint {
        XFSEndpoint(secure: port == 443, host: host, port: port, path: "/xfs4iot/v1.0")
    }
}

/// What went wrong talking to an XFS4IoT service.
public enum XFSClientError: Error, Hashable, Sendable, CustomStringConvertible {
    case invalidURL(String, String)
    /// No connection to the service (not yet, or it dropped); the request was not sent.
    case notConnected(String)
    /// The connection dropped while the request was outstanding: its outcome is unknown.
    case disconnected(String)
    /// The service acknowledged the command with a refusal (`invalidMessage`, `invalidRequestID`, `tooManyRequests`).
    case refused(command: String, status: String)
    /// No service found by discovery.
    case noService(String)

    public var description: String {
        switch self {
        case .invalidURL(let url, let why): "XFS4IoT service URL \(url) is not usable: \(why)"
        case .notConnected(let why): "not connected to the XFS4IoT service (\(why))"
        case .disconnected(let why): "the XFS4IoT connection dropped during the request (\(why))"
        case .refused(let command, let status): "the XFS4IoT service refused \(command): \(status)"
        case .noService(let why): "no XFS4IoT service found: \(why)"
        }
    }
}
