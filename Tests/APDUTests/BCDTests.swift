import APDU
import Bytes
import Testing

@Suite struct BCDTests {
    @Test func packsAndUnpacks() {
        #expect(BCD.pack("19810101") == [0x19, 0x81, 0x01, 0x01])
        #expect(BCD.pack("123") == [0x12, 0x3F])
        #expect(BCD.pack("12a") == nil)
        #expect(BCD.pack("") == [])
        #expect(BCD.digits([0x62, 0x28, 0x4F]) == "62284")
        #expect(BCD.digits([0x6A]) == nil)
        #expect(BCD.nibbles([0xD3, 0x01]) == [0x0D, 0x03, 0x00, 0x01])
        #expect(BCD.pack(nibbles: [0x06, 0x0D, 0x01]) == [0x6D, 0x1F])
    }
}
