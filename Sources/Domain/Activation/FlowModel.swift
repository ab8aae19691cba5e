public import Messages
public import ResidentIDCard
public import SocialSecurityCard

/// Where the flow is; each stage has a customer message and (where the customer acts) a timeout.
public enum FlowStage: String, Hashable, Sendable, CaseIterable {
    case waitingForCards
    case reading
    case confirming
    case enteringPIN
    case confirmingPIN
    case processing
    case result
    case takeCards
    case ended

    public var customerMessage: CustomerMessage {
        switch self {
        case .waitingForCards:
            CustomerMessage(key: "flow.insertCards", zhHans: "请将身份证放在感应区，并插入社会保障卡。",
                en: "Place your ID card on the reader and insert your social security card.")
        case .reading:
            CustomerMessage(key: "flow.reading", zhHans: "正在读取证件和卡片信息，请勿移动。", en: "Reading your ID card and card. Please do not move them.")
        case .confirming:
            CustomerMessage(key: "flow.confirmDetails", zhHans: "请核对以下信息，确认无误后点击“确认”。", en: "Please check the details below and press Confirm.")
        case .enteringPIN:
            CustomerMessage(key: "flow.enterPIN", zhHans: "请在密码键盘上输入6位新的银行卡密码，按“确认”键结束。",
                en: "Enter a new 6-digit bank PIN on the PIN pad and press Enter.")
        case .confirmingPIN:
            CustomerMessage(key: "flow.confirmPIN", zhHans: "请再次输入新密码。", en: "Enter the new PIN again.")
        case .processing:
            CustomerMessage(key: "flow.processing", zhHans: "正在办理，请稍候，请勿取卡。", en: "Processing. Please wait and do not remove your cards.")
        case .result:
            CustomerMessage(key: "flow.result", zhHans: "办理结果", en: "Result")
        case .takeCards:
            CustomerMessage(key: "flow.takeCards", zhHans: "请取回您的身份证和社会保障卡。", en: "Please take your ID card and social security card.")
        case .ended:
            CustomerMessage(key: "flow.thanks", zhHans: "谢谢使用。", en: "Thank you.")
        }
    }
}

/// The details the customer confirms, masked as a customer screen shows them.
public struct ConfirmationDetails: Hashable, Sendable, Codable {
    /// The identity document's kind (``IDDocumentType``'s raw value: `residentIDCard`, `hmtResidencePermit`,
    /// `foreignPermanentResident2017`, `foreignPermanentResident2023`).
    public var documentType: String
    /// The document's name for the customer (`document.<type>`, zh-Hans and English).
    public var document: CustomerMessage
    public var name: String
    public var idNumber: String
    public var cardNumber: String
    public var bankCardNumber: String
    public var cardExpiry: String?
}

/// How a flow ended.
public enum FlowEnd: String, Hashable, Sendable {
    case completed, refused, cancelled, timedOut, cardRemoved, deviceFailed, outOfService
    /// The request went to the bank and its outcome is not known yet (`unknown`, or `manual` for a bank
    /// with neither inquiry nor reversal): the result will be confirmed; the customer keeps the reference.
    case pending

    public var customerMessage: CustomerMessage {
        switch self {
        case .completed: FlowStage.ended.customerMessage
        case .refused: CustomerMessage(key: "flow.refused", zhHans: "本次业务未能办理。", en: "This request could not be completed.")
        case .cancelled: CustomerMessage(key: "flow.cancelled", zhHans: "业务已取消，未做任何变更。", en: "Cancelled. Nothing was changed.")
        case .timedOut: CustomerMessage(key: "flow.timedOut", zhHans: "操作超时，业务已取消，未做任何变更。", en: "Timed out. The request was cancelled; nothing was changed.")
        case .cardRemoved:
            CustomerMessage(key: "flow.cardRemoved", zhHans: "证件或卡片已被取走，业务已取消，未做任何变更。",
                en: "A card was removed. The request was cancelled; nothing was changed.")
        case .deviceFailed:
            CustomerMessage(key: "flow.deviceFailed", zhHans: "设备暂时故障，业务已取消，未做任何变更，请到柜台办理。",
                en: "A device failed. The request was cancelled and nothing was changed. Please go to a counter.")
        case .outOfService: CustomerMessage(key: "kiosk.outOfService", zhHans: "本机暂停服务，请到柜台办理。", en: "This kiosk is out of service. Please go to a counter.")
        case .pending:
            CustomerMessage(key: "flow.pending", zhHans: "办理结果尚待银行确认。请保留业务编号，工作人员可据此为您查询；结果确认前请勿重复办理。",
                en: "The bank has yet to confirm the result. Keep the reference number: staff can look it up with it. Do not start again until it is confirmed.")
        }
    }
}

/// What the flow tells the screen.
public enum FlowEvent: Hashable, Sendable {
    case stage(FlowStage, CustomerMessage)
    case details(ConfirmationDetails)
    /// PIN entry progress: this many digits entered (never the digits).
    case pinProgress(Int)
    /// The stage times out in `seconds` unless the customer asks for more time.
    case timeoutWarning(FlowStage, seconds: Int)
    /// A refusal or a problem the customer must read; `operatorMessage` is for the log only.
    case notice(CustomerMessage, operatorMessage: String)
    /// The bank's answer (final, or still being confirmed).
    case result(state: String, CustomerMessage, operatorMessage: String)
    case ended(FlowEnd)
}

/// What the flow hears from the devices and the screen.
public enum FlowInput: Sendable {
    case idCardRead(IDCardData)
    case idCardLeft
    case idModuleFailed(String)
    /// A document is on the reader but could not be read: the customer lifts it and places it again.
    case idCardReadFailed(IDModuleError)
    case cardInserted
    case cardRead(SocialSecurityCardReading)
    case cardReadFailed(CardReadError)
    case cardRemoved
    case readerFailed(String)
    case confirm
    case reject
    case cancel
    case moreTime
}

/// Per-stage timeouts; a warning goes to the screen `warning` before each expires.
public struct FlowTimeouts: Hashable, Sendable {
    public var cards: Duration
    public var confirm: Duration
    public var pinEntry: Duration
    public var takeCards: Duration
    public var warning: Duration
    /// What `moreTime` adds (once per stage).
    public var extensionTime: Duration

    public init(
        cards: Duration = .seconds(90), confirm: Duration = .seconds(60), pinEntry: Duration = .seconds(45), takeCards: Duration = .seconds(30),
        warning: Duration = .seconds(10), extensionTime: Duration = .seconds(30)
    ) {
        self.cards = cards
        self.confirm = confirm
        self.pinEntry = pinEntry
        self.takeCards = takeCards
        self.warning = warning
        self.extensionTime = extensionTime
    }
}

/// A second opinion on the person before the bank call: a face-comparison service or a clerk on a staff
/// device. Pluggable; the configuration names which is used.
public protocol IdentityVerifier: Sendable {
    func verify(idCard: IDCardData) async -> IdentityVerification
}

public enum IdentityVerification: Hashable, Sendable {
    case verified
    case rejected(String)
    case unavailable(String)
}

extension IDDocumentType {
    /// The document's name as the details screen shows it.
    public var customerMessage: CustomerMessage {
        CustomerMessage(key: "document.\(self.rawValue)", zhHans: self.chineseName, en: self.englishName)
    }

    /// The document type as the bank request carries it (PBOC `9F62` style): `0` resident ID card, `5`
    /// another document (the residence permits and foreign permanent residence cards have no code of their own
    /// there; the number's form tells them apart).
    public var holderIDType: Int { self == .residentIDCard ? 0 : 5 }
}
