import Foundation
import ResidentIDCard
import TestSupport
import Testing

/// The vendor-library hook: a stand-in library with the common `unpack(wlt, bmp, save)` entry point is
/// compiled for the test, loaded with dlopen and called.
@Suite struct PhotoDecoderTests {
    static let source = """
        #include <string.h>
        /* Stand-in for a vendor WLT decoder: writes a BMP header and copies the first WLT bytes. */
        int unpack(char *wlt, char *bmp, int save) {
            (void)save;
            if ((unsigned char)wlt[0] == 0xEE) return -1;
            memset(bmp, 0, 38862);
            bmp[0] = 'B'; bmp[1] = 'M';
            memcpy(bmp + 54, wlt, 16);
            return 1;
        }
        """

    func buildLibrary() async throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wlt-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try Self.source.write(toFile: directory + "/wlt.c", atomically: true, encoding: .utf8)
        let compile = try await runProcess("/usr/bin/env", ["cc", "-shared", "-fPIC", "-o", directory + "/libwltstub.so", directory + "/wlt.c"])
        guard compile.status == 0 else { throw CocoaError(.executableLoad) }
        return directory + "/libwltstub.so"
    }

    @Test func decodesThroughTheConfiguredLibrary() async throws {
        let library = try await self.buildLibrary()
        let decoder = VendorPhotoDecoder(libraryPath: library)
        let wlt = (0..<1024).map { UInt8($0 & 0x7F) }
        let bitmap = try decoder.decode(wlt: wlt)
        #expect(bitmap.count == VendorPhotoDecoder.bitmapSize)
        #expect(bitmap.prefix(2) == [0x42, 0x4D])
        #expect(Array(bitmap[54..<70]) == Array(wlt.prefix(16)))
        #expect(throws: IDModuleError(.invalidCardData, detail: "")) { try decoder.decode(wlt: [0xEE] + wlt.dropFirst()) }
        #expect(throws: IDModuleError(.deviceUnavailable, detail: "")) {
            try VendorPhotoDecoder(libraryPath: library, symbol: "no_such_symbol").decode(wlt: wlt)
        }
    }

    @Test func missingLibraryIsATypedError() {
        #expect(throws: IDModuleError(.deviceUnavailable, detail: "")) {
            try VendorPhotoDecoder(libraryPath: "/nonexistent/libwlt.so").decode(wlt: [UInt8](repeating: 0, count: 1024))
        }
    }
}
