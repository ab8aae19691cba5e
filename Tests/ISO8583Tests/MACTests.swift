import APDU
import ISO8583
import KioskCrypto
import Testing

@Suite struct MACTests {
    /// gateway.md V7: FIPS 113.
    @Test func x99() throws {
        let mac = try MACAlgorithm.x99.mac(Array("7654321 Now is the time for ".utf8), key: hexBytes("0123456789ABCDEF"))
        #expect(hexString(mac) == "F1D30F6849312CA4")
    }

    /// gateway.md V8: psec, K1 = 0x41×8, K2 = 0x42×8, "hello world" zero-padded.
    @Test func x919() throws {
        let key = [UInt8](repeating: 0x41, count: 8) + [UInt8](repeating: 0x42, count: 8)
        #expect(hexString(try MACAlgorithm.x919.mac(Array("hello world".utf8), key: key)) == "3DDE5C5511661CBF")
        #expect(throws: (any Error).self) { try MACAlgorithm.x919.mac([1], key: [1, 2, 3]) }
    }

    /// gateway.md V4: the UnionPay ECB MAC over MTI…F62 of the captured frame is its field 64.
    @Test func unionPayECBOnTheV4Frame() throws {
        let frame = v4Frame
        let message = Array(frame.dropFirst(13))
        let mab = Array(message.dropLast(8))
        #expect(mab.count == 108)
        let mac = try MACAlgorithm.unionPayECB.mac(mab, key: hexBytes("0723C80DB5F4CD3D0723C80DB5F4CD3D"))
        #expect(String(decoding: mac, as: UTF8.self) == "B3A092AE")
        #expect(mac == Array(message.suffix(8)))
    }

    /// gateway.md V6: the walk-through, with the MAC key delivered under the terminal master key.
    @Test func unionPayECBWalkThrough() throws {
        let mab = hexBytes(
            "0200302004C020C0981100000000000000005100183402100006324392260009942820D1312101120084393136363838303134303030303030303030303030303031313536ACF46E73838A82F92600000000000000000822000001"
        )
        #expect(mab.count == 91)
        let master = try BlockCipher(.tripleDES, key: hexBytes("70F2A84CCBC2AE8625CBB0F2C22AB923")).decrypt(hexBytes("96D605EA176B7E9E"))
        #expect(hexString(master) == "C24A8FB57AA20123")
        #expect(String(decoding: try MACAlgorithm.unionPayECB.mac(mab, key: master), as: UTF8.self) == "8A9E91B8")
    }

    /// Our own regression vector for the SM4 POS MAC (no public vector exists).
    @Test func sm4POSRegression() throws {
        let key = hexBytes("0123456789ABCDEFFEDCBA9876543210")
        let mac = try MACAlgorithm.sm4POS.mac(Array("0200 activation request".utf8), key: key)
        #expect(mac.count == 8 && mac.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x46) })
        #expect(mac == (try MACAlgorithm.sm4POS.mac(Array("0200 activation request".utf8), key: key)))
        #expect(mac != (try MACAlgorithm.sm4POS.mac(Array("0200 activation requesT".utf8), key: key)))
        #expect(String(decoding: mac, as: UTF8.self) == "59D71278")
    }

    /// gateway.md V5: sign-on key exchange, and a wrong check value refuses the keys.
    @Test func signOnKeys() throws {
        let field = hexBytes("6701EAD6A9AD51E51AA406E2C27FCFA9 8D0A74B8 B651F9E9BACE9AE1 0000000000000000 AB7153CA")
        let keys = try WorkingKeys(signOnField62: field, masterKey: hexBytes("CA5D92598DCA48CE8A4C76361A9269E9"))
        #expect(hexString(keys.pinKey) == "807A23AD32B36D457AE91FDF927570EA")
        #expect(hexString(keys.macKey) == "5BB5C72CD00B7338")
        var tampered = field
        tampered[19] ^= 0x01
        #expect(throws: WorkingKeys.Failure.checkValueMismatch(key: "PIN key")) {
            try WorkingKeys(signOnField62: tampered, masterKey: hexBytes("CA5D92598DCA48CE8A4C76361A9269E9"))
        }
        #expect(throws: WorkingKeys.Failure.self) { try WorkingKeys(signOnField62: [1, 2], masterKey: hexBytes("CA5D92598DCA48CE8A4C76361A9269E9")) }
    }
}
