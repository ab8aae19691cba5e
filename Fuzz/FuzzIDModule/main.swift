import ResidentIDCard

/// libFuzzer entry point for the ID-card module codecs: the streaming frame assembler (the input cut
/// into chunks by its own bytes), strict single-frame decoding, read responses and the text block in
/// all four layouts. Every input must decode or give a typed error; whatever decodes re-encodes.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = Array(UnsafeRawBufferPointer(start: start, count: count))
    guard let first = bytes.first else { return 0 }

    // Streaming: chunk sizes 1…16 taken from the first byte.
    var assembler = FrameAssembler()
    var offset = 1
    let step = Int(first % 16) + 1
    var frames: [ModuleFrame] = []
    while offset < bytes.count {
        assembler.append(bytes[offset..<min(bytes.count, offset + step)])
        offset += step
        while let result = assembler.next() {
            if case .success(let frame) = result { frames.append(frame) }
        }
    }
    precondition(assembler.bufferedCount <= bytes.count, "assembler grew past its input")
    for frame in frames {
        precondition((try? ModuleFrame.decode(frame.bytes)) == frame, "frame did not round-trip")
        if let response = try? ReadResponse(data: frame.responseData, withFingerprint: first & 1 == 1) {
            _ = try? IDCardText.decode(response.text, photo: response.photo)
        }
    }
    _ = try? ModuleFrame.decode(Array(bytes.dropFirst()))
    if bytes.count >= 257 {
        if let card = try? IDCardText.decode(Array(bytes[1..<257])) {
            // A decoded document lays out again and decodes to the same values.
            let again = try? IDCardText.decode(IDCardText.encode(card))
            precondition(again?.idNumber == card.idNumber && again?.type == card.type, "text block did not round-trip")
        }
    }
    return 0
}
