import APDU
import Bytes
import Foundation
import ResidentIDCard
import TestSupport
import Testing

/// The frame vectors of cards.md §7 (all checksums there verified by XOR).
@Suite struct ModuleFrameTests {
    @Test(arguments: [
        (ModuleCommand.reset, "AAAAAA9669000310FFEC"), (.status, "AAAAAA9669000311FFED"), (.readModuleID, "AAAAAA9669000312FFEE"),
        (.findCard, "AAAAAA96690003200122"), (.selectCard, "AAAAAA96690003200221"), (.readText, "AAAAAA96690003300132"),
        (.readTextWithFingerprint, "AAAAAA96690003301023"), (.readNewestAddress, "AAAAAA96690003300330"),
    ])
    func requestVectors(_ command: ModuleCommand, _ hex: String) throws {
        #expect(Hex.encode(command.frame.bytes) == hex)
        let decoded = try ModuleFrame.decode(Hex.decode(hex))
        #expect(ModuleCommand(frame: decoded) == command)
    }

    @Test(arguments: [
        ("AAAAAA9669000400009094", ModuleStatus.ok, 0), ("AAAAAA9669000400006064", .selfTestFailed, 0),
        ("AAAAAA966900080000 9F0000000097", .cardFound, 4), ("AAAAAA9669000400008084", .findFailed, 0),
        ("AAAAAA9669000C0000900000000000000000 9C", .ok, 8), ("AAAAAA9669000400008185", .selectFailed, 0),
        ("AAAAAA9669000400004145", .readFailed, 0),
    ])
    func responseVectors(_ hex: String, _ status: ModuleStatus, _ dataLength: Int) throws {
        let frame = try ModuleFrame.decode(Hex.decode(hex))
        #expect(frame.status == status)
        #expect(frame.responseData.count == dataLength)
        #expect(Hex.encode(frame.bytes) == hex.replacingOccurrences(of: " ", with: ""))
    }

    @Test func readResponseLengthsMatchThePublishedHeaders() throws {
        let text = [UInt8](repeating: 0x20, count: 256)
        let plain = ModuleFrame(status: .ok, data: ReadResponse(text: text, photo: [UInt8](repeating: 1, count: 1024)).data).bytes
        #expect(plain.count == 1295)
        #expect(Hex.encode(plain.prefix(14)) == "AAAAAA9669050800009001000400")
        let withPrints = ModuleFrame(
            status: .ok,
            data: ReadResponse(text: text, photo: [UInt8](repeating: 1, count: 1024), fingerprint: [UInt8](repeating: 2, count: 1024)).data
        ).bytes
        #expect(withPrints.count == 2321)
        #expect(Hex.encode(withPrints.prefix(16)) == "AAAAAA9669090A000090010004000400")
        let decoded = try ReadResponse(data: ModuleFrame.decode(withPrints).responseData, withFingerprint: true)
        #expect(decoded.fingerprint?.count == 1024 && decoded.photo.count == 1024 && decoded.text == text)
    }

    @Test func strictDecoding() throws {
        #expect(throws: ModuleFrameError(.checksumMismatch, offset: 0, detail: "")) { try ModuleFrame.decode(Hex.decode("AAAAAA9669000400009095")) }
        #expect(throws: ModuleFrameError(.truncated, offset: 0, detail: "")) { try ModuleFrame.decode(Hex.decode("AAAAAA96690004000090")) }
        #expect(throws: ModuleFrameError(.trailingBytes, offset: 0, detail: "")) { try ModuleFrame.decode(Hex.decode("AAAAAA966900040000909400")) }
        #expect(throws: ModuleFrameError(.trailingBytes, offset: 0, detail: "")) { try ModuleFrame.decode(Hex.decode("00AAAAAA9669000400009094")) }
        #expect(throws: ModuleFrameError(.invalidLength, offset: 0, detail: "")) { try ModuleFrame.decode(Hex.decode("AAAAAA96690001")) }
        #expect(throws: ModuleFrameError(.invalidLength, offset: 0, detail: "")) { try ModuleFrame.decode(Hex.decode("AAAAAA9669FFFF")) }
        #expect(throws: ModuleFrameError.self) { try ReadResponse(data: [0x01, 0x00], withFingerprint: false) }
        #expect(throws: ModuleFrameError.self) { try ReadResponse(data: [0x01, 0x00, 0x04, 0x00, 0x00], withFingerprint: false) }
    }

    @Test func everyStatusIsNamed() {
        for code: UInt8 in [0x90, 0x9F, 0x10, 0x11, 0x21, 0x24, 0x31, 0x32, 0x33, 0x40, 0x41, 0x47, 0x60, 0x66, 0x80, 0x81, 0x91] {
            #expect(ModuleStatus(rawValue: code).name != "unknown status", "status \(code)")
        }
        #expect(ModuleStatus(rawValue: 0x55).name == "unknown status")
        #expect(ModuleStatus.findFailed.description == "80 (no card found)")
    }
}

@Suite struct FrameAssemblerTests {
    static let frames = [ModuleFrame(status: .cardFound, data: [0, 0, 0, 0]), ModuleFrame(status: .ok, data: Array(0..<40))]

    func drain(_ assembler: inout FrameAssembler) -> (frames: [ModuleFrame], errors: [ModuleFrameError]) {
        var frames: [ModuleFrame] = []
        var errors: [ModuleFrameError] = []
        while let result = assembler.next() {
            switch result {
            case .success(let frame): frames.append(frame)
            case .failure(let error): errors.append(error)
            }
        }
        return (frames, errors)
    }

    @Test func byteByByte() {
        var assembler = FrameAssembler()
        var got: [ModuleFrame] = []
        for byte in Self.frames.flatMap(\.bytes) {
            assembler.append([byte])
            got += self.drain(&assembler).frames
        }
        #expect(got == Self.frames)
        #expect(assembler.bufferedCount == 0)
    }

    @Test func gluedFramesInOneChunk() {
        var assembler = FrameAssembler()
        assembler.append(Self.frames.flatMap(\.bytes))
        #expect(self.drain(&assembler).frames == Self.frames)
    }

    @Test func resynchronisesAfterGarbage() {
        var assembler = FrameAssembler()
        // Noise with a partial preamble in it, a frame, noise, a frame.
        assembler.append([0x00, 0xAA, 0xAA, 0x13, 0x96, 0x69] + Self.frames[0].bytes + [0xAA, 0x96] + Self.frames[1].bytes)
        let result = self.drain(&assembler)
        #expect(result.frames == Self.frames)
        #expect(result.errors.isEmpty)
        #expect(assembler.discardedCount == 8)
    }

    @Test func corruptFrameDoesNotSwallowTheNext() {
        var corrupt = Self.frames[0].bytes
        corrupt[corrupt.count - 1] ^= 0xFF
        var huge = ModuleFrame.preamble + [0x7F, 0xFF]  // impossible length
        huge += [0x00]
        var assembler = FrameAssembler()
        assembler.append(corrupt + huge + Self.frames[1].bytes)
        let result = self.drain(&assembler)
        #expect(result.frames == [Self.frames[1]])
        #expect(result.errors.map(\.code) == [.checksumMismatch, .invalidLength])
    }

    @Test(arguments: 1...12)
    func randomChunking(_ seed: Int) {
        var generator = SeededGenerator(seed: UInt64(seed))
        let stream = Self.frames.flatMap(\.bytes) + Self.frames.flatMap(\.bytes)
        var assembler = FrameAssembler()
        var got: [ModuleFrame] = []
        var offset = 0
        while offset < stream.count {
            let size = Int.random(in: 1...64, using: &generator)
            assembler.append(stream[offset..<min(stream.count, offset + size)])
            offset += size
            got += self.drain(&assembler).frames
        }
        #expect(got == Self.frames + Self.frames)
    }
}
