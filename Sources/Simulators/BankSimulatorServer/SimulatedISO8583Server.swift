import BankGateway
public import BankSimulator
import Bytes
import Foundation
import Identity
public import ISO8583
import ISO8583Gateway
public import KioskCrypto
import NIOCore
import NIOPosix
import Synchronization

/// The simulated bank's ISO 8583 side: UnionPay-style frames on a TCP port, the messages of
/// ``ISO8583Gateway/ISOWire`` (sign-on, activation, inquiry, reversal), MACs checked and made with the
/// session MAK of each terminal, and every ``BankSimulator/BankFault`` carried out on the wire, plus the
/// ISO ones: reply to the wrong STAN, partial length prefix, reset mid-frame, RC 77.
///
/// Keys: the sign-on delivers a fresh MAK each time and the fixture's PIN key as the PIK (both under the
/// terminal master key), so PIN blocks made under the test PIN key stay valid across re-sign-ons.
public final class SimulatedISO8583Server: Sendable {
    public struct Configuration: Sendable {
        public var host: String
        /// 0 picks a free port; ``start()`` returns the bound one.
        public var port: Int
        public var spec: MessageSpec
        public var frame: FrameFormat
        /// The terminal master key (a test key).
        public var masterKey: [UInt8]
        public var keyAlgorithm: BlockCipher.Algorithm
        public var mac: MACAlgorithm
        public var activationProcessingCode: String
        public var inquiryProcessingCode: String
        /// How late a ``BankSimulator/BankFault/answerAfterTimeout`` answer comes.
        public var lateAnswerDelay: Duration
        /// The SM4 key field 62's sealed ID number and name open under (the profile's `sm4FieldKey`).
        public var fieldKey: [UInt8]?

        public init(
            host: String = "127.0.0.1", port: Int = 0, spec: MessageSpec, frame: FrameFormat = .unionPay, masterKey: [UInt8],
            keyAlgorithm: BlockCipher.Algorithm = .tripleDES, mac: MACAlgorithm = .unionPayECB, activationProcessingCode: String = "990000",
            inquiryProcessingCode: String = "990001", lateAnswerDelay: Duration = .seconds(3)
        ) {
            self.host = host
            self.port = port
            self.spec = spec
            self.frame = frame
            self.masterKey = masterKey
            self.keyAlgorithm = keyAlgorithm
            self.mac = mac
            self.activationProcessingCode = activationProcessingCode
            self.inquiryProcessingCode = inquiryProcessingCode
            self.lateAnswerDelay = lateAnswerDelay
        }
    }

    /// What the server saw, for tests and operators.
    public struct Counters: Hashable, Sendable {
        public var signOns = 0
        public var activations = 0
        public var inquiries = 0
        public var reversals = 0
        /// Requests whose MAC did not verify (answered with RC A0).
        public var badMACs = 0
        /// Frames that were not messages of the spec (connection closed).
        public var garbage = 0
        /// Activations whose ID number and name came sealed (field 62 `SE`).
        public var sealedActivations = 0
    }

    public let bank: SimulatedBank
    public let configuration: Configuration
    private let channel = Mutex<(any Channel)?>(nil)
    private let macKeys = Mutex<[String: [UInt8]]>([:])
    private let counts = Mutex(Counters())

    public init(bank: SimulatedBank, configuration: Configuration) {
        self.bank = bank
        self.configuration = configuration
    }

    public var counters: Counters { self.counts.withLock { $0 } }

    /// Binds and serves; returns the port.
    public func start() async throws -> Int {
        let server = self
        let format = self.configuration.frame
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ISOServerHandler(server: server, format: format))
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

    /// What the handler does with one request frame.
    enum Action: Sendable {
        case send([UInt8])
        case twice([UInt8])
        case late(Duration, [UInt8])
        case hang
        case close
        case reset
        /// Write these bytes, then close (FIN) or reset (RST).
        case partial([UInt8], reset: Bool)
    }

    func handle(_ frame: Frame) async -> Action {
        guard let message = try? ISO8583Codec.decode(frame.message, spec: self.configuration.spec) else {
            self.counts.withLock { $0.garbage += 1 }
            return .close
        }
        let terminal = message[41] ?? ""
        if message.mti == "0800" { return self.signOn(message, frame: frame) }
        guard let macKey = self.macKeys.withLock({ $0[terminal] }) else {
            return self.reply(to: message, frame: frame, code: "A0", macKey: nil)
        }
        guard message[64] != nil, MessageMAC.verifies(frame.message, algorithm: self.configuration.mac, key: macKey)
        else {
            self.counts.withLock { $0.badMACs += 1 }
            return self.reply(to: message, frame: frame, code: "A0", macKey: macKey)
        }
        let data = message[62].flatMap { try? Hex.decode($0) }.flatMap { try? PrivateData(decoding: $0) }
        guard let keyText = data?.text(.key), let key = IdempotencyKey(keyText) else {
            return self.reply(to: message, frame: frame, code: "30", macKey: macKey)
        }
        switch (message.mti, message[3]) {
        case ("0400", _):
            self.counts.withLock { $0.reversals += 1 }
            let fault = await self.bank.nextFault()
            if fault == .noAnswer { return .hang }
            if fault == .serverError { return self.reply(to: message, frame: frame, code: "96", macKey: macKey) }
            let code = await self.bank.reverse(key)
            return await self.carryOut(fault, self.reply(to: message, frame: frame, code: code, macKey: macKey), message: message, frame: frame, macKey: macKey)
        case (_, self.configuration.inquiryProcessingCode):
            self.counts.withLock { $0.inquiries += 1 }
            guard let answer = await self.bank.query(key) else { return self.reply(to: message, frame: frame, code: "96", macKey: macKey) }
            return self.reply(to: message, frame: frame, code: answer.code, reference: answer.bankReference, macKey: macKey)
        case (_, self.configuration.activationProcessingCode):
            self.counts.withLock { $0.activations += 1 }
            // A sealed ID number and name open under the field key; sealed without one, or not opening: format error.
            var fields = data!
            if fields[.sealed] != nil {
                guard let fieldKey = self.configuration.fieldKey, let opened = try? fields.openingSealed(key: fieldKey) else {
                    return self.reply(to: message, frame: frame, code: "30", macKey: macKey)
                }
                fields = opened
            }
            self.counts.withLock { $0.sealedActivations += data![.sealed] != nil ? 1 : 0 }
            return await self.activate(message, data: fields, key: key, frame: frame, macKey: macKey)
        default:
            return self.reply(to: message, frame: frame, code: "12", macKey: macKey)
        }
    }

    private func signOn(_ message: ISO8583Message, frame: Frame) -> Action {
        let terminal = message[41] ?? ""
        var generator = SystemRandomNumberGenerator()
        let macLength = self.configuration.keyAlgorithm == .sm4 || self.configuration.mac == .x919 ? 16 : 8
        let macKey = (0..<macLength).map { _ in UInt8.random(in: 0...255, using: &generator) }
        guard let pinKey = try? Hex.decode(self.bankPINKey),
            let field62 = try? WorkingKeys.signOnField62(pinKey: pinKey, macKey: macKey, masterKey: self.configuration.masterKey, algorithm: self.configuration.keyAlgorithm)
        else { return self.reply(to: message, frame: frame, code: "96", macKey: nil) }
        self.macKeys.withLock { $0[terminal] = macKey }
        self.counts.withLock { $0.signOns += 1 }
        return self.reply(to: message, frame: frame, code: "00", macKey: nil, extra: [60: "00000001003", 62: Hex.encode(field62)])
    }

    private var bankPINKey: String { self.bank.fixture.pinKey }

    private func activate(_ message: ISO8583Message, data: PrivateData, key: IdempotencyKey, frame: Frame, macKey: [UInt8]) async -> Action {
        let fault = await self.bank.nextFault()
        switch fault {
        case .noAnswer: return .hang
        case .connectionReset: return .reset
        case .serverError: return self.reply(to: message, frame: frame, code: "96", macKey: macKey)
        case .resignOnRequired: return self.reply(to: message, frame: frame, code: "77", macKey: macKey)
        case .delay: try? await Task.sleep(for: await self.bank.faultDelay)
        default: break
        }
        let holder = Cardholder(
            idNumber: data.text(.idNumber) ?? "", name: data[.name].flatMap { try? GB18030.decode($0) } ?? "",
            idType: data.text(.idType).flatMap { Int($0) } ?? 0)
        let request = ActivationRequest(
            key: key, card: CardReference(pan: message[2] ?? ""), cardholder: holder,
            pinBlock: EncryptedPINBlock(
                format: self.configuration.keyAlgorithm == .sm4 ? .iso0SM4 : .iso0TripleDES, keyName: "PIK", bytes: (try? Hex.decode(message[52] ?? "")) ?? []),
            terminalID: message[41] ?? "")
        let answer: Action
        switch await self.bank.activate(request) {
        case .result(let code, let reference, let tries):
            answer = self.reply(to: message, frame: frame, code: code, reference: reference, triesLeft: tries, macKey: macKey)
        case .inFlight: answer = self.reply(to: message, frame: frame, code: "09", macKey: macKey)
        case .keyReused: answer = self.reply(to: message, frame: frame, code: "94", macKey: macKey)
        }
        return await self.carryOut(fault, answer, message: message, frame: frame, macKey: macKey)
    }

    /// The post-processing faults: the request was applied, what goes back is damaged or late.
    private func carryOut(_ fault: BankFault?, _ answer: Action, message: ISO8583Message, frame: Frame, macKey: [UInt8]) async -> Action {
        guard case .send(let bytes) = answer else { return answer }
        switch fault {
        case .dropAfterApplying: return .close
        case .answerAfterTimeout: return .late(self.configuration.lateAnswerDelay, bytes)
        case .duplicateAnswer: return .twice(bytes)
        case .malformedBody:
            return (try? Frame(tpdu: frame.replyTPDU, header: frame.header, message: [0x01, 0x10, 0xFF, 0x00]).encoded(self.configuration.frame)).map { .send($0) } ?? .close
        case .badSignature:
            var damaged = bytes
            damaged[damaged.count - 1] ^= 0x01
            return .send(damaged)
        case .unsignedAnswer:
            guard var reply = try? ISO8583Codec.decode(Array(bytes.dropFirst(2 + frame.tpdu.count + frame.header.count)), spec: self.configuration.spec) else { return .close }
            reply[64] = nil
            return (try? self.frameBytes(reply, frame: frame, macKey: nil)).map { .send($0) } ?? .close
        case .wrongSTAN:
            guard var reply = try? ISO8583Codec.decode(Array(bytes.dropFirst(2 + frame.tpdu.count + frame.header.count)), spec: self.configuration.spec) else { return .close }
            reply[11] = String(format: "%06d", ((Int(reply[11] ?? "") ?? 0) + 1) % 1_000_000)
            return (try? self.frameBytes(reply, frame: frame, macKey: macKey)).map { .send($0) } ?? .close
        case .partialLengthPrefix: return .partial(Array(bytes.prefix(1)), reset: false)
        case .resetMidFrame: return .partial(Array(bytes.prefix(bytes.count / 2)), reset: true)
        default: return answer
        }
    }

    private func reply(
        to message: ISO8583Message, frame: Frame, code: String, reference: String? = nil, triesLeft: Int? = nil, macKey: [UInt8]?,
        extra: [Int: String] = [:]
    ) -> Action {
        let stamp = TerminalState.stamp(Date())
        var reply = ISO8583Message(mti: ISOWire.replyMTI(message.mti))
        for field in [2, 3, 11, 41, 42, 60] { reply[field] = message[field] }
        reply[2] = nil
        reply[12] = stamp.time
        reply[13] = stamp.date
        reply[39] = code
        if let reference { reply[37] = reference.padding(toLength: 12, withPad: " ", startingAt: 0) }
        var data = PrivateData()
        if let keyText = message[62].flatMap({ try? Hex.decode($0) }).flatMap({ try? PrivateData(decoding: $0) })?.text(.key) {
            data.set(.key, text: keyText)
        }
        if let triesLeft { data.set(.triesLeft, text: String(triesLeft)) }
        if !data.values.isEmpty { reply[62] = Hex.encode(data.encoded()) }
        for (field, value) in extra { reply[field] = value }
        guard let bytes = try? self.frameBytes(reply, frame: frame, macKey: macKey) else { return .close }
        return .send(bytes)
    }

    private func frameBytes(_ message: ISO8583Message, frame: Frame, macKey: [UInt8]?) throws -> [UInt8] {
        var message = message
        let body: [UInt8]
        if let macKey {
            body = try MessageMAC.encode(message, spec: self.configuration.spec, algorithm: self.configuration.mac, key: macKey)
        } else {
            message[64] = nil
            body = try ISO8583Codec.encode(message, spec: self.configuration.spec)
        }
        return try Frame(tpdu: frame.replyTPDU, header: frame.header, message: body).encoded(self.configuration.frame)
    }

}
