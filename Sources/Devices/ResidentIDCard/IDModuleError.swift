public import Messages

/// Why talking to the ID-card security module, or reading a card through it, failed.
public struct IDModuleError: ExplainedError, Hashable, Sendable, CustomStringConvertible {
    public enum Reason: Hashable, Sendable {
        /// The device path does not exist or is not a serial device (module not connected).
        case deviceUnavailable
        /// The process may not open the device (group `dialout`?).
        case permissionDenied
        /// The device went away during I/O (USB adapter unplugged).
        case deviceGone
        /// No complete answer within the timeout.
        case timeout
        /// An answer to a read was corrupt (checksum, length, garbage): the module now counts the card as
        /// read, so the customer must lift it and place it again.
        case malformedFrame
        /// Every answer to a cheap, repeatable command (find, select, status) was corrupt, attempt after
        /// attempt: noise on the serial line or a failing module, not the card.
        case noisyLine
        /// No card on the reader.
        case noCard
        /// The module answered with this status.
        case moduleStatus(ModuleStatus)
        /// The card's data is not a valid document.
        case invalidCardData
    }

    public let reason: Reason
    public let detail: String

    public init(_ reason: Reason, detail: String) {
        self.reason = reason
        self.detail = detail
    }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.reason == rhs.reason }
    public func hash(into hasher: inout Hasher) { hasher.combine(self.reason) }

    public var description: String { self.operatorMessage }

    /// A stable code for JSON output.
    public var reasonCode: String {
        switch self.reason {
        case .deviceUnavailable: "deviceUnavailable"
        case .permissionDenied: "permissionDenied"
        case .deviceGone: "deviceGone"
        case .timeout: "timeout"
        case .malformedFrame: "malformedFrame"
        case .noisyLine: "noisyLine"
        case .noCard: "noCard"
        case .moduleStatus: "moduleStatus"
        case .invalidCardData: "invalidCardData"
        }
    }

    public var operatorMessage: String {
        let what: String
        switch self.reason {
        case .deviceUnavailable: what = "ID-card module not available (check the cable and the configured device)"
        case .permissionDenied: what = "no permission to open the ID-card module's device (is the service user in group dialout?)"
        case .deviceGone: what = "ID-card module disconnected"
        case .timeout: what = "ID-card module did not answer in time"
        case .malformedFrame: what = "ID-card module sent a corrupt answer"
        case .noisyLine:
            what = "ID-card module's answers stayed corrupt over every retry (noise on the serial line: check the cable, the USB-serial adapter and its grounding, the baud rate)"
        case .noCard: what = "no ID card on the reader"
        case .moduleStatus(let status): what = "ID-card module answered \(status)"
        case .invalidCardData: what = "the ID card's data is invalid"
        }
        return "\(what): \(self.detail)"
    }

    public var customerMessage: CustomerMessage {
        switch self.reason {
        case .noCard:
            CustomerMessage(key: "idcard.noCard", zhHans: "请将身份证放在读卡区。", en: "Please place your ID card on the reader.")
        case .moduleStatus(let status) where status == .wrongCardType:
            CustomerMessage(key: "idcard.wrongCard", zhHans: "无法识别此证件，请放置有效的身份证件。",
                en: "This document cannot be read. Please place a valid identity document.")
        case .moduleStatus, .malformedFrame, .invalidCardData:
            CustomerMessage(key: "idcard.readFailed", zhHans: "身份证读取失败，请拿起身份证后重新放置。",
                en: "The ID card could not be read. Please lift it and place it on the reader again.")
        case .deviceUnavailable, .permissionDenied, .deviceGone, .timeout, .noisyLine:
            CustomerMessage(key: "idcard.readerUnavailable", zhHans: "身份证阅读器暂时无法使用，请联系工作人员。",
                en: "The ID card reader is not working right now. Please ask a member of staff for help.")
        }
    }
}
