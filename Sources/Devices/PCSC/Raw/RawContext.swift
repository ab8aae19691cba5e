internal import CPCSCLite
import Glibc
import Synchronization

/// Live PC/SC contexts established by this process, for leak checks.
let liveContextCount = Atomic<Int>(0)

/// One reader's entry in a `SCardGetStatusChange` call.
struct RawReaderState: Sendable {
    var name: String
    var currentState: UInt32
    var eventState: UInt32 = 0
    var atr: [UInt8] = []
}

/// Bits of `dwEventState` (`SCARD_STATE_*`, `pcsclite.h`), as plain numbers for the layers above.
enum RawStateFlag {
    static let unaware = UInt32(SCARD_STATE_UNAWARE)
    static let ignore = UInt32(SCARD_STATE_IGNORE)
    static let changed = UInt32(SCARD_STATE_CHANGED)
    static let unknown = UInt32(SCARD_STATE_UNKNOWN)
    static let unavailable = UInt32(SCARD_STATE_UNAVAILABLE)
    static let empty = UInt32(SCARD_STATE_EMPTY)
    static let present = UInt32(SCARD_STATE_PRESENT)
    static let exclusive = UInt32(SCARD_STATE_EXCLUSIVE)
    static let inUse = UInt32(SCARD_STATE_INUSE)
    static let mute = UInt32(SCARD_STATE_MUTE)
}

/// A PC/SC context (`SCARDCONTEXT`). Not thread-safe: one thread owns it; only ``cancel(handle:)``
/// may be called from elsewhere.
final class RawContext {
    /// The PnP pseudo-reader whose state changes when a reader is added or removed.
    static let pnpNotification = "\\\\?PnP?\\Notification"

    let handle: SCARDCONTEXT
    private var released = false

    /// Wraps `SCardEstablishContext(SCARD_SCOPE_SYSTEM)`.
    init() throws(PCSCError) {
        var handle: SCARDCONTEXT = 0
        try pcscCheck(SCardEstablishContext(DWORD(SCARD_SCOPE_SYSTEM), nil, nil, &handle))
        self.handle = handle
        liveContextCount.add(1, ordering: .relaxed)
    }

    deinit { self.release() }

    /// Wraps `SCardReleaseContext`. Idempotent; errors are ignored (the service may be gone).
    func release() {
        guard !self.released else { return }
        self.released = true
        _ = SCardReleaseContext(self.handle)
        liveContextCount.subtract(1, ordering: .relaxed)
    }

    /// Wraps `SCardListReaders`. No readers is an empty list, not an error.
    func listReaders() throws(PCSCError) -> [String] {
        var length: DWORD = 0
        var rv = SCardListReaders(self.handle, nil, nil, &length)
        if rv == SCARD_E_NO_READERS_AVAILABLE { return [] }
        try pcscCheck(rv)
        var buffer = [CChar](repeating: 0, count: Int(length) + 1)
        rv = SCardListReaders(self.handle, nil, &buffer, &length)
        if rv == SCARD_E_NO_READERS_AVAILABLE { return [] }
        try pcscCheck(rv)
        // A multi-string: names separated by NUL, ended by an empty name.
        var names: [String] = []
        var current: [UInt8] = []
        for char in buffer.prefix(Int(length)) {
            if char == 0 {
                if current.isEmpty { break }
                names.append(String(decoding: current, as: UTF8.self))
                current.removeAll(keepingCapacity: true)
            } else {
                current.append(UInt8(bitPattern: char))
            }
        }
        return names
    }

    /// Wraps `SCardGetStatusChange`: blocks until a state differs from `currentState`, the timeout
    /// passes (`SCARD_E_TIMEOUT`) or ``cancel(handle:)`` is called (`SCARD_E_CANCELLED`).
    func getStatusChange(_ states: inout [RawReaderState], timeoutMilliseconds: UInt32) throws(PCSCError) {
        let names = states.map { strdup($0.name) }
        defer { names.forEach { free($0) } }
        var raw = [SCARD_READERSTATE](repeating: SCARD_READERSTATE(), count: states.count)
        for index in raw.indices {
            raw[index].szReader = UnsafePointer(names[index])
            raw[index].dwCurrentState = DWORD(states[index].currentState)
        }
        let rv = SCardGetStatusChange(self.handle, DWORD(timeoutMilliseconds), &raw, DWORD(raw.count))
        try pcscCheck(rv)
        for index in raw.indices {
            states[index].eventState = UInt32(truncatingIfNeeded: raw[index].dwEventState)
            let count = min(Int(raw[index].cbAtr), Int(MAX_ATR_SIZE))
            states[index].atr = withUnsafeBytes(of: raw[index].rgbAtr) { Array($0.prefix(count)) }
        }
    }

    /// Wraps `SCardCancel`: wakes a `SCardGetStatusChange` blocked on the context `handle`.
    /// The one PC/SC call that may cross threads.
    static func cancel(handle: SCARDCONTEXT) {
        _ = SCardCancel(handle)
    }
}
