/// A message the customer reads on the kiosk screen, behind a stable key.
///
/// The key never changes once released: a kiosk screen may use it to show its own wording or a further
/// language. `zhHans` (Simplified Chinese) is the default text, `en` the English one.
public struct CustomerMessage: Hashable, Sendable, Codable, CustomStringConvertible {
    /// Stable, dotted key, e.g. `card.ssc.pinBlocked`.
    public let key: String
    /// The text in Simplified Chinese (the default language).
    public let zhHans: String
    /// The text in English.
    public let en: String
    /// Values the texts contain (`triesLeft` = `2`), so a screen with its own wording can fill them in.
    public let arguments: [String: String]

    public init(key: String, zhHans: String, en: String, arguments: [String: String] = [:]) {
        self.key = key
        self.zhHans = zhHans
        self.en = en
        self.arguments = arguments
    }

    /// The text for a language tag (`zh-Hans`, `zh`, `en`, …); Simplified Chinese unless English is asked for.
    public func text(for language: String) -> String {
        language.lowercased().hasPrefix("en") ? self.en : self.zhHans
    }

    public var description: String { "\(self.key): \(self.zhHans) / \(self.en)" }
}

/// An error that can explain itself twice: to the customer at the kiosk and to the operator or field
/// engineer reading the logs.
public protocol ExplainedError: Error {
    /// What the customer reads (no personal data, no jargon).
    var customerMessage: CustomerMessage { get }
    /// What the operator reads: what happened, with the data needed to act (never personal data).
    var operatorMessage: String { get }
}
