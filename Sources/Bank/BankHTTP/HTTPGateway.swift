import AsyncHTTPClient
public import BankGateway
import Bytes
import Foundation
import KioskCrypto
import NIOCore
import NIOHTTP1
import NIOPosix
public import NIOSSL
import Synchronization

/// The `http-json` gateway: the bank's HTTP/JSON API (``BankWire``) over async-http-client, with mutual
/// TLS, signed requests (RSA-SHA256 or SM2-with-SM3), verified and replay-checked responses, the
/// `Idempotency-Key` header, and SM4 encryption of the ID number where the profile asks.
///
/// Outcome rules: a failure before the request could have left (connect refused or timed out, TLS
/// handshake) is `unavailable`; any failure after (timeout, reset, malformed or unsigned or badly signed
/// answer) is `unknown`. An unsigned 2xx is a forgery, never an approval.
public final class HTTPGateway: BankGateway {
    public let profile: BankProfile
    private let clientConfiguration: HTTPClient.Configuration
    private let clients: Mutex<HTTPClient>
    private var client: HTTPClient { self.clients.withLock { $0 } }
    private let baseURL: String
    private let signer: any MessageSigner
    private let verifier: any SignatureVerifier
    private let serial: String
    private let boundResponses: Bool
    private let table: ResultCodeTable
    private let replay = ReplayGuard()
    private let fieldCipher: SM4FieldCipher?

    /// What the gateway needs besides the profile's plain settings.
    public struct Credentials: Sendable {
        public var signer: any MessageSigner
        public var bankVerifier: any SignatureVerifier
        /// The serial of the terminal's signing certificate, sent with every request.
        public var serial: String
        /// Client certificate, key and private trust roots; `nil` for plain HTTP (tests, loopback).
        public var tls: TLSConfiguration?
        /// SM4 key for sensitive fields; `nil` sends them in clear (inside TLS).
        public var fieldKey: [UInt8]?

        /// The bank signs its answers in the `cardkiosk-v1` form (bound to the request); false for the
        /// `wechat-v3` form (timestamp, nonce and body only).
        public var boundResponses: Bool

        public init(
            signer: any MessageSigner, bankVerifier: any SignatureVerifier, serial: String, tls: TLSConfiguration? = nil, fieldKey: [UInt8]? = nil,
            boundResponses: Bool = true
        ) {
            self.signer = signer
            self.bankVerifier = bankVerifier
            self.serial = serial
            self.tls = tls
            self.fieldKey = fieldKey
            self.boundResponses = boundResponses
        }
    }

    /// Whether the endpoint's host is this machine: `localhost`, 127.0.0.0/8 or `::1`.
    static func isLoopback(endpoint: String) -> Bool {
        guard let host = URL(string: endpoint)?.host?.lowercased() else { return false }
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        if bare == "localhost" || bare == "::1" { return true }
        var address = in_addr()
        return inet_pton(AF_INET, bare, &address) == 1 && UInt32(bigEndian: address.s_addr) >> 24 == 127
    }

    public init(profile: BankProfile, credentials: Credentials) throws(GatewayConfigurationError) {
        guard let endpoint = profile.endpoint, endpoint.hasPrefix("http://") || endpoint.hasPrefix("https://") else {
            throw GatewayConfigurationError(key: "endpoint", problem: "the http-json gateway needs an http:// or https:// endpoint")
        }
        if endpoint.hasPrefix("http://"), !Self.isLoopback(endpoint: endpoint) {
            throw GatewayConfigurationError(
                key: "endpoint", problem: "\(endpoint) is plain http:// to a host that is not this machine: ID numbers, PANs and PIN blocks would cross the network unencrypted; use https:// (http:// is for a bank simulator on loopback)")
        }
        self.profile = profile
        self.baseURL = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
        self.signer = credentials.signer
        self.verifier = credentials.bankVerifier
        self.serial = credentials.serial
        self.boundResponses = credentials.boundResponses
        self.table = try profile.resultCodeTable()
        if let key = credentials.fieldKey {
            do {
                self.fieldCipher = try SM4FieldCipher(key: key)
            } catch {
                throw GatewayConfigurationError(key: "settings.sm4FieldKey", problem: error.description)
            }
        } else {
            self.fieldCipher = nil
        }
        var configuration = HTTPClient.Configuration(
            tlsConfiguration: credentials.tls,
            timeout: .init(connect: .milliseconds(Int64(profile.timeouts.connectMilliseconds)), read: .milliseconds(Int64(profile.timeouts.responseMilliseconds))))
        configuration.httpVersion = .http1Only
        configuration.connectionPool = .init(idleTimeout: .seconds(30))
        self.clientConfiguration = configuration
        self.clients = Mutex(HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration))
    }

    /// An answer that does not belong to its request (bound to another request, or unsigned) means the
    /// connection it came on is out of step: a stray answer (a duplicate) was queued ahead of ours, and every
    /// later answer on it would be the previous request's. Every pooled connection is dropped with `stale`,
    /// so the next request starts on a fresh one; requests still on them end `unknown`.
    private func replaceClient(_ stale: HTTPClient) {
        let retired = self.clients.withLock { current -> HTTPClient? in
            guard current === stale else { return nil }
            current = HTTPClient(eventLoopGroupProvider: .singleton, configuration: self.clientConfiguration)
            return stale
        }
        if let retired { Task { try? await retired.shutdown() } }
    }

    /// Closes the connection pool.
    public func shutdown() async {
        try? await self.client.shutdown()
    }

    public var capabilities: GatewayCapabilities {
        GatewayCapabilities(
            supportsVerify: true, supportsQuery: true, supportsReversal: true, pinBlockFormat: .iso0TripleDES, macAlgorithm: self.signer.algorithm)
    }

    public func prepare() async -> PrepareOutcome {
        switch await self.call(method: .GET, path: BankWire.activationsPath + "/ck-prepare-probe", key: nil, body: nil) {
        case .answer: return .ready
        case .notSent(let detail): return .unavailable(detail: detail)
        case .failedAfterSending(let detail): return .unavailable(detail: detail)
        }
    }

    public func verifyCardholder(card: CardReference, cardholder: Cardholder, key: IdempotencyKey) async -> VerifyOutcome {
        let body: BankWire.VerifyBody
        do {
            let (id, sealed) = try self.idFields(cardholder.idNumber)
            body = BankWire.VerifyBody(
                terminal: self.profile.terminalID, pan: card.pan, name: cardholder.name, idType: cardholder.idType, idNumber: id, idNumberSealed: sealed)
        } catch {
            return .unavailable(detail: error.description)
        }
        switch await self.call(method: .POST, path: BankWire.verificationsPath, key: key, body: try? JSONEncoder().encode(body)) {
        case .notSent(let detail): return .unavailable(detail: detail)
        case .failedAfterSending(let detail): return .unknown(detail: detail)
        case .answer(let status, let result):
            guard status == 200, let result else { return .unavailable(detail: "HTTP \(status)") }
            switch self.table.classify(result.code) {
            case .approved: return .match
            case .declined(let reason): return .mismatch(reason, bankCode: result.code)
            case .unavailable: return .unavailable(detail: "bank code \(result.code)")
            default: return .unknown(detail: "bank code \(result.code)")
            }
        }
    }

    public func activate(_ request: ActivationRequest) async -> ActivationOutcome {
        let body: BankWire.ActivationBody
        do {
            let (id, sealed) = try self.idFields(request.cardholder.idNumber)
            body = BankWire.ActivationBody(
                key: request.key.value, terminal: request.terminalID, pan: request.card.pan, panSequence: request.card.panSequenceNumber,
                name: request.cardholder.name, idType: request.cardholder.idType, idNumber: id, idNumberSealed: sealed,
                pinBlock: Hex.encode(request.pinBlock.bytes), pinFormat: request.pinBlock.format.rawValue,
                pinKey: request.pinBlock.keyName)
        } catch {
            return .unavailable(detail: "request not built: \(error.description)")
        }
        switch await self.call(method: .POST, path: BankWire.activationsPath, key: request.key, body: try? JSONEncoder().encode(body)) {
        case .notSent(let detail): return .unavailable(detail: detail)
        case .failedAfterSending(let detail): return .unknown(detail: detail)
        case .answer(let status, let result):
            switch status {
            case 200:
                guard let result else { return .unknown(detail: "HTTP 200 without a result body") }
                return self.table.activationOutcome(code: result.code, bankReference: result.bankReference, triesLeft: result.triesLeft)
            case 409: return .unknown(detail: "HTTP 409: the bank is still processing this key")
            case 422: return .unknown(detail: "HTTP 422: the key was used before with a different request")
            // A signed 5xx says the bank's front failed, not that nothing behind it was applied: inquire.
            case 500...599: return .unknown(detail: "HTTP \(status) (signed): the bank failed while it had the request; to be settled by inquiry")
            default: return .unavailable(detail: "HTTP \(status): the bank refused the request")
            }
        }
    }

    public func queryStatus(_ key: IdempotencyKey) async -> StatusOutcome {
        switch await self.call(method: .GET, path: "\(BankWire.activationsPath)/\(key.value)", key: key, body: nil) {
        case .notSent(let detail): return .unavailable(detail: detail)
        case .failedAfterSending(let detail): return .unknown(detail: detail)
        case .answer(let status, let result):
            guard status == 200, let result else { return status >= 500 ? .unavailable(detail: "HTTP \(status)") : .unknown(detail: "HTTP \(status)") }
            switch self.table.classify(result.code) {
            case .approved: return .applied(bankReference: result.bankReference ?? "")
            case .notFound: return .notFound
            case .declined(let reason): return .declined(reason, bankCode: result.code)
            case .unavailable: return .unavailable(detail: "bank code \(result.code)")
            default: return .unknown(detail: "bank code \(result.code)")
            }
        }
    }

    public func reverse(_ key: IdempotencyKey, reason: ReversalReason) async -> ReversalOutcome {
        switch await self.call(method: .POST, path: "\(BankWire.activationsPath)/\(key.value)/reversal", key: key, body: Data("{\"reason\":\"\(reason.rawValue)\"}".utf8)) {
        case .notSent(let detail): return .unavailable(detail: detail)
        case .failedAfterSending(let detail): return .unknown(detail: detail)
        case .answer(let status, let result):
            guard status == 200, let result else { return status >= 500 ? .unavailable(detail: "HTTP \(status)") : .unknown(detail: "HTTP \(status)") }
            switch self.table.classify(result.code) {
            case .approved: return .reversed
            case .notFound: return .notFound
            case .unavailable: return .unavailable(detail: "bank code \(result.code)")
            default: return .unknown(detail: "bank code \(result.code)")
            }
        }
    }

    // MARK: Transport

    enum CallResult {
        /// A verified answer: HTTP status and, when the body is a result, the result.
        case answer(status: Int, result: BankWire.ResultBody?)
        /// Nothing can have reached the bank.
        case notSent(String)
        /// The request may have reached the bank; the answer is missing or not trustworthy.
        case failedAfterSending(String)
    }

    private func idFields(_ idNumber: String) throws(SigningError) -> (String?, String?) {
        guard let cipher = self.fieldCipher else { return (idNumber, nil) }
        return (nil, try cipher.seal(idNumber))
    }

    private func call(method: HTTPMethod, path: String, key: IdempotencyKey?, body: Data?) async -> CallResult {
        let bytes = body.map { Array($0) } ?? []
        let timestamp = Int(Date().timeIntervalSince1970)
        let nonce = BankWire.nonce()
        let signature: [UInt8]
        do {
            signature = try self.signer.sign(SigningString.request(method: method.rawValue, pathAndQuery: path, timestamp: timestamp, nonce: nonce, body: bytes))
        } catch {
            return .notSent("signing failed: \(error.description)")
        }
        let authorization = BankWire.Authorization(
            algorithm: self.signer.algorithm, terminal: self.profile.terminalID, nonce: nonce, timestamp: timestamp, serial: self.serial,
            signature: Data(signature).base64EncodedString())
        var request = HTTPClientRequest(url: self.baseURL + path)
        request.method = method
        request.headers.add(name: "Authorization", value: authorization.header)
        request.headers.add(name: "Accept", value: "application/json")
        if let key { request.headers.add(name: "Idempotency-Key", value: key.value) }
        if !bytes.isEmpty {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: bytes))
        }
        let response: HTTPClientResponse
        let payload: [UInt8]
        let client = self.client
        do {
            response = try await client.execute(request, timeout: .milliseconds(Int64(self.profile.timeouts.responseMilliseconds)))
            payload = Array(buffer: try await response.body.collect(upTo: 1 << 20))
        } catch {
            return Self.classify(error)
        }
        // Only a correctly signed, fresh answer counts.
        guard let time = response.headers.first(name: BankWire.timestampHeader).flatMap(Int.init),
            let answerNonce = response.headers.first(name: BankWire.nonceHeader),
            let signatureText = response.headers.first(name: BankWire.signatureHeader),
            let answerSignature = Data(base64Encoded: signatureText)
        else {
            self.replaceClient(client)
            return .failedAfterSending("HTTP \(response.status.code) answer is not signed: treated as forged")
        }
        let signed =
            self.boundResponses
            ? SigningString.boundResponse(
                status: Int(response.status.code), idempotencyKey: key?.value, requestNonce: nonce, timestamp: time, nonce: answerNonce, body: payload)
            : SigningString.response(timestamp: time, nonce: answerNonce, body: payload)
        guard self.verifier.verify(Array(answerSignature), of: signed) else {
            self.replaceClient(client)
            return .failedAfterSending("HTTP \(response.status.code) answer signature does not verify: treated as forged")
        }
        switch await self.replay.check(timestamp: time, nonce: answerNonce) {
        case .fresh: break
        case .stale(let skew): return .failedAfterSending("answer timestamp is \(skew) s off: refused")
        case .replayed: return .failedAfterSending("answer nonce seen before: replay refused")
        }
        let status = Int(response.status.code)
        let result = try? JSONDecoder().decode(BankWire.ResultBody.self, from: Data(payload))
        if status == 200 && result == nil { return .failedAfterSending("HTTP 200 answer body is malformed") }
        return .answer(status: status, result: result)
    }

    /// Errors before the request can have left are `notSent`; everything else may have reached the bank.
    static func classify(_ error: any Error) -> CallResult {
        if let client = error as? HTTPClientError {
            if client == .connectTimeout || client == .tlsHandshakeTimeout || client == .invalidURL || client == .alreadyShutdown {
                return .notSent("\(client)")
            }
            return .failedAfterSending("\(client)")
        }
        if error is NIOConnectionError { return .notSent("\(error)") }
        // A TLS handshake failure, or the server's refusal of the handshake (a certificate or version alert,
        // which with TLS 1.3 can come after the client wrote the request): the bank's application never
        // receives data on a session its TLS refused. Any other TLS error (an unclean shutdown, a record
        // that does not decrypt) comes after the request went out: it may have been applied.
        if let tls = error as? NIOSSLError, case .handshakeFailed = tls { return .notSent("\(error)") }
        if error is NIOSSLError || error is BoringSSLError {
            let text = "\(error)".uppercased()
            let refusals = ["ALERT_CERTIFICATE", "ALERT_BAD_CERTIFICATE", "ALERT_UNKNOWN_CA", "ALERT_HANDSHAKE_FAILURE", "ALERT_ACCESS_DENIED",
                "ALERT_PROTOCOL_VERSION", "ALERT_INSUFFICIENT_SECURITY", "CERTIFICATE_REQUIRED", "CERTIFICATE_VERIFY_FAILED"]
            return refusals.contains(where: text.contains) ? .notSent("\(error)") : .failedAfterSending("\(error)")
        }
        if let io = error as? IOError, [ECONNREFUSED, ENETUNREACH, EHOSTUNREACH].contains(io.errnoCode) { return .notSent("\(io)") }
        if error is ChannelError, "\(error)".contains("connectTimeout") { return .notSent("\(error)") }
        return .failedAfterSending("\(error)")
    }
}
