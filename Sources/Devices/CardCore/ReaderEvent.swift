import Bytes

/// A reader as seen at one moment.
public struct ReaderInfo: Hashable, Sendable, Codable {
    /// The reader's name as the backend reports it (PC/SC: `"<friendly name> XX YY"`).
    public var name: String
    /// True when a card is in the reader.
    public var cardPresent: Bool
    /// The card's answer to reset, when a card is present and powered.
    public var atr: [UInt8]?
    /// True when a card is present but does not answer (no ATR).
    public var cardMute: Bool
    /// True when another application holds the card exclusively.
    public var inUseExclusively: Bool

    public init(name: String, cardPresent: Bool, atr: [UInt8]? = nil, cardMute: Bool = false, inUseExclusively: Bool = false) {
        self.name = name
        self.cardPresent = cardPresent
        self.atr = atr
        self.cardMute = cardMute
        self.inUseExclusively = inUseExclusively
    }
}

/// Something that happened to readers, cards or the reader service.
///
/// A subscriber first receives the current state (a ``readerAttached(_:)`` per reader and a
/// ``cardInserted(reader:atr:)`` per card) and then changes as they happen.
public enum ReaderEvent: Hashable, Sendable, CustomStringConvertible {
    /// A reader appeared.
    case readerAttached(String)
    /// A reader disappeared (unplugged, or the service went away).
    case readerDetached(String)
    /// A card was put into a reader; `atr` is its answer to reset.
    case cardInserted(reader: String, atr: [UInt8])
    /// A card was taken out of a reader.
    case cardRemoved(reader: String)
    /// A card is in the reader but gives no answer to reset.
    case cardMute(reader: String)
    /// The reader service was lost (pcscd stopped); readers will be re-listed when it returns.
    case serviceOffline(reason: String)
    /// The reader service is reachable (again).
    case serviceOnline

    public var description: String {
        switch self {
        case .readerAttached(let name): return "reader attached: \(name)"
        case .readerDetached(let name): return "reader detached: \(name)"
        case .cardInserted(let reader, let atr): return "card inserted: \(reader) ATR \(Hex.encode(atr, separator: " "))"
        case .cardRemoved(let reader): return "card removed: \(reader)"
        case .cardMute(let reader): return "card mute: \(reader)"
        case .serviceOffline(let reason): return "reader service offline: \(reason)"
        case .serviceOnline: return "reader service online"
        }
    }
}
