#if canImport(Glibc)
import Glibc
#endif

/// Turns the module's WLT photo (1024 bytes, a proprietary compression) into a bitmap. No open decoder
/// exists (`cards.md` §3.3); a vendor library may be configured, and nothing requires one: the kiosk
/// keeps the WLT bytes opaque.
public protocol PhotoDecoder: Sendable {
    /// A BMP image, or a typed error.
    func decode(wlt: [UInt8]) throws(IDModuleError) -> [UInt8]
}

/// A vendor decoder library loaded with `dlopen`, with the C entry point most Linux vendor libraries
/// (`libwlt2bmp.so`, `libwltrs.so`) export: `int unpack(char *wlt, char *bmp, int saveFile)`, returning 1
/// and writing a 102×126 24-bit BMP (38,862 bytes). The symbol name is configurable.
public struct VendorPhotoDecoder: PhotoDecoder {
    public static let bitmapSize = 38_862
    public let libraryPath: String
    public let symbol: String

    public init(libraryPath: String, symbol: String = "unpack") {
        self.libraryPath = libraryPath
        self.symbol = symbol
    }

    private typealias Unpack = @convention(c) (UnsafeMutablePointer<CChar>?, UnsafeMutablePointer<CChar>?, Int32) -> Int32

    public func decode(wlt: [UInt8]) throws(IDModuleError) -> [UInt8] {
        guard let handle = dlopen(self.libraryPath, RTLD_NOW | RTLD_LOCAL) else {
            let reason = dlerror().map { String(cString: $0) } ?? "unknown"
            throw IDModuleError(.deviceUnavailable, detail: "photo decoder \(self.libraryPath) not loadable: \(reason)")
        }
        defer { dlclose(handle) }
        guard let address = dlsym(handle, self.symbol) else {
            throw IDModuleError(.deviceUnavailable, detail: "photo decoder \(self.libraryPath) has no symbol \(self.symbol)")
        }
        let unpack = unsafeBitCast(address, to: Unpack.self)
        var input = wlt.map { CChar(bitPattern: $0) }
        var output = [CChar](repeating: 0, count: Self.bitmapSize + 1024)
        let result = unpack(&input, &output, 0)
        guard result == 1 else { throw IDModuleError(.invalidCardData, detail: "photo decoder returned \(result)") }
        return output.prefix(Self.bitmapSize).map { UInt8(bitPattern: $0) }
    }
}
