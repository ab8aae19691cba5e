import Foundation

/// Binary fields of XFS4IoT messages are Base64 (`xfs4iot.md` §2).
public enum XFSBase64 {
    public static func encode(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }
    public static func decode(_ text: String) -> [UInt8]? { Data(base64Encoded: text).map(Array.init) }
}
