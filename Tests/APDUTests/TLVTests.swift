import APDU
import Bytes
import TestSupport
import Testing

@Suite("BER-TLV")
struct TLVTests {
    @Test("an FCI with a two-byte tag inside a template")
    func fci() throws {
        // 6F { 84 <DF name>, A5 { 9F0C 03 860103 } } as cards.md §1.1 describes.
        let bytes = try Hex.decode("6F19840F7378312E73682EC9E7BBE1B1A3D5CFA5069F0C03860103")
        let fci = try TLV.parse(bytes)
        #expect(fci.tag == 0x6F && fci.tag.isConstructed)
        #expect(fci.first(0x84)?.value == (try Hex.decode("7378312E73682EC9E7BBE1B1A3D5CF")))
        #expect(fci.first(0x9F0C)?.value == [0x86, 0x01, 0x03])
        #expect(fci.bytes == bytes)
    }

    @Test("long-form lengths decode, and encoding is minimal")
    func longForm() throws {
        let value = [UInt8](repeating: 7, count: 200)
        let tlv = TLV(tag: 0x5F20, value: value)
        #expect(Array(tlv.bytes.prefix(4)) == [0x5F, 0x20, 0x81, 200])
        #expect(try TLV.parse(tlv.bytes) == tlv)
        // Non-minimal long form (82 00 05) is accepted: cards use it.
        #expect(try TLV.parse(Hex.decode("5A8200050102030405")).value == [1, 2, 3, 4, 5])
        let big = TLV(tag: 0x53, value: [UInt8](repeating: 1, count: 70_000))
        #expect(Array(big.bytes.prefix(5)) == [0x53, 0x83, 0x01, 0x11, 0x70])
        #expect(try TLV.parse(big.bytes).value.count == 70_000)
    }

    @Test("hostile inputs give typed errors with offsets", arguments: [
        ("6F", APDUError.truncated),
        ("6F0501", APDUError.truncated),
        ("9F", APDUError.truncated),
        ("6F8400000001", APDUError.truncated),
        ("6F80", APDUError.indefiniteLength),
        ("5A850000000001", APDUError.lengthOverflow),
        ("5A84FFFFFFFF", APDUError.lengthOverflow),
        ("1FFFFFFF7F00", APDUError.invalidTag),
        ("1F8001", APDUError.invalidTag),
        ("5A0101FF", APDUError.invalidTag),
        ("0000", APDUError.invalidTag),
        ("5A0101FF00", APDUError.invalidTag),
    ])
    func hostile(hex: String, expected: APDUError) throws {
        let bytes = try Hex.decode(hex)
        #expect(throws: expected) { try TLV.parseAll(bytes) }
    }

    @Test("the error names the offset of the broken object")
    func offsets() throws {
        let bytes = try Hex.decode("5A01015F2005AABB")
        do {
            _ = try TLV.parseAll(bytes)
            Issue.record("expected an error")
        } catch {
            #expect(error.code == .truncated)
            #expect(error.offset == 3)
        }
    }

    @Test("nesting deeper than the limit is refused, not recursed into")
    func tooDeep() throws {
        var tlv = TLV(tag: 0x5A, value: [1])
        for _ in 0...TLV.maximumDepth { tlv = TLV(tag: 0x70, children: [tlv]) }
        #expect(throws: APDUError.nestingTooDeep) { try TLV.parseAll(tlv.bytes) }
        // One level less is fine.
        var ok = TLV(tag: 0x5A, value: [1])
        for _ in 0..<TLV.maximumDepth { ok = TLV(tag: 0x70, children: [ok]) }
        #expect(try TLV.parse(ok.bytes) == ok)
    }

    @Test("object count is bounded")
    func tooMany() {
        var bytes: [UInt8] = []
        for _ in 0...TLV.maximumObjectCount { bytes += [0x5A, 0x00] }
        #expect(throws: APDUError.tooManyObjects) { try TLV.parseAll(bytes) }
    }

    @Test("EMV padding is skipped only when asked for")
    func padding() throws {
        let bytes = try Hex.decode("005A0101FF00")
        #expect(throws: APDUError.self) { try TLV.parseAll(bytes) }
        #expect(try TLV.parseAll(bytes, options: .emv) == [TLV(tag: 0x5A, value: [1])])
    }

    @Test("random trees round-trip")
    func roundTrip() throws {
        var rng = SeededGenerator(seed: 8825)
        func tree(_ depth: Int) -> TLV {
            if depth == 0 || Bool.random(using: &rng) {
                let tags: [TLVTag] = [0x5A, 0x9F38, 0x5F2D, 0xDF8101, 0x84]
                return TLV(tag: tags.randomElement(using: &rng)!, value: rng.bytes(Int.random(in: 0...300, using: &rng)))
            }
            let tags: [TLVTag] = [0x6F, 0x70, 0xA5, 0xBF0C, 0x77]
            return TLV(tag: tags.randomElement(using: &rng)!, children: (0..<Int.random(in: 0...4, using: &rng)).map { _ in tree(depth - 1) })
        }
        for _ in 0..<300 {
            let objects = (0..<Int.random(in: 1...3, using: &rng)).map { _ in tree(4) }
            let bytes = objects.flatMap(\.bytes)
            #expect(try TLV.parseAll(bytes) == objects)
        }
    }

    @Test("random bytes never trap")
    func fuzzish() {
        var rng = SeededGenerator(seed: 99)
        for _ in 0..<30_000 {
            let bytes = rng.bytes(Int.random(in: 0...24, using: &rng))
            if let objects = try? TLV.parseAll(bytes) {
                // Whatever parses re-encodes to at most the input size (encodings are minimal).
                #expect(objects.flatMap(\.bytes).count <= bytes.count)
            }
        }
    }
}
