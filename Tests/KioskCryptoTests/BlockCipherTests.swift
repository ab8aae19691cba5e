import APDU
import Bytes
import KioskCrypto
import Testing

@Suite struct BlockCipherTests {
    @Test func sm4StandardVector() throws {
        // GB/T 32907 example 1 (gateway.md V10): key = plaintext.
        let key = try Hex.decode("0123456789abcdeffedcba9876543210")
        let cipher = try BlockCipher(.sm4, key: key)
        let encrypted = try cipher.encrypt(key)
        #expect(Hex.encode(encrypted) == "681EDF34D206965E86B3E94F536E4246")
        #expect(try cipher.decrypt(encrypted) == key)
    }

    @Test func tripleDESCheckValue() throws {
        // gateway.md V5: E(PIK, 0) starts 8D0A74B8.
        let cipher = try BlockCipher(.tripleDES, key: Hex.decode("807A23AD32B36D457AE91FDF927570EA"))
        #expect(Hex.encode(try cipher.encrypt([UInt8](repeating: 0, count: 8))).hasPrefix("8D0A74B8"))
    }

    @Test func singleDESAsTripleDESWithEqualKeys() throws {
        // gateway.md V5: DES(MAK, 0) = AB7153CA985B10C2.
        let cipher = try BlockCipher(.tripleDES, key: Hex.decode("5BB5C72CD00B7338"))
        #expect(Hex.encode(try cipher.encrypt([UInt8](repeating: 0, count: 8))) == "AB7153CA985B10C2")
    }

    @Test func refusesBadLengths() throws {
        #expect(throws: BlockCipher.Failure.self) { try BlockCipher(.sm4, key: [1, 2, 3]) }
        let cipher = try BlockCipher(.sm4, key: [UInt8](repeating: 1, count: 16))
        #expect(throws: BlockCipher.Failure.self) { try cipher.encrypt([1, 2, 3]) }
        #expect(try cipher.encrypt([]) == [])
    }
}

@Suite struct CBCTests {
    @Test(arguments: [BlockCipher.Algorithm.sm4, .tripleDES])
    func roundTripsAnyLength(_ algorithm: BlockCipher.Algorithm) throws {
        let cipher = try BlockCipher(algorithm, key: [UInt8](repeating: 0x11, count: 16))
        let iv = [UInt8](repeating: 0x22, count: algorithm.blockSize)
        for length in [0, 1, 15, 16, 17, 100] {
            let plain = (0..<length).map { UInt8($0 & 0xFF) }
            let encrypted = try cipher.encryptCBC(plain, iv: iv)
            #expect(encrypted.count % algorithm.blockSize == 0 && encrypted.count > plain.count)
            #expect(try cipher.decryptCBC(encrypted, iv: iv) == plain)
        }
        let other = try BlockCipher(algorithm, key: [UInt8](repeating: 0x33, count: 16))
        let encrypted = try cipher.encryptCBC(Array("440303198101011117".utf8), iv: iv)
        #expect((try? other.decryptCBC(encrypted, iv: iv)) != Array("440303198101011117".utf8))
        #expect(throws: BlockCipher.Failure.self) { try cipher.encryptCBC([1], iv: [1, 2]) }
    }
}

@Suite struct ConstantTimeTests {
    @Test("equal only for the same length and bytes, wherever they differ")
    func equality() {
        let mac: [UInt8] = [0xB3, 0xA0, 0x92, 0xAE, 0x01, 0x02, 0x03, 0x04]
        #expect(ConstantTime.equal(mac, mac))
        #expect(ConstantTime.equal(mac[2...], Array(mac[2...])), "slices compare by content, not index")
        for index in mac.indices {
            var other = mac
            other[index] ^= 0x01
            #expect(!ConstantTime.equal(mac, other), "differs at \(index)")
        }
        #expect(!ConstantTime.equal(mac, mac.dropLast()))
        #expect(ConstantTime.equal([UInt8](), [UInt8]()))
    }
}
