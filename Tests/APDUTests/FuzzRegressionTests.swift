import APDU
import Bytes
import Foundation
import Testing

/// Every input the fuzzer (scripts/fuzz.sh) ever stopped on, replayed through the same checks.
@Suite("Fuzz regressions")
struct FuzzRegressionTests {
    static let inputs: [URL] = {
        guard let directory = Bundle.module.url(forResource: "Fixtures", withExtension: nil) else { return [] }
        let files = (try? FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)) ?? []
        return files.filter { $0.pathExtension == "bin" }.sorted { $0.path < $1.path }
    }()

    @Test("the fixture folder is not empty")
    func present() { #expect(!Self.inputs.isEmpty) }

    @Test("each kept input decodes or throws, and re-encodes consistently", arguments: inputs)
    func replay(file: URL) throws {
        let bytes = [UInt8](try Data(contentsOf: file))
        if let command = try? CommandAPDU(bytes: bytes) { #expect(command.bytes == bytes) }
        for options in [TLV.DecodingOptions.strict, .emv] {
            if let objects = try? TLV.parseAll(bytes, options: options) {
                #expect(try TLV.parseAll(objects.flatMap(\.bytes), options: options) == objects)
            }
        }
    }

    @Test("EMV padding inside a template is kept in the template's value, so only EMV decoding re-reads it")
    func emvPaddingInTemplate() throws {
        // The first fuzz finding (a harness bug, not a codec bug): 6F { 84 …, 00 00 …, 86 01 03 }.
        let bytes = try Hex.decode("6F098402A1B20000860103")
        #expect(throws: APDUError.self) { try TLV.parseAll(bytes) }
        let emv = try TLV.parseAll(bytes, options: .emv)
        #expect(emv.first?.children.map(\.tag) == [0x84, 0x86])
        #expect(emv.first?.value.count == 9)
    }
}
