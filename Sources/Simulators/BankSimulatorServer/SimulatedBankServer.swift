import BankGateway
public import BankHTTP
public import BankSimulator
import Bytes
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
public import NIOSSL
import Synchronization

/// The simulated bank's HTTP side: real HTTP/1.1 on a TCP port (TLS with client certificates when
/// configured), speaking ``BankHTTP/BankWire`` with signed answers, checking the terminal's signatures,
/// timestamps and nonces, and turning each injected ``BankSimulator/BankFault`` into what goes over the
/// wire (no answer, a late answer, a dropped or reset connection, a 503, a malformed or badly signed body,
/// an answer sent twice). `GET /sim/ledger` lists the ledger (operators, tests).
public final class SimulatedBankServer: Sendable {
    public struct Configuration: Sendable {
        public var host: String
        /// 0 picks a free port; ``start()`` returns the bound one.
        public var port: Int
        /// The bank's signing key.
        public var signer: any MessageSigner
        public var serial: String
        /// Checks the terminal's request signatures.
        public var terminalVerifier: any SignatureVerifier
        /// Server certificate, key, and the roots client certificates must chain to; `nil` for plain HTTP.
        public var tls: TLSConfiguration?
        /// SM4 key for sealed fields.
        public var fieldKey: [UInt8]?
        /// How late a ``BankFault/answerAfterTimeout`` answer comes.
        public var lateAnswerDelay: Duration
        /// Answers are signed in the `cardkiosk-v1` form (bound to the request); false: `wechat-v3`.
        public var boundResponses = true

        public init(
            host: String = "127.0.0.1", port: Int = 0, signer: any MessageSigner, serial: String = "SIMBANK-1",
            terminalVerifier: any SignatureVerifier, tls: TLSConfiguration? = nil, fieldKey: [UInt8]? = nil,
            lateAnswerDelay: Duration = .seconds(3)
        ) {
            self.host = host
            self.port = port
            self.signer = signer
            self.serial = serial
            self.terminalVerifier = terminalVerifier
            self.tls = tls
            self.fieldKey = fieldKey
            self.lateAnswerDelay = lateAnswerDelay
        }
    }

    public let bank: SimulatedBank
    public let configuration: Configuration
    let replay = ReplayGuard()
    private let channel = Mutex<(any Channel)?>(nil)

    public init(bank: SimulatedBank, configuration: Configuration) {
        self.bank = bank
        self.configuration = configuration
    }

    /// Binds and serves; returns the port.
    public func start() async throws -> Int {
        let sslContext = try self.configuration.tls.map { try NIOSSLContext(configuration: $0) }
        let server = self
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let sslContext {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: sslContext))
                    }
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withPipeliningAssistance: false, withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(BankRequestHandler(server: server))
                }
            }
        let channel = try await bootstrap.bind(host: self.configuration.host, port: self.configuration.port).get()
        self.channel.withLock { $0 = channel }
        return channel.localAddress?.port ?? self.configuration.port
    }

    public func stop() async {
        let channel = self.channel.withLock { channel -> (any Channel)? in
            defer { channel = nil }
            return channel
        }
        try? await channel?.close()
    }

    // MARK: Requests

    /// What the handler does with one request.
    enum Reply: Sendable {
        case respond(status: HTTPResponseStatus, body: [UInt8], signature: SignatureMode)
        case twice(status: HTTPResponseStatus, body: [UInt8])
        case late(Duration, status: HTTPResponseStatus, body: [UInt8])
        /// Keep the connection open and never answer.
        case hang
        case close
        case reset
    }

    enum SignatureMode: Sendable { case valid, wrong, none }

    func handle(method: HTTPMethod, uri: String, headers: HTTPHeaders, body: [UInt8]) async -> Reply {
        if method == .GET && uri == "/sim/ledger" {
            let ledger = await self.bank.ledger()
            return .respond(status: .ok, body: Array((try? JSONEncoder().encode(ledger)) ?? Data()), signature: .none)
        }
        // The terminal's signature, timestamp and nonce.
        guard let authorization = headers.first(name: "Authorization").flatMap(BankWire.Authorization.init(header:)),
            let signature = Data(base64Encoded: authorization.signature),
            self.configuration.terminalVerifier.verify(
                Array(signature),
                of: SigningString.request(method: method.rawValue, pathAndQuery: uri, timestamp: authorization.timestamp, nonce: authorization.nonce, body: body))
        else { return self.result(.unauthorized, code: "A0", message: "request signature missing or invalid") }
        switch await self.replay.check(timestamp: authorization.timestamp, nonce: authorization.nonce) {
        case .fresh: break
        case .stale: return self.result(.unauthorized, code: "A1", message: "request timestamp outside the window")
        case .replayed: return self.result(.unauthorized, code: "A2", message: "request nonce replayed")
        }
        let fault = await self.bank.nextFault()
        let path = uri.split(separator: "?").first.map(String.init) ?? uri
        let parts = path.split(separator: "/").map(String.init)  // ["v1", "activations", key?, "reversal"?]
        switch (method, parts.count) {
        case (.POST, 2) where path == BankWire.activationsPath:
            return await self.activate(headers: headers, body: body, fault: fault)
        case (.GET, 3) where parts[1] == "activations":
            if fault == .serverError { return self.result(.serviceUnavailable, code: "96") }
            guard let key = IdempotencyKey(parts[2]) else { return self.result(.badRequest, code: "30", message: "bad key") }
            guard let answer = await self.bank.query(key) else { return self.result(.conflict, code: "09", message: "in flight") }
            return self.result(.ok, code: answer.code, reference: answer.bankReference)
        case (.POST, 4) where parts[1] == "activations" && parts[3] == "reversal":
            if fault == .serverError { return self.result(.serviceUnavailable, code: "96") }
            guard let key = IdempotencyKey(parts[2]) else { return self.result(.badRequest, code: "30", message: "bad key") }
            return self.result(.ok, code: await self.bank.reverse(key))
        case (.POST, 2) where path == BankWire.verificationsPath:
            guard let verify = try? JSONDecoder().decode(BankWire.VerifyBody.self, from: Data(body)) else {
                return self.result(.badRequest, code: "30", message: "malformed body")
            }
            let rule = self.bank.fixture.rules.first { $0.pan == verify.pan }
            return self.result(.ok, code: rule?.code ?? "00")
        default:
            return self.result(.notFound, code: "40", message: "no such route")
        }
    }

    private func activate(headers: HTTPHeaders, body: [UInt8], fault: BankFault?) async -> Reply {
        guard let wire = try? JSONDecoder().decode(BankWire.ActivationBody.self, from: Data(body)),
            let key = IdempotencyKey(wire.key), headers.first(name: "Idempotency-Key") == wire.key
        else { return self.result(.badRequest, code: "30", message: "malformed body or Idempotency-Key mismatch") }
        var idNumber = wire.idNumber
        if let sealed = wire.idNumberSealed {
            guard let key = self.configuration.fieldKey, let cipher = try? SM4FieldCipher(key: key), let opened = try? cipher.open(sealed) else {
                return self.result(.badRequest, code: "30", message: "sealed field does not open")
            }
            idNumber = opened
        }
        guard let pinBytes = try? Hex.decode(wire.pinBlock) else {
            return self.result(.badRequest, code: "30", message: "PIN block is not hex")
        }
        let request = ActivationRequest(
            key: key, card: CardReference(pan: wire.pan, panSequenceNumber: wire.panSequence),
            cardholder: Cardholder(idNumber: idNumber ?? "", name: wire.name, idType: wire.idType),
            pinBlock: EncryptedPINBlock(format: PINBlockFormat(rawValue: wire.pinFormat) ?? .iso0TripleDES, keyName: wire.pinKey, bytes: pinBytes),
            terminalID: wire.terminal)
        switch fault {
        case .serverError: return self.result(.serviceUnavailable, code: "96", message: "simulated outage: nothing applied")
        case .noAnswer: return .hang
        case .connectionReset: return .reset
        default: break
        }
        if fault == .delay { try? await Task.sleep(for: await self.bank.faultDelay) }
        let answer = await self.bank.activate(request)
        let reply: Reply
        switch answer {
        case .result(let code, let reference, let tries): reply = self.result(.ok, code: code, reference: reference, tries: tries)
        case .inFlight: reply = self.result(.conflict, code: "09", message: "in flight")
        case .keyReused: reply = self.result(.unprocessableEntity, code: "94", message: "key reused with a different request")
        }
        guard case .respond(let status, let bytes, _) = reply else { return reply }
        switch fault {
        case .dropAfterApplying: return .close
        case .answerAfterTimeout: return .late(self.configuration.lateAnswerDelay, status: status, body: bytes)
        case .malformedBody: return .respond(status: status, body: Array("{\"code\": \"00\", \"bankRef".utf8), signature: .valid)
        case .badSignature: return .respond(status: status, body: bytes, signature: .wrong)
        case .unsignedAnswer: return .respond(status: status, body: bytes, signature: .none)
        case .duplicateAnswer: return .twice(status: status, body: bytes)
        default: return reply
        }
    }

    private func result(_ status: HTTPResponseStatus, code: String, reference: String? = nil, tries: Int? = nil, message: String? = nil) -> Reply {
        let body = BankWire.ResultBody(code: code, bankReference: reference, triesLeft: tries, message: message)
        return .respond(status: status, body: Array((try? JSONEncoder().encode(body)) ?? Data()), signature: .valid)
    }

    /// What an answer is bound to: the request's idempotency key and nonce.
    struct Binding: Sendable {
        var idempotencyKey: String?
        var requestNonce: String

        init(headers: HTTPHeaders) {
            self.idempotencyKey = headers.first(name: "Idempotency-Key")
            self.requestNonce = headers.first(name: "Authorization").flatMap(BankWire.Authorization.init(header:))?.nonce ?? "-"
        }
    }

    /// Response headers with the bank's signature (``SigningString/boundResponse`` or, configured so,
    /// ``SigningString/response``).
    func signedHeaders(status: HTTPResponseStatus, body: [UInt8], mode: SignatureMode, binding: Binding) -> HTTPHeaders {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: String(body.count))
        guard mode != .none else { return headers }
        let timestamp = Int(Date().timeIntervalSince1970)
        let nonce = BankWire.nonce()
        var signed =
            self.configuration.boundResponses
            ? SigningString.boundResponse(
                status: Int(status.code), idempotencyKey: binding.idempotencyKey, requestNonce: binding.requestNonce, timestamp: timestamp, nonce: nonce, body: body)
            : SigningString.response(timestamp: timestamp, nonce: nonce, body: body)
        if mode == .wrong { signed += [0x00] }
        let signature = (try? self.configuration.signer.sign(signed)) ?? []
        headers.add(name: BankWire.timestampHeader, value: String(timestamp))
        headers.add(name: BankWire.nonceHeader, value: nonce)
        headers.add(name: BankWire.signatureHeader, value: Data(signature).base64EncodedString())
        headers.add(name: BankWire.serialHeader, value: self.configuration.serial)
        return headers
    }
}
