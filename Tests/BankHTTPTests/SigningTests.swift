import BankHTTP
import Foundation
import KioskCrypto
import Testing

@Suite struct SigningTests {
    @Test func wechatSigningStringsByteForByte() {
        // gateway.md V11.
        let request = SigningString.request(
            method: "GET", pathAndQuery: "/v3/global/certificates", timestamp: 1_554_208_460, nonce: "593BEC0C930BF1AFEB40B4A08C8FB242", body: [])
        #expect(String(decoding: request, as: UTF8.self) == "GET\n/v3/global/certificates\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n\n")
        let body = Array("{\"data\":[]}".utf8)
        let response = SigningString.response(timestamp: 1_554_209_980, nonce: "c5ac7061fccab6bf3e254dcf98995b8c", body: body)
        #expect(String(decoding: response, as: UTF8.self) == "1554209980\nc5ac7061fccab6bf3e254dcf98995b8c\n{\"data\":[]}\n")
    }

    @Test func boundResponseCarriesStatusKeyAndRequestNonce() {
        let body = Array("{\"code\":\"00\"}".utf8)
        let bound = SigningString.boundResponse(status: 200, idempotencyKey: "key-0001", requestNonce: "RN1", timestamp: 1_795_000_000, nonce: "AN1", body: body)
        #expect(String(decoding: bound, as: UTF8.self) == "200\nkey-0001\nRN1\n1795000000\nAN1\n{\"code\":\"00\"}\n")
        let keyless = SigningString.boundResponse(status: 503, idempotencyKey: nil, requestNonce: "RN2", timestamp: 1, nonce: "AN2", body: [])
        #expect(String(decoding: keyless, as: UTF8.self) == "503\n-\nRN2\n1\nAN2\n\n")
    }

    @Test func rsaSignatures() throws {
        let (privatePEM, publicPEM) = try RSASigner.generatePEM()
        let signer = try RSASigner(pem: privatePEM)
        let verifier = try RSAVerifier(pem: publicPEM)
        let message = Array("POST\n/v1/activations\n1\nn\n{}\n".utf8)
        let signature = try signer.sign(message)
        #expect(signature.count == 256)
        #expect(verifier.verify(signature, of: message))
        #expect(!verifier.verify(signature, of: message + [0x20]))
        #expect(throws: SigningError.self) { try RSASigner(pem: "not a key") }
    }

    @Test func sm2SignaturesNeedTheSameID() throws {
        let key = try SM2.Key.generate()
        let message = Array("x".utf8)
        let signature = try SM2Signer(key: key, distinguishingID: Array("BANK".utf8)).sign(message)
        #expect(SM2Verifier(key: key, distinguishingID: Array("BANK".utf8)).verify(signature, of: message))
        #expect(!SM2Verifier(key: key).verify(signature, of: message))
    }

    @Test func authorizationHeaderRoundTrip() {
        let auth = BankWire.Authorization(algorithm: "SM2-WITH-SM3", terminal: "KIOSK001", nonce: "ABC", timestamp: 1_700_000_000, serial: "5", signature: "c2ln==")
        #expect(auth.header == "CKBANK2-SM2-WITH-SM3 terminal=\"KIOSK001\",nonce=\"ABC\",timestamp=\"1700000000\",serial=\"5\",signature=\"c2ln==\"")
        #expect(BankWire.Authorization(header: auth.header) == auth)
        #expect(BankWire.Authorization(header: "Bearer x") == nil)
        #expect(BankWire.Authorization(header: "CKBANK2-X terminal=\"a\"") == nil)
    }

    @Test func replayGuard() async {
        let guardian = ReplayGuard(windowSeconds: 300)
        #expect(await guardian.check(timestamp: 1000, nonce: "a", now: 1100) == .fresh)
        #expect(await guardian.check(timestamp: 1000, nonce: "a", now: 1101) == .replayed)
        #expect(await guardian.check(timestamp: 700, nonce: "b", now: 1100) == .stale(skewSeconds: 400))
        #expect(await guardian.check(timestamp: 1500, nonce: "c", now: 1100) == .stale(skewSeconds: -400))
        // After the window the nonce is forgotten, and its old timestamp is stale anyway.
        #expect(await guardian.check(timestamp: 1600, nonce: "a", now: 1600) == .fresh)
    }

    @Test func sealedFields() throws {
        let cipher = try SM4FieldCipher(key: [UInt8](repeating: 7, count: 16))
        let sealed = try cipher.seal("440303198101011117")
        #expect(!sealed.contains("440303"))
        #expect(try cipher.seal("440303198101011117") != sealed, "a fresh IV each time")
        #expect(try cipher.open(sealed) == "440303198101011117")
        // A wrong key fails the padding check, or (1 time in 256) opens to garbage.
        #expect((try? SM4FieldCipher(key: [UInt8](repeating: 8, count: 16)).open(sealed)) != "440303198101011117")
        #expect(throws: SigningError.self) { try cipher.open("!!") }
    }
}
