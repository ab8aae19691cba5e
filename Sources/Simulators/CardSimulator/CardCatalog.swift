import Foundation

/// The virtual cards a person can pick by name (`kioskctl vcard --card NAME`, the demo).
public enum CardCatalog {
    /// Names and one-line descriptions.
    public static let entries: [(name: String, summary: String)] = [
        ("echo", "answers READ BINARY/RECORD with Le bytes, everything else 9000 (benchmark card)"),
        ("demo", "ISO 7816-4 file card in the SSSE layout (sx1.sh.社会保障, EF05), T=1 style answers"),
        ("demo-t0", "the demo card answering like a T=0 card: 61xx chains of 16 bytes and 6Cxx"),
    ]

    /// The card called `name`, or `nil`.
    public static func card(named name: String) -> (any VirtualCard)? {
        switch name {
        case "echo": return EchoCard()
        case "demo": return FileSystemCard.demo()
        case "demo-t0": return T0Card(wrapping: FileSystemCard.demo(), behaviour: .init(chunkSize: 16))
        default: return nil
        }
    }

    /// A card that replays a trace file (see ``ScriptedCard``).
    public static func card(trace path: String) throws -> any VirtualCard {
        try ScriptedCard(trace: String(contentsOfFile: path, encoding: .utf8))
    }
}
