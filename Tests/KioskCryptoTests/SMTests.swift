import APDU
import Bytes
import KioskCrypto
import Testing

@Suite struct SM3Tests {
    @Test func standardVector() {
        // GB/T 32905 example 1 (gateway.md V10).
        #expect(Hex.encode(SM3.hash(Array("abc".utf8))) == "66C7F0F462EEEDD9D1F2D46BDC10E4E24167C4875CF2F7A2297DA02B8F4BA8E0")
    }

    @Test func emptyAndLongInputs() {
        #expect(SM3.hash([]).count == 32)
        #expect(SM3.hash([UInt8](repeating: 0x61, count: 1_000_000)) != SM3.hash([UInt8](repeating: 0x61, count: 999_999)))
    }
}

@Suite struct SM2Tests {
    @Test func signsAndVerifiesWithTheDefaultID() throws {
        let key = try SM2.Key.generate()
        let message = Array("POST\n/v1/activations\n1554208460\nnonce\n{}\n".utf8)
        let signature = try SM2.sign(message, key: key)
        #expect(SM2.verify(signature, of: message, key: key))
        #expect(!SM2.verify(signature, of: message + [0x20], key: key))
        var tampered = signature
        tampered[tampered.count - 1] ^= 0x01
        #expect(!SM2.verify(tampered, of: message, key: key))
    }

    @Test func theDistinguishingIDMustMatch() throws {
        // gateway.md §3.1: a signature made with an empty ID fails with the default ID.
        let key = try SM2.Key.generate()
        let message = Array("activation".utf8)
        let emptyID = try SM2.sign(message, key: key, distinguishingID: [])
        #expect(!SM2.verify(emptyID, of: message, key: key))
        #expect(SM2.verify(emptyID, of: message, key: key, distinguishingID: []))
        let bankID = Array("BANK-0001".utf8)
        let withBankID = try SM2.sign(message, key: key, distinguishingID: bankID)
        #expect(SM2.verify(withBankID, of: message, key: key, distinguishingID: bankID))
        #expect(!SM2.verify(withBankID, of: message, key: key))
    }

    @Test func pemRoundTripAndPublicOnlyKeys() throws {
        let key = try SM2.Key.generate()
        let publicOnly = try SM2.Key(publicKeyPEM: key.publicKeyPEM)
        #expect(!publicOnly.hasPrivateKey)
        #expect(key.publicKeyPEM.hasPrefix("-----BEGIN PUBLIC KEY-----"))
        let message = Array("x".utf8)
        #expect(SM2.verify(try SM2.sign(message, key: key), of: message, key: publicOnly))
        #expect(throws: SM2.Failure.self) { try SM2.sign(message, key: publicOnly) }
        let reloaded = try SM2.Key(privateKeyPEM: key.privateKeyPEM)
        #expect(SM2.verify(try SM2.sign(message, key: reloaded), of: message, key: publicOnly))
        #expect(throws: SM2.Failure.self) { try SM2.Key(publicKeyPEM: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n") }
    }
}

@Suite struct PINBlockTests {
    @Test func formatZeroVectors() throws {
        // gateway.md V9 (psec tests).
        #expect(Hex.encode(try ISO0PINBlock.clearBlock(pin: "1234", pan: "5555555551234567")) == "041261AAAAEDCBA9")
        #expect(Hex.encode(try ISO0PINBlock.clearBlock(pin: "123456789012", pan: "5555555551234567")) == "0C1261032D8226A9")
        #expect(try ISO0PINBlock.pin(fromClearBlock: Hex.decode("041261AAAAEDCBA9"), pan: "5555555551234567") == "1234")
    }

    @Test func refusesBadInput() throws {
        #expect(throws: ISO0PINBlock.Failure.self) { try ISO0PINBlock.clearBlock(pin: "123", pan: "5555555551234567") }
        #expect(throws: ISO0PINBlock.Failure.self) { try ISO0PINBlock.clearBlock(pin: "12a4", pan: "5555555551234567") }
        #expect(throws: ISO0PINBlock.Failure.self) { try ISO0PINBlock.clearBlock(pin: "1234", pan: "555") }
        // The right block under the wrong PAN does not open.
        #expect(throws: ISO0PINBlock.Failure.self) { try ISO0PINBlock.pin(fromClearBlock: Hex.decode("041261AAAAEDCBA9"), pan: "6228230029000005274") }
    }
}
