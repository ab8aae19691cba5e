import Activation
import Foundation
import Journal
import KioskProtocol
import Messages
import Identity

/// How flow events, journal rows and errors look on the wire.
enum Wire {
    /// `{key, zhHans, en, arguments, text}`: `text` is the one in the customer's language.
    static func message(_ message: CustomerMessage, language: CustomerLanguage = .zhHans) -> JSONValue {
        var arguments: [String: JSONValue] = [:]
        for (key, value) in message.arguments { arguments[key] = .string(value) }
        return [
            "key": .string(message.key), "zhHans": .string(message.zhHans), "en": .string(message.en), "arguments": .object(arguments),
            "text": .string(language == .en ? message.en : message.zhHans),
        ]
    }

    /// A flow event as an `Activation.*Event` (name, payload); `nil` for the end, which is the completion.
    /// A result says whether the daemon runs in test mode (`test`); messages carry `text` in `language`.
    static func event(_ event: FlowEvent, testMode: Bool, language: CustomerLanguage = .zhHans) -> (String, JSONValue)? {
        func render(_ value: CustomerMessage) -> JSONValue { Self.message(value, language: language) }
        switch event {
        case .stage(let stage, let message):
            return ("Activation.StageEvent", ["stage": .string(stage.rawValue), "message": render(message)])
        case .details(let details):
            return ("Activation.DetailsEvent", [
                "documentType": .string(details.documentType), "document": render(details.document),
                "name": .string(details.name), "idNumber": .string(details.idNumber), "cardNumber": .string(details.cardNumber),
                "bankCardNumber": .string(details.bankCardNumber), "cardExpiry": details.cardExpiry.map(JSONValue.string) ?? .null,
            ])
        case .pinProgress(let digits):
            return ("Activation.PINProgressEvent", ["digits": .number(Double(digits))])
        case .timeoutWarning(let stage, let seconds):
            return ("Activation.TimeoutWarningEvent", ["stage": .string(stage.rawValue), "seconds": .number(Double(seconds))])
        case .notice(let message, _):
            return ("Activation.NoticeEvent", ["message": render(message)])
        case .result(let state, let message, _):
            return ("Activation.ResultEvent", ["state": .string(state), "message": render(message), "test": .bool(testMode)])
        case .ended:
            return nil
        }
    }

    static func record(_ record: ActivationRecord) -> JSONValue {
        return [
            "key": .string(record.key), "state": .string(record.state.rawValue), "maskedPAN": .string(record.maskedPAN),
            "maskedID": .string(record.maskedID), "bankReference": record.bankReference.map(JSONValue.string) ?? .null,
            "bankCode": record.bankCode.map(JSONValue.string) ?? .null, "gateway": .string(record.gateway),
            "createdAt": .string(Timestamp.rfc3339(secondsSince1970: record.createdAt.timeIntervalSince1970, milliseconds: false)), "updatedAt": .string(Timestamp.rfc3339(secondsSince1970: record.updatedAt.timeIntervalSince1970, milliseconds: false)),
            "resolveAttempts": .number(Double(record.resolveAttempts)),
        ]
    }

    /// The request ID and name of a line that did not decode, where they can be read at all.
    static func peek(_ line: [UInt8]) -> (name: String, requestId: Int?) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any], let header = object["header"] as? [String: Any] else {
            return ("Common.Error", nil)
        }
        return ((header["name"] as? String) ?? "Common.Error", header["requestId"] as? Int)
    }
}
