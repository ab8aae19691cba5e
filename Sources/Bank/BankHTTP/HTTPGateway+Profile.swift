public import BankGateway
import Bytes
import Foundation
import KioskCrypto
import NIOSSL

extension HTTPGateway {
    /// Builds the gateway from its profile's settings:
    ///
    /// | setting | meaning |
    /// |---|---|
    /// | `signingScheme` | `rsa` (SHA256withRSA) or `sm2` (SM2-with-SM3) |
    /// | `signingString` | `cardkiosk-v1` (the default: requests as WeChat Pay v3, answers signed over their status, the request's idempotency key and nonce too) or `wechat-v3` (answers over timestamp, nonce and body only; production refuses it) |
    /// | `signingKeyFile` | the terminal's private key (PEM) |
    /// | `bankPublicKeyFile` | the bank's public key (PEM) for answers |
    /// | `serial` | the terminal certificate's serial, sent with each request |
    /// | `sm2DistinguishingID` | SM2 only; default `1234567812345678` |
    /// | `clientCertificateFile`, `clientKeyFile` | mutual TLS (PEM), both or neither |
    /// | `trustRootsFile` | private CA roots for the bank's server certificate (PEM) |
    /// | `sm4FieldKey` | 32 hex digits: seal the ID number with SM4 |
    ///
    /// - Throws: ``GatewayConfigurationError`` naming the setting to fix.
    public convenience init(profile: BankProfile) throws(GatewayConfigurationError) {
        func read(_ setting: String) throws(GatewayConfigurationError) -> String {
            let path = try profile.setting(setting)
            do {
                return try String(contentsOfFile: path, encoding: .utf8)
            } catch {
                throw GatewayConfigurationError(key: "settings.\(setting)", problem: "cannot read \(path): \(error.localizedDescription)")
            }
        }
        let form = profile.settings["signingString"] ?? "cardkiosk-v1"
        guard form == "cardkiosk-v1" || form == "wechat-v3" else {
            throw GatewayConfigurationError(key: "settings.signingString", problem: "\"\(form)\" is not a signing-string form this gateway knows (cardkiosk-v1, wechat-v3)")
        }
        let scheme = try profile.setting("signingScheme")
        let signingPEM = try read("signingKeyFile")
        let bankPEM = try read("bankPublicKeyFile")
        let signer: any MessageSigner
        let verifier: any SignatureVerifier
        switch scheme {
        case "rsa":
            do {
                signer = try RSASigner(pem: signingPEM)
                verifier = try RSAVerifier(pem: bankPEM)
            } catch {
                throw GatewayConfigurationError(key: "settings.signingKeyFile", problem: error.description)
            }
        case "sm2":
            let distid = Array((profile.settings["sm2DistinguishingID"] ?? "1234567812345678").utf8)
            do {
                signer = SM2Signer(key: try SM2.Key(privateKeyPEM: signingPEM), distinguishingID: distid)
                verifier = SM2Verifier(key: try SM2.Key(publicKeyPEM: bankPEM), distinguishingID: distid)
            } catch {
                throw GatewayConfigurationError(key: "settings.signingKeyFile", problem: error.description)
            }
        default:
            throw GatewayConfigurationError(key: "settings.signingScheme", problem: "\"\(scheme)\" is neither rsa nor sm2")
        }
        var tls: TLSConfiguration?
        if profile.endpoint?.hasPrefix("https://") == true {
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.minimumTLSVersion = .tlsv12
            if let roots = profile.settings["trustRootsFile"] { configuration.trustRoots = .file(roots) }
            switch (profile.settings["clientCertificateFile"], profile.settings["clientKeyFile"]) {
            case (let certificate?, let key?):
                do {
                    configuration.certificateChain = try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) }
                    configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
                } catch {
                    throw GatewayConfigurationError(key: "settings.clientCertificateFile", problem: "\(error)")
                }
            case (nil, nil): break
            default:
                throw GatewayConfigurationError(key: "settings.clientKeyFile", problem: "mutual TLS needs both clientCertificateFile and clientKeyFile")
            }
            tls = configuration
        }
        var fieldKey: [UInt8]?
        if let hex = profile.settings["sm4FieldKey"] {
            guard let key = try? Hex.decode(hex), key.count == 16 else {
                throw GatewayConfigurationError(key: "settings.sm4FieldKey", problem: "needs 32 hex digits (a 16-byte SM4 key)")
            }
            fieldKey = key
        }
        try self.init(
            profile: profile,
            credentials: Credentials(
                signer: signer, bankVerifier: verifier, serial: profile.settings["serial"] ?? "", tls: tls, fieldKey: fieldKey,
                boundResponses: form == "cardkiosk-v1"))
    }
}
