import APDU

/// libFuzzer entry point for the pure codecs: command and response APDUs, BER-TLV (strict and EMV), and the
/// T=0 exchange rules fed with arbitrary card answers. Every input must either decode or throw APDUError;
/// whatever decodes must re-encode consistently.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = Array(UnsafeRawBufferPointer(start: start, count: count))
    if let command = try? CommandAPDU(bytes: bytes) {
        precondition(command.bytes == bytes, "command APDU did not round-trip")
    }
    if let response = try? ResponseAPDU(bytes: bytes) {
        precondition(response.bytes == bytes, "response APDU did not round-trip")
    }
    for options in [TLV.DecodingOptions.strict, .emv] {
        if let objects = try? TLV.parseAll(bytes, options: options) {
            let encoded = objects.flatMap(\.bytes)
            precondition((try? TLV.parseAll(encoded, options: options)) == objects, "TLV did not round-trip")
        }
    }
    // Split the input into card answers (1-byte length prefix each) and run one exchange over them.
    if let select = try? CommandAPDU.select(name: [0xA0, 0x00, 0x00, 0x03, 0x33]) {
        var exchange = T0Exchange(command: select)
        var rest = bytes[...]
        while let length = rest.popFirst() {
            let answer = Array(rest.prefix(Int(length)))
            rest = rest.dropFirst(Int(length))
            guard let step = try? exchange.nextCommand(after: answer) else { break }
            if case .complete = step { break }
        }
    }
    return 0
}
