import Foundation
import ISO8583

/// libFuzzer entry point for the ISO 8583 decoder (UnionPay spec from Config/iso8583, run from the
/// repository root) and the frame reader. Whatever decodes must survive encode → decode unchanged.
nonisolated(unsafe) let spec: MessageSpec = {
    let data = try! Data(contentsOf: URL(fileURLWithPath: "Config/iso8583/cups-pos.json"))
    return try! JSONDecoder().decode(MessageSpec.self, from: data)
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = Array(UnsafeRawBufferPointer(start: start, count: count))
    guard let first = bytes.first else { return 0 }
    let body = Array(bytes.dropFirst())
    if let message = try? ISO8583Codec.decode(body, spec: spec) {
        let encoded = try! ISO8583Codec.encode(message, spec: spec)
        precondition((try? ISO8583Codec.decode(encoded, spec: spec)) == message, "message did not survive encode → decode")
    }
    var reader = FrameReader(format: first & 1 == 0 ? .unionPay : FrameFormat(lengthEncoding: .bcd, tpduLength: 5, headerLength: 6))
    let step = Int(first >> 1 % 16) + 1
    var offset = 0
    readLoop: while offset < body.count {
        reader.append(body[offset..<min(body.count, offset + step)])
        offset += step
        while true {
            guard let frame = try? reader.next() else { break readLoop }
            guard frame != nil else { break }
        }
    }
    return 0
}
