internal import CPCSCLite

/// A connection to one card (`SCARDHANDLE`) with its own context. Not thread-safe: the connection's
/// worker thread owns it.
final class RawCard {
    let context: RawContext
    let readerName: String
    private(set) var handle: SCARDHANDLE = 0
    private(set) var activeProtocol: DWORD = 0
    private let shareMode: DWORD
    private let preferredProtocols: DWORD
    private var connected = false
    private var receiveBuffer: [UInt8]

    /// Establishes a context and wraps `SCardConnect`.
    init(reader: String, shareMode: DWORD, protocols: DWORD) throws(PCSCError) {
        self.context = try RawContext()
        self.readerName = reader
        self.shareMode = shareMode
        self.preferredProtocols = protocols
        self.receiveBuffer = [UInt8](repeating: 0, count: Int(CPCSC_MAX_BUFFER_SIZE_EXTENDED))
        var handle: SCARDHANDLE = 0
        var active: DWORD = 0
        try pcscCheck(SCardConnect(self.context.handle, reader, shareMode, protocols, &handle, &active))
        self.handle = handle
        self.activeProtocol = active
        self.connected = true
    }

    deinit {
        // Safety net only: the owner disconnects explicitly, choosing the disposition.
        self.disconnect(disposition: DWORD(SCARD_RESET_CARD))
    }

    static let shareShared = DWORD(SCARD_SHARE_SHARED)
    static let shareExclusive = DWORD(SCARD_SHARE_EXCLUSIVE)
    static let shareDirect = DWORD(SCARD_SHARE_DIRECT)
    static let protocolT0 = DWORD(SCARD_PROTOCOL_T0)
    static let protocolT1 = DWORD(SCARD_PROTOCOL_T1)
    static let leaveCard = DWORD(SCARD_LEAVE_CARD)
    static let resetCard = DWORD(SCARD_RESET_CARD)
    static let unpowerCard = DWORD(SCARD_UNPOWER_CARD)
    static let ejectCard = DWORD(SCARD_EJECT_CARD)

    /// Wraps `SCardStatus`: the card's current ATR.
    func atr() throws(PCSCError) -> [UInt8] {
        var nameLength: DWORD = 0
        var state: DWORD = 0
        var proto: DWORD = 0
        var atr = [UInt8](repeating: 0, count: Int(MAX_ATR_SIZE))
        var atrLength = DWORD(atr.count)
        try pcscCheck(SCardStatus(self.handle, nil, &nameLength, &state, &proto, &atr, &atrLength))
        return Array(atr.prefix(Int(atrLength)))
    }

    /// Wraps `SCardTransmit` with the protocol control information of the active protocol.
    /// The receive buffer is sized for the largest extended APDU, so the card never runs a command twice.
    func transmit(_ command: [UInt8]) throws(PCSCError) -> [UInt8] {
        let pci: UnsafePointer<SCARD_IO_REQUEST> =
            self.activeProtocol == Self.protocolT0 ? CPCSC_PCI_T0()
            : self.activeProtocol == Self.protocolT1 ? CPCSC_PCI_T1() : CPCSC_PCI_RAW()
        var received = DWORD(self.receiveBuffer.count)
        let handle = self.handle
        let rv = command.withUnsafeBufferPointer { send in
            self.receiveBuffer.withUnsafeMutableBufferPointer { receive in
                SCardTransmit(handle, pci, send.baseAddress, DWORD(send.count), nil, receive.baseAddress, &received)
            }
        }
        try pcscCheck(rv)
        return Array(self.receiveBuffer.prefix(Int(received)))
    }

    /// Wraps `SCardBeginTransaction`.
    func beginTransaction() throws(PCSCError) { try pcscCheck(SCardBeginTransaction(self.handle)) }

    /// Wraps `SCardEndTransaction(SCARD_LEAVE_CARD)`.
    func endTransaction() throws(PCSCError) { try pcscCheck(SCardEndTransaction(self.handle, Self.leaveCard)) }

    /// Wraps `SCardReconnect`; with `SCARD_LEAVE_CARD` it acknowledges a reset made by someone else.
    func reconnect(initialization: DWORD) throws(PCSCError) {
        var active: DWORD = 0
        try pcscCheck(SCardReconnect(self.handle, self.shareMode, self.preferredProtocols, initialization, &active))
        self.activeProtocol = active
    }

    /// Wraps `SCardControl`.
    func control(code: UInt32, data: [UInt8]) throws(PCSCError) -> [UInt8] {
        var returned: DWORD = 0
        let handle = self.handle
        let rv = data.withUnsafeBufferPointer { send in
            self.receiveBuffer.withUnsafeMutableBufferPointer { receive in
                SCardControl(
                    handle, DWORD(code), send.baseAddress, DWORD(send.count), receive.baseAddress,
                    DWORD(receive.count), &returned)
            }
        }
        try pcscCheck(rv)
        return Array(self.receiveBuffer.prefix(Int(returned)))
    }

    /// After an answer that makes no sense (empty, or `SCARD_E_NOT_TRANSACTED`): is the card gone?
    /// Some drivers (vpcd) report a removal that way before pcscd's presence poll notices it, so this
    /// waits on `SCardGetStatusChange` up to `milliseconds` for the reader to turn empty.
    func cardWasRemoved(waitingUpTo milliseconds: UInt32) -> Bool {
        var states = [RawReaderState(name: self.readerName, currentState: RawStateFlag.unaware)]
        do {
            try self.context.getStatusChange(&states, timeoutMilliseconds: 0)
        } catch {
            return error == .unknownReader || error == .readerUnavailable
        }
        if states[0].eventState & RawStateFlag.present == 0 { return true }
        var waiting = [RawReaderState(name: self.readerName, currentState: states[0].eventState & ~RawStateFlag.changed)]
        do {
            try self.context.getStatusChange(&waiting, timeoutMilliseconds: milliseconds)
        } catch {
            return error == .unknownReader || error == .readerUnavailable
        }
        let counterChanged = (waiting[0].eventState >> 16) != (states[0].eventState >> 16)
        return waiting[0].eventState & RawStateFlag.present == 0 || counterChanged
    }

    /// Wraps `SCardDisconnect`, then releases the context. Idempotent; errors are ignored because the
    /// card or the service may already be gone.
    func disconnect(disposition: DWORD) {
        if self.connected {
            self.connected = false
            _ = SCardDisconnect(self.handle, disposition)
        }
        self.context.release()
    }
}
