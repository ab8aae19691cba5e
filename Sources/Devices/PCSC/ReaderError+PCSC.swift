public import CardCore

extension ReaderError {
    /// Translates a PC/SC return code into a reader error with a message a field engineer can act on.
    /// - Parameters:
    ///   - error: the PC/SC code.
    ///   - reader: the reader involved, when there is one.
    ///   - operation: what was being done, e.g. "connect".
    public init(pcsc error: PCSCError, reader: String? = nil, operation: String) {
        let code: ReaderError.Code
        let advice: String
        switch error {
        case .noService, .commError:
            code = .serviceUnavailable
            advice = "pcscd is not running or stopped answering; kioskd reconnects when it is back"
                + " (check `systemctl status pcscd.socket pcscd`)"
        case .serviceStopped:
            code = .serviceUnavailable
            advice = "pcscd refused the client protocol: two different libpcsclite versions are installed"
                + " (look for a second libpcsclite in /usr/local)"
        case .invalidHandle:
            code = .readerUnavailable
            advice = "the handle is no longer valid (pcscd restarted or the reader was re-plugged); connect again"
        case .noReadersAvailable:
            code = .noReaders
            advice = "no reader is connected; check the USB cable and `pcsc_scan -r`"
        case .unknownReader:
            code = .unknownReader
            advice = "no reader has this name; list them with `kioskctl readers`"
        case .readerUnavailable:
            code = .readerUnavailable
            advice = "the reader is not available (unplugged or its driver failed); re-plug it"
        case .noSmartcard:
            code = .noCard
            advice = "no card is in the reader"
        case .removedCard:
            code = .cardRemoved
            advice = "the card was removed"
        case .resetCard:
            code = .cardReset
            advice = "another application reset the card; start again from SELECT"
        case .unresponsiveCard, .unpoweredCard:
            code = .cardUnresponsive
            advice = "the card does not answer to reset: it may be the wrong way round, dirty or broken"
        case .unsupportedCard, .cardUnsupported:
            code = .unsupportedCard
            advice = "the reader cannot talk to this card"
        case .protocolMismatch:
            code = .protocolMismatch
            advice = "the card does not speak the requested protocol (T=0/T=1)"
        case .sharingViolation:
            code = .sharingViolation
            advice = "another application holds the card exclusively (is `pcsc_scan` or a vendor tool running?)"
        case .timeout:
            code = .timeout
            advice = "the reader did not answer in time"
        case .cancelled:
            code = .cancelled
            advice = "the wait was cancelled"
        case .unsupportedFeature:
            code = .unsupportedFeature
            advice = "the reader or its driver does not support this request"
        case .insufficientBuffer:
            code = .insufficientBuffer
            advice = "the answer did not fit the buffer"
        case .securityViolation, .noAccess:
            code = .permissionDenied
            advice = "pcscd refused access or reset the connection (pcsc-lite 1.9 reports a reset with this code); if it persists, install Config/polkit/kioskd-pcsc.rules or run as an allowed user"
        default:
            code = .failed
            advice = "unexpected PC/SC failure"
        }
        self.init(code, message: "\(operation): \(advice): \(error)", readerName: reader, pcscCode: error.rawValue)
    }
}
