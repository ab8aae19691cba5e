import APDU
import ISO8583
import Testing

@Suite struct FramingTests {
    static let v4 = v4Frame

    /// gateway.md V4: 129 bytes → TPDU, header, the message's fields; re-encoded byte-identically.
    @Test func v4FrameRoundTrip() throws {
        var reader = FrameReader(format: .unionPay)
        reader.append(Self.v4)
        let frame = try #require(try reader.next())
        #expect(hexString(frame.tpdu) == "6000030000")
        #expect(hexString(frame.header) == "603210320072")
        #expect(frame.message.count == 116)
        let message = try ISO8583Codec.decode(frame.message, spec: cupsSpec)
        #expect(message.fields.count == 11)
        let again = Frame(tpdu: frame.tpdu, header: frame.header, message: try ISO8583Codec.encode(message, spec: cupsSpec))
        #expect(try again.encoded(.unionPay) == Self.v4)
        #expect(hexString(frame.replyTPDU) == "6000000003", "a reply swaps destination 0003 and source 0000")
        #expect(reader.bufferedCount == 0)
    }

    @Test(arguments: [1, 2, 7, 64, 200])
    func splitAndGluedFrames(_ chunk: Int) throws {
        let stream = Self.v4 + Self.v4 + Self.v4
        var reader = FrameReader(format: .unionPay)
        var frames = 0
        var offset = 0
        while offset < stream.count {
            reader.append(stream[offset..<min(stream.count, offset + chunk)])
            offset += chunk
            while try reader.next() != nil { frames += 1 }
        }
        #expect(frames == 3)
    }

    @Test func bcdLengthPrefix() throws {
        let format = FrameFormat(lengthEncoding: .bcd, tpduLength: 5, headerLength: 6)
        let frame = Frame(tpdu: hexBytes("6000030000"), header: hexBytes("603210320072"), message: Array(Self.v4.dropFirst(13)))
        let bytes = try frame.encoded(format)
        #expect(hexString(Array(bytes.prefix(2))) == "0127")
        var reader = FrameReader(format: format)
        reader.append(bytes)
        #expect(try reader.next() == frame)
    }

    @Test func brokenFramingIsAnError() throws {
        var bcd = FrameReader(format: FrameFormat(lengthEncoding: .bcd, tpduLength: 5, headerLength: 6))
        bcd.append([0x7F, 0x00, 0x01])
        #expect(throws: ISO8583Error.self) { try bcd.next() }
        var tiny = FrameReader(format: .unionPay)
        tiny.append([0x00, 0x03, 0x60, 0x00, 0x00])
        #expect(throws: ISO8583Error.self) { try tiny.next() }
        var huge = FrameReader(format: .unionPay)
        huge.append([0xFF, 0xFF])
        #expect(throws: ISO8583Error.self) { try huge.next() }
        // A partial length prefix is simply incomplete.
        var partial = FrameReader(format: .unionPay)
        partial.append([0x00])
        #expect(try partial.next() == nil)
        #expect(throws: ISO8583Error.self) { try Frame(tpdu: [1], header: [], message: []).encoded(.unionPay) }
    }
}
