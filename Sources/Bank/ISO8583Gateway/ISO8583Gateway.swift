public import BankGateway
import Bytes
public import Foundation
import Identity
import KioskCrypto
public import ISO8583
import Synchronization

/// A reply that arrived when nobody waited for it: after its request timed out, a duplicate, or one for
/// a STAN this terminal is not waiting on. The gateway consumes it (it never answers another request)
/// and reports it; a late activation answer is kept and used by ``ISO8583Gateway/queryStatus(_:)``.
public struct LateReply: Hashable, Sendable, CustomStringConvertible {
    public var mti: String
    public var stan: String
    public var terminalID: String
    public var responseCode: String?
    /// The activation it belongs to, when the reply names it or its STAN is on record.
    public var key: String?
    public var bankReference: String?
    /// Why it is a stray rather than an answer.
    public var note: String

    public var description: String {
        "late/stray \(self.mti) TID \(self.terminalID) STAN \(self.stan) RC \(self.responseCode ?? "-") key \(self.key ?? "?"): \(self.note)"
    }
}

/// The `iso8583` gateway: UnionPay-style ISO 8583 over TCP (`gateway.md` §1): sign-on with working keys
/// under the terminal master key (check values verified), MACs on every financial message, STANs unique
/// per terminal per day and persisted, replies matched by terminal ID + STAN, reversals repeated until
/// answered.
///
/// Outcome rules, as for every gateway: nothing sent → `unavailable`; sent and no trustworthy answer →
/// `unknown`. RC 77 (and any code the table calls `resignOn`) or a reply whose MAC fails triggers one
/// sign-on and one retry of the same request (same key, same STAN: the bank answers a retransmission
/// from its ledger); a second failure is `unknown`.
public final class ISO8583Gateway: BankGateway {
    public let profile: BankProfile
    public let settings: ISOSettings
    public let state: TerminalState
    private let wire: ISOWire
    private let table: ResultCodeTable
    private let link: ISOLink
    private let keys = Mutex<WorkingKeys?>(nil)
    /// The PIN key of the last sign-on, encrypted as the host sent it, and who waits for the next ones.
    private let pinKeys = Mutex<(latest: PINKeyDelivery?, next: Int, subscribers: [Int: AsyncStream<PINKeyDelivery>.Continuation])>((nil, 0, [:]))
    private let inFlight = Mutex<Set<String>>([])
    private let late = Mutex<[String: LateReply]>([:])
    private let lateContinuation: AsyncStream<LateReply>.Continuation
    /// Replies nobody waited for, as they arrive (also logged by whoever listens).
    public let lateReplies: AsyncStream<LateReply>

    public init(profile: BankProfile, stateClock: @escaping @Sendable () -> Date = { Date() }) throws(GatewayConfigurationError) {
        let settings = try ISOSettings(profile: profile)
        self.profile = profile
        self.settings = settings
        self.table = try profile.resultCodeTable()
        do {
            self.state = try TerminalState(path: settings.stateFile, terminalID: settings.terminalID, clock: stateClock)
        } catch {
            throw GatewayConfigurationError(key: "settings.stateFile", problem: error.description)
        }
        let wire = ISOWire(settings: settings)
        self.wire = wire
        (self.lateReplies, self.lateContinuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(256))
        let strays = StrayBox()
        self.link = ISOLink(
            host: settings.host, port: settings.port, format: settings.frame, connectTimeout: profile.timeouts.connect,
            matcher: { frame throws(ISO8583GatewayError) in
                let message = try wire.decode(frame.message, macKey: nil)
                guard let stan = message[11], let terminal = message[41] else { throw .malformedReply("a reply without field 11 or 41") }
                return Correlation(terminalID: terminal, stan: stan, replyMTI: message.mti)
            },
            onStray: { frame in strays.gateway?.stray(frame) })
        strays.gateway = self
    }

    deinit { self.lateContinuation.finish() }

    public var capabilities: GatewayCapabilities {
        GatewayCapabilities(
            supportsVerify: false, supportsQuery: self.settings.inquiryProcessingCode != nil, supportsReversal: self.settings.supportsReversal,
            pinBlockFormat: self.settings.keyAlgorithm == .sm4 ? .iso0SM4 : .iso0TripleDES, macAlgorithm: self.settings.mac.rawValue)
    }

    /// Closes the connection to the host.
    public func shutdown() async {
        let subscribers = self.pinKeys.withLock { state in
            defer { state.subscribers.removeAll() }
            return Array(state.subscribers.values)
        }
        for subscriber in subscribers { subscriber.finish() }
        await self.link.close()
    }

    /// The working keys of the last sign-on (the PIN key goes to the PIN pad), if signed on.
    public var workingKeys: WorkingKeys? { self.keys.withLock { $0 } }

    // MARK: Sign-on

    public func prepare() async -> PrepareOutcome {
        switch await self.signOn() {
        case .success: .ready
        case .failure(let error): .unavailable(detail: error.description)
        }
    }

    /// 0800 → 0810: new working keys, their check values verified, and the host's batch number.
    func signOn() async -> Result<WorkingKeys, ISO8583GatewayError> {
        let stan: String
        let bytes: [UInt8]
        do {
            let allocated = try await self.state.nextSTAN()
            stan = allocated.stan
            bytes = try self.wire.frame(try self.wire.encode(self.wire.signOn(stan: stan, batch: self.state.batch), macKey: nil))
        } catch {
            return .failure(error)
        }
        let correlation = Correlation(terminalID: self.settings.terminalID, stan: stan, replyMTI: "0810")
        let reply: ISO8583Message
        switch await self.link.exchange(bytes, correlation: correlation, timeout: self.profile.timeouts.response) {
        case .failure(let error): return .failure(.signOn(error.description))
        case .success(let frame):
            do { reply = try self.wire.decode(frame.message, macKey: nil) } catch { return .failure(.signOn(error.description)) }
        }
        guard reply[39] == "00" else { return .failure(.signOn("the host refused sign-on with RC \(reply[39] ?? "none")")) }
        guard let field62 = reply[62], let keyBytes = try? Hex.decode(field62) else { return .failure(.signOn("the 0810 carries no keys (field 62)")) }
        do {
            let keys = try WorkingKeys(signOnField62: keyBytes, masterKey: self.settings.masterKey, algorithm: self.settings.keyAlgorithm)
            if let sixty = reply[60], sixty.count >= 8 { try? await self.state.setBatch(String(sixty.dropFirst(2).prefix(6))) }
            self.keys.withLock { $0 = keys }
            // The PIK as the host sent it (under the terminal master key) and its check value, for the EPP.
            let delivery = PINKeyDelivery(encrypted: Array(keyBytes[0..<16]), checkValue: Array(keyBytes[16..<20]))
            let subscribers = self.pinKeys.withLock { state in
                state.latest = delivery
                return Array(state.subscribers.values)
            }
            for subscriber in subscribers { subscriber.yield(delivery) }
            return .success(keys)
        } catch {
            self.keys.withLock { $0 = nil }
            return .failure(.signOn(error.description))
        }
    }

    /// The PIN key of every sign-on (the latest at once), for the EPP to import under its master key.
    public func pinKeyDeliveries() -> AsyncStream<PINKeyDelivery> {
        let (stream, continuation) = AsyncStream.makeStream(of: PINKeyDelivery.self, bufferingPolicy: .bufferingNewest(1))
        let id = self.pinKeys.withLock { state -> Int in
            state.next += 1
            state.subscribers[state.next] = continuation
            if let latest = state.latest { continuation.yield(latest) }
            return state.next
        }
        continuation.onTermination = { [weak self] _ in _ = self?.pinKeys.withLock { $0.subscribers.removeValue(forKey: id) } }
        return stream
    }

    private func currentKeys() async -> Result<WorkingKeys, ISO8583GatewayError> {
        if let keys = self.keys.withLock({ $0 }) { return .success(keys) }
        return await self.signOn()
    }

    // MARK: Activation

    public func verifyCardholder(card: CardReference, cardholder: Cardholder, key: IdempotencyKey) async -> VerifyOutcome {
        .unavailable(detail: "the iso8583 gateway has no cardholder verification message")
    }

    public func activate(_ request: ActivationRequest) async -> ActivationOutcome {
        guard self.inFlight.withLock({ $0.insert(request.key.value).inserted }) else {
            return .unknown(detail: "an activation with key \(request.key) is already in flight on this terminal; not sent again")
        }
        defer { _ = self.inFlight.withLock { $0.remove(request.key.value) } }
        let original: OriginalRecord
        do {
            original = try await self.state.original(for: request.key.value) { stan, stamp, batch in
                var record = OriginalRecord(
                    key: request.key.value, mti: self.settings.activationMTI, processingCode: self.settings.activationProcessingCode, stan: stan,
                    date: stamp.date, time: stamp.time, batch: batch, maskedPAN: Masking.pan(request.card.pan), day: stamp.day)
                record.tracked = true
                return record
            }
        } catch {
            return .unavailable(detail: error.description)
        }
        let message: ISO8583Message
        do { message = try self.wire.activation(request, original: original) } catch { return .unavailable(detail: error.description) }
        switch await self.send(message, stan: original.stan) {
        case .failure(let error):
            return error.nothingSent ? .unavailable(detail: error.description) : .unknown(detail: error.description)
        case .success(let reply):
            let code = reply[39] ?? ""
            let tries = reply[62].flatMap { try? Hex.decode($0) }.flatMap { try? PrivateData(decoding: $0) }?.text(.triesLeft).flatMap { Int($0) }
            return self.table.activationOutcome(code: code, bankReference: reply[37]?.trimmingCharacters(in: .whitespaces), triesLeft: tries)
        }
    }

    /// Sends a MACed request and returns a reply whose MAC verified. RC `resignOn` or a bad MAC: sign on
    /// again and send the same bytes' message once more (a fresh MAC under the new key).
    private func send(_ message: ISO8583Message, stan: String) async -> Result<ISO8583Message, ISO8583GatewayError> {
        var lastProblem: ISO8583GatewayError?
        for attempt in 0..<2 {
            let keys: WorkingKeys
            switch attempt == 0 ? await self.currentKeys() : await self.signOn() {
            case .success(let current): keys = current
            case .failure(let error):
                // Sign-on itself failed: on the first attempt nothing was sent; on the retry the first
                // request went out and its answer was not trustworthy.
                return .failure(lastProblem == nil ? .notSent(error.description) : .noAnswer("re-sign-on after \(lastProblem!) failed: \(error)"))
            }
            let bytes: [UInt8]
            do { bytes = try self.wire.frame(try self.wire.encode(message, macKey: keys.macKey)) } catch { return .failure(error) }
            let correlation = Correlation(terminalID: self.settings.terminalID, stan: stan, replyMTI: ISOWire.replyMTI(message.mti))
            switch await self.link.exchange(bytes, correlation: correlation, timeout: self.profile.timeouts.response) {
            case .failure(let error):
                // Not sent on the retry still means the first attempt was sent.
                if error.nothingSent, let lastProblem { return .failure(.noAnswer("retry not sent (\(error)) after \(lastProblem)")) }
                return .failure(error)
            case .success(let frame):
                do {
                    let reply = try self.wire.decode(frame.message, macKey: keys.macKey)
                    if case .resignOn = self.table.classify(reply[39] ?? "") {
                        lastProblem = .signOn("the bank answered RC \(reply[39] ?? "") (keys out of step): sign on again")
                        continue
                    }
                    return .success(reply)
                } catch {
                    if case .badMAC = error {
                        lastProblem = error
                        continue
                    }
                    return .failure(error)
                }
            }
        }
        return .failure(.noAnswer("still \(lastProblem.map { "\($0)" } ?? "failing") after re-sign-on"))
    }

    // MARK: Inquiry and reversal

    static func noOriginal(_ key: IdempotencyKey) -> String {
        "the terminal state holds no original for \(key) (never sent, or the state file was lost): check it with the bank and settle it by hand"
    }

    /// The journal settled `key`: its original may go after the retention days.
    public func settled(_ key: IdempotencyKey) async { try? await self.state.markSettled(key.value) }

    public func queryStatus(_ key: IdempotencyKey) async -> StatusOutcome {
        if let answer = self.late.withLock({ $0[key.value] }), let code = answer.responseCode, answer.mti == ISOWire.replyMTI(self.settings.activationMTI) {
            switch self.table.classify(code) {
            case .approved: return .applied(bankReference: answer.bankReference ?? "")
            case .declined(let reason): return .declined(reason, bankCode: code)
            default: break
            }
        }
        // No original: never allocated (nothing sent), or the state file was lost or replaced; which one is
        // not known here, so never "not found".
        guard let original = self.state.original(for: key.value) else { return .unknown(detail: Self.noOriginal(key)) }
        guard let processingCode = self.settings.inquiryProcessingCode else { return .unavailable(detail: "this bank profile has no inquiry") }
        let stan: String
        let stamp: TerminalState.Stamp
        do { (stan, stamp) = try await self.state.nextSTAN() } catch { return .unavailable(detail: error.description) }
        let message = self.wire.inquiry(original: original, stan: stan, date: stamp.date, time: stamp.time, processingCode: processingCode)
        switch await self.send(message, stan: stan) {
        case .failure(let error): return error.nothingSent ? .unavailable(detail: error.description) : .unknown(detail: error.description)
        case .success(let reply):
            let code = reply[39] ?? ""
            switch self.table.classify(code) {
            case .approved: return .applied(bankReference: reply[37]?.trimmingCharacters(in: .whitespaces) ?? "")
            case .notFound: return .notFound
            case .declined(let reason): return .declined(reason, bankCode: code)
            case .unavailable: return .unavailable(detail: "bank code \(code)")
            case .pinError, .resignOn, .unknown: return .unknown(detail: "inquiry answered with bank code \(code)")
            }
        }
    }

    /// Sends the 0400 with the original's identifiers, again and again (up to `reversalAttempts`) until
    /// the host answers. `00` reversed; RC 25 means the original was never applied.
    public func reverse(_ key: IdempotencyKey, reason: ReversalReason) async -> ReversalOutcome {
        guard self.settings.supportsReversal else { return .unavailable(detail: "this bank profile has no reversal") }
        guard let original = self.state.original(for: key.value) else { return .unknown(detail: Self.noOriginal(key)) }
        let message = self.wire.reversal(original: original, reason: reason)
        var last = "no attempt"
        for attempt in 0..<self.settings.reversalAttempts {
            if attempt > 0 { try? await Task.sleep(for: .milliseconds(200 << min(attempt - 1, 4))) }
            switch await self.send(message, stan: original.stan) {
            case .success(let reply):
                let code = reply[39] ?? ""
                switch self.table.classify(code) {
                case .approved: return .reversed
                case .notFound: return .notFound
                default: last = "answered with bank code \(code)"
                }
            case .failure(let error):
                last = error.description
            }
        }
        return .unknown(detail: "reversal not answered after \(self.settings.reversalAttempts) attempts: \(last)")
    }

    // MARK: Strays

    fileprivate func stray(_ frame: Frame) {
        guard let message = try? self.wire.decode(frame.message, macKey: nil) else { return }
        let data = message[62].flatMap { try? Hex.decode($0) }.flatMap { try? PrivateData(decoding: $0) }
        let stan = message[11] ?? ""
        var key = data?.text(.key)
        if key == nil, let date = message[13] { key = self.state.key(stan: stan, date: date) }
        var verified = false
        if let macKey = self.keys.withLock({ $0?.macKey }), (try? self.wire.decode(frame.message, macKey: macKey)) != nil { verified = true }
        let reply = LateReply(
            mti: message.mti, stan: stan, terminalID: message[41] ?? "", responseCode: message[39], key: key,
            bankReference: message[37]?.trimmingCharacters(in: .whitespaces),
            note: verified ? "no request was waiting (late or duplicate)" : "no request was waiting; MAC not verified, kept for the record only")
        if verified, let key, reply.mti == ISOWire.replyMTI(self.settings.activationMTI), message[3] == self.settings.activationProcessingCode {
            self.late.withLock { $0[key] = reply }
        }
        self.lateContinuation.yield(reply)
    }
}

/// Lets the link's stray callback reach the gateway without a retain cycle.
private final class StrayBox: @unchecked Sendable {
    // Set once in the gateway's initialiser, before the link can receive anything.
    weak var gateway: ISO8583Gateway?
}

extension GatewayRegistry {
    /// Registers the `iso8583` kind.
    public mutating func registerISO8583() {
        self.register(kind: "iso8583") { profile throws(GatewayConfigurationError) in try ISO8583Gateway(profile: profile) }
    }
}
