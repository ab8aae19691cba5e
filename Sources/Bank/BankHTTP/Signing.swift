public import KioskCrypto
import Crypto
import _CryptoExtras
import Foundation

/// The signing strings of the HTTP/JSON scheme: WeChat Pay API v3's five-line request form and
/// three-line response form (`gateway.md` §2.1, vector V11), reproduced byte for byte.
public enum SigningString {
    /// `METHOD\nPATH(?QUERY)\nTIMESTAMP\nNONCE\nBODY\n`; the body is empty for GET.
    public static func request(method: String, pathAndQuery: String, timestamp: Int, nonce: String, body: [UInt8]) -> [UInt8] {
        Array("\(method)\n\(pathAndQuery)\n\(timestamp)\n\(nonce)\n".utf8) + body + [0x0A]
    }

    /// `TIMESTAMP\nNONCE\nBODY\n` (WeChat Pay v3's response form: it binds nothing of the request).
    public static func response(timestamp: Int, nonce: String, body: [UInt8]) -> [UInt8] {
        Array("\(timestamp)\n\(nonce)\n".utf8) + body + [0x0A]
    }

    /// `STATUS\nIDEMPOTENCY-KEY\nREQUEST-NONCE\nTIMESTAMP\nNONCE\nBODY\n` (`cardkiosk-v1`): the answer's
    /// signature also covers its HTTP status, the request's idempotency key (`-` when it had none) and the
    /// request's nonce, so a signed answer cannot be replayed to another request, after a restart or not,
    /// nor its status changed (a signed 200 turned into a 5xx).
    public static func boundResponse(status: Int, idempotencyKey: String?, requestNonce: String, timestamp: Int, nonce: String, body: [UInt8]) -> [UInt8] {
        Array("\(status)\n\(idempotencyKey ?? "-")\n\(requestNonce)\n\(timestamp)\n\(nonce)\n".utf8) + body + [0x0A]
    }
}

/// Signs messages for one side of the conversation.
public protocol MessageSigner: Sendable {
    /// `SHA256-RSA2048`, `SM2-WITH-SM3` (the `Authorization` scheme suffix).
    var algorithm: String { get }
    func sign(_ message: [UInt8]) throws(SigningError) -> [UInt8]
}

/// Verifies the other side's signatures.
public protocol SignatureVerifier: Sendable {
    var algorithm: String { get }
    func verify(_ signature: [UInt8], of message: [UInt8]) -> Bool
}

public struct SigningError: Error, Hashable, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// SHA256withRSA (PKCS#1 v1.5), as WeChat Pay, ICBC `RSA2` and UnionPay ACP sign; swift-crypto.
public struct RSASigner: MessageSigner {
    public let algorithm = "SHA256-RSA2048"
    private let key: _RSA.Signing.PrivateKey

    public init(pem: String) throws(SigningError) {
        do {
            self.key = try _RSA.Signing.PrivateKey(pemRepresentation: pem)
        } catch {
            throw SigningError("not an RSA private key: \(error)")
        }
    }

    public func sign(_ message: [UInt8]) throws(SigningError) -> [UInt8] {
        do {
            return Array(try self.key.signature(for: SHA256.hash(data: message), padding: .insecurePKCS1v1_5).rawRepresentation)
        } catch {
            throw SigningError("RSA signing failed: \(error)")
        }
    }

    /// A fresh 2048-bit key as PEM (tests, the simulator).
    public static func generatePEM() throws -> (privateKey: String, publicKey: String) {
        let key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        return (key.pemRepresentation, key.publicKey.pemRepresentation)
    }
}

public struct RSAVerifier: SignatureVerifier {
    public let algorithm = "SHA256-RSA2048"
    private let key: _RSA.Signing.PublicKey

    public init(pem: String) throws(SigningError) {
        do {
            self.key = try _RSA.Signing.PublicKey(pemRepresentation: pem)
        } catch {
            throw SigningError("not an RSA public key: \(error)")
        }
    }

    public func verify(_ signature: [UInt8], of message: [UInt8]) -> Bool {
        self.key.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: signature), for: SHA256.hash(data: message), padding: .insecurePKCS1v1_5)
    }
}

/// SM2-with-SM3 with an explicit distinguishing ID (WeChat Pay's ShangMi mode, `SM2-WITH-SM3`).
public struct SM2Signer: MessageSigner {
    public let algorithm = "SM2-WITH-SM3"
    public let key: SM2.Key
    public let distinguishingID: [UInt8]

    public init(key: SM2.Key, distinguishingID: [UInt8] = SM2.defaultDistinguishingID) {
        self.key = key
        self.distinguishingID = distinguishingID
    }

    public func sign(_ message: [UInt8]) throws(SigningError) -> [UInt8] {
        do {
            return try SM2.sign(message, key: self.key, distinguishingID: self.distinguishingID)
        } catch {
            throw SigningError(error.description)
        }
    }
}

public struct SM2Verifier: SignatureVerifier {
    public let algorithm = "SM2-WITH-SM3"
    public let key: SM2.Key
    public let distinguishingID: [UInt8]

    public init(key: SM2.Key, distinguishingID: [UInt8] = SM2.defaultDistinguishingID) {
        self.key = key
        self.distinguishingID = distinguishingID
    }

    public func verify(_ signature: [UInt8], of message: [UInt8]) -> Bool {
        SM2.verify(signature, of: message, key: self.key, distinguishingID: self.distinguishingID)
    }
}

/// Timestamp window plus nonce memory, both ways: a message older or newer than the window, or a nonce
/// seen within the window, is refused (`gateway.md` §2.4).
public actor ReplayGuard {
    public enum Verdict: Hashable, Sendable {
        case fresh
        case stale(skewSeconds: Int)
        case replayed
    }

    public let windowSeconds: Int
    private var seen: [String: Int] = [:]

    public init(windowSeconds: Int = 300) { self.windowSeconds = windowSeconds }

    /// Checks and remembers (`timestamp`, `nonce`) at `now` (seconds since 1970).
    public func check(timestamp: Int, nonce: String, now: Int? = nil) -> Verdict {
        let now = now ?? Int(Date().timeIntervalSince1970)
        let skew = now - timestamp
        guard abs(skew) < self.windowSeconds else { return .stale(skewSeconds: skew) }
        self.seen = self.seen.filter { now - $0.value < self.windowSeconds }
        guard self.seen[nonce] == nil else { return .replayed }
        self.seen[nonce] = timestamp
        return .fresh
    }
}

/// Encrypts one sensitive field (the ID number) with SM4-CBC under a key agreed with the bank:
/// base64(IV ‖ ciphertext), a fresh IV each time.
public struct SM4FieldCipher: Sendable {
    private let cipher: BlockCipher

    public init(key: [UInt8]) throws(SigningError) {
        do {
            self.cipher = try BlockCipher(.sm4, key: key)
        } catch {
            throw SigningError(error.description)
        }
    }

    public func seal(_ text: String) throws(SigningError) -> String {
        var generator = SystemRandomNumberGenerator()
        let iv = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
        do {
            return Data(iv + (try self.cipher.encryptCBC(Array(text.utf8), iv: iv))).base64EncodedString()
        } catch {
            throw SigningError(error.description)
        }
    }

    public func open(_ sealed: String) throws(SigningError) -> String {
        guard let data = Data(base64Encoded: sealed), data.count >= 32 else { throw SigningError("sealed field is not base64 IV + data") }
        let bytes = Array(data)
        do {
            return String(decoding: try self.cipher.decryptCBC(Array(bytes.dropFirst(16)), iv: Array(bytes.prefix(16))), as: UTF8.self)
        } catch {
            throw SigningError("sealed field does not open: \(error)")
        }
    }
}
