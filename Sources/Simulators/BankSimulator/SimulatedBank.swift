public import BankGateway
import Bytes
import Foundation
import Identity
import KioskCrypto

/// The simulated bank: a product feature (demo, kiosk-UI development, acceptance tests at an outlet) and
/// the adversary of the reliability tests. It keeps a ledger of effects per idempotency key and answers
/// duplicates from it; outcomes come from fixture rules (card or ID number → result code); faults are
/// injected per request or as a rate. Transports (in-process, HTTP, ISO 8583) sit on top of it.
public actor SimulatedBank {
    /// Outcome rules and keys, from a fixture file.
    public struct Fixture: Codable, Sendable, Hashable {
        /// The code for requests no rule matches.
        public var defaultCode: String = "00"
        public var rules: [Rule] = []
        /// The 3DES key PIN blocks are encrypted under (hex; a test key, never a real one).
        public var pinKey: String = "0123456789ABCDEFFEDCBA9876543210"
        /// How long the bank takes to process, in milliseconds.
        public var processingMilliseconds: Int = 0

        public struct Rule: Codable, Sendable, Hashable {
            public var pan: String?
            public var idNumber: String?
            public var code: String
            public var triesLeft: Int?

            public init(pan: String? = nil, idNumber: String? = nil, code: String, triesLeft: Int? = nil) {
                self.pan = pan
                self.idNumber = idNumber
                self.code = code
                self.triesLeft = triesLeft
            }
        }

        public init() {}

        /// The published TEST terminal master key that the simulated EPP (`kiosk-epp-sim` without `--keys`) holds
        /// and the in-process simulated bank encrypts its PIN key under. Never a real key: production refuses it.
        public static let testMasterKey = "13579BDF02468ACEECA86420FDB97531"

        /// The profile settings that hand this fixture's PIN key to the EPP: the key encrypted under
        /// `masterKey` (3DES ECB) and its 4-byte check value (`PINKeyDelivery(profile:)`).
        public func pinKeySettings(masterKey: [UInt8]) -> [String: String] {
            guard let key = try? Hex.decode(self.pinKey), let master = try? BlockCipher(.tripleDES, key: masterKey),
                let encrypted = try? master.encrypt(key), let check = try? BlockCipher(.tripleDES, key: key).encrypt([UInt8](repeating: 0, count: 8))
            else { return [:] }
            return ["pinKeyUnderMasterKey": Hex.encode(encrypted), "pinKeyCheckValue": Hex.encode(Array(check.prefix(4)))]
        }

        public static func load(path: String) throws -> Fixture {
            try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        }
    }

    /// What one key did at the bank.
    public struct LedgerEntry: Codable, Sendable, Hashable {
        public enum State: String, Codable, Sendable { case inFlight, applied, declined, reversed }
        public var key: String
        public var requestDigest: String
        public var state: State
        public var code: String
        public var bankReference: String?
        /// How many times the activation was applied (must never exceed 1).
        public var effects: Int
        /// Requests received with this key (duplicates included).
        public var requests: Int
        public var maskedPAN: String
        /// The cardholder's document type and number (masked) as the request carried them.
        public var holderIDType: Int?
        public var maskedHolderID: String?
    }

    /// The bank's answer to one activation request.
    public enum Answer: Hashable, Sendable {
        case result(code: String, bankReference: String?, triesLeft: Int?)
        /// The same key is being processed (HTTP 409).
        case inFlight
        /// The same key came with a different request (HTTP 422).
        case keyReused
    }

    /// The simulator's result codes and their meaning (its profile uses this table).
    public static let resultCodes: [String: String] = [
        "00": "approved", "N1": "declined.notEnabledByBureau", "A1": "declined.alreadyActivated", "41": "declined.lostStolenOrFrozen",
        "43": "declined.lostStolenOrFrozen", "57": "declined.notPermitted", "14": "declined.invalidCard", "33": "declined.expiredCard",
        "W1": "declined.weakPIN.birthday", "W2": "declined.weakPIN.idDigits", "W3": "declined.weakPIN.repeatedDigits",
        "W4": "declined.weakPIN.sequentialDigits", "38": "declined.pinTriesExceeded", "I1": "declined.identityMismatch",
        "55": "pinError", "96": "unavailable", "25": "notFound", "77": "resignOn", "A0": "resignOn",
    ]

    public nonisolated let fixture: Fixture
    private var entries: [String: LedgerEntry] = [:]
    private var order: [String] = []
    private var references = 0
    private var faults = FaultPlan()
    private var reversedInFlight: Set<String> = []

    public init(fixture: Fixture = Fixture()) { self.fixture = fixture }

    // MARK: Faults

    /// Replaces the fault plan.
    public func setFaults(_ plan: FaultPlan) { self.faults = plan }

    /// Queues one fault for the next request.
    public func inject(_ fault: BankFault) { self.faults.queue.append(fault) }

    /// The extra wait of ``BankFault/delay``.
    public var faultDelay: Duration { self.faults.delay }

    /// The fault for the request arriving now, if any.
    public func nextFault() -> BankFault? { self.faults.next() }

    // MARK: Operations

    /// Processes an activation: from the ledger when the key is known, else decided by the rules.
    public func activate(_ request: ActivationRequest) async -> Answer {
        let key = request.key.value
        let digest = Self.digest(request)
        if var entry = self.entries[key] {
            entry.requests += 1
            self.entries[key] = entry
            guard entry.requestDigest == digest else { return .keyReused }
            if entry.state == .inFlight { return .inFlight }
            return .result(code: entry.code, bankReference: entry.bankReference, triesLeft: nil)
        }
        self.order.append(key)
        self.entries[key] = LedgerEntry(
            key: key, requestDigest: digest, state: .inFlight, code: "", bankReference: nil, effects: 0, requests: 1,
            maskedPAN: request.card.description, holderIDType: request.cardholder.idType,
            maskedHolderID: Masking.citizenID(request.cardholder.idNumber))
        if self.fixture.processingMilliseconds > 0 {
            try? await Task.sleep(for: .milliseconds(self.fixture.processingMilliseconds))
        }
        let (code, triesLeft) = self.decide(request)
        var entry = self.entries[key]!
        entry.code = code
        if code == "00" {
            self.references += 1
            entry.bankReference = "SIM" + String(100_000 + self.references)
            entry.effects += 1
            // A reversal that overtook the request undoes it as soon as it is applied.
            entry.state = self.reversedInFlight.remove(key) != nil ? .reversed : .applied
        } else {
            entry.state = .declined
        }
        self.entries[key] = entry
        return .result(code: code, bankReference: entry.bankReference, triesLeft: triesLeft)
    }

    /// What the ledger says about `key`: `00` + reference (applied), the decline code, `25` (not found or
    /// reversed), or `nil` while in flight.
    public func query(_ key: IdempotencyKey) -> (code: String, bankReference: String?)? {
        guard let entry = self.entries[key.value] else { return ("25", nil) }
        switch entry.state {
        case .inFlight: return nil
        case .applied: return ("00", entry.bankReference)
        case .declined: return (entry.code, nil)
        case .reversed: return ("25", nil)
        }
    }

    /// Reverses `key`: `00` when an applied activation was undone (or one still being processed will be
    /// undone the moment it is applied, or it was reversed before), `25` when nothing was applied.
    public func reverse(_ key: IdempotencyKey) -> String {
        if self.entries[key.value]?.state == .inFlight {
            self.reversedInFlight.insert(key.value)
            return "00"
        }
        // A repeated reversal (its first answer was lost) is answered as the first was.
        if self.entries[key.value]?.state == .reversed { return "00" }
        guard var entry = self.entries[key.value], entry.state == .applied else { return "25" }
        entry.state = .reversed
        self.entries[key.value] = entry
        return "00"
    }

    /// Every key in arrival order.
    public func ledger() -> [LedgerEntry] { self.order.compactMap { self.entries[$0] } }

    // MARK: Decisions

    private func decide(_ request: ActivationRequest) -> (String, Int?) {
        if let rule = self.fixture.rules.first(where: { ($0.pan != nil && $0.pan == request.card.pan) || ($0.idNumber != nil && $0.idNumber == request.cardholder.idNumber) }) {
            return (rule.code, rule.triesLeft)
        }
        if let weak = self.weakPINCode(request) { return (weak, nil) }
        return (self.fixture.defaultCode, nil)
    }

    /// Opens the PIN block with the test PIN key and applies the usual weak-PIN rules. A 3DES block that does
    /// not open as a format 0 block for this card (made under another key, or for another card number) is a
    /// PIN error, `55`, as the bank's HSM would report it.
    private func weakPINCode(_ request: ActivationRequest) -> String? {
        guard request.pinBlock.format == .iso0TripleDES,
            let key = try? Hex.decode(self.fixture.pinKey), let cipher = try? BlockCipher(.tripleDES, key: key)
        else { return nil }
        guard let clear = try? cipher.decrypt(request.pinBlock.bytes), let pin = try? ISO0PINBlock.pin(fromClearBlock: clear, pan: request.card.pan)
        else { return "55" }
        return WeakPINRules.code(pin: pin, idNumber: request.cardholder.idNumber)
    }

    /// A stable digest of what makes two requests "the same": card, holder, terminal, PIN block.
    static func digest(_ request: ActivationRequest) -> String {
        let material = [request.card.pan, request.cardholder.idNumber, request.cardholder.name, request.terminalID]
            .joined(separator: "|").utf8 + request.pinBlock.bytes
        return Hex.encode(SM3.hash(Array(material)).prefix(8))
    }
}

/// The weak-PIN rules banks apply to a new PIN (`cards.md` §4): not the birthday, not ID digits, not one
/// digit repeated, not a run.
public enum WeakPINRules {
    /// `W1`…`W4`, or `nil` for an acceptable PIN.
    public static func code(pin: String, idNumber: String) -> String? {
        let digits = Array(pin)
        if Set(digits).count == 1 { return "W3" }
        let values = digits.compactMap(\.wholeNumberValue)
        let steps = zip(values, values.dropFirst()).map { $1 - $0 }
        if steps.allSatisfy({ $0 == 1 }) || steps.allSatisfy({ $0 == -1 }) { return "W4" }
        if idNumber.count == 18 {
            let birth = String(idNumber.dropFirst(6).prefix(8))
            if birth.hasSuffix(pin) || birth.hasPrefix(pin) || String(birth.dropFirst(2)) == pin { return "W1" }
            if idNumber.hasSuffix(pin) || String(idNumber.dropLast().suffix(pin.count)) == pin { return "W2" }
        }
        return nil
    }
}
