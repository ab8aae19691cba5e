/// A smart card simulated in software. The same card can sit in the mock reader or be served to the
/// real pcscd through vpcd (``VPCDCard``).
///
/// Implementations must be safe to call from the thread that serves them; they are called one command at
/// a time per reader.
public protocol VirtualCard: AnyObject, Sendable {
    /// The answer to reset.
    var atr: [UInt8] { get }
    /// Power-on or reset: forget selections and session state.
    func reset()
    /// Processes one command APDU (raw bytes) and returns the raw response (data + SW1 SW2).
    /// Returning `nil` means the card stays mute (no answer), which readers report as a timeout.
    func process(_ command: [UInt8]) -> [UInt8]?
}
