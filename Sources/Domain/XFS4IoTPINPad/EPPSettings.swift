/// How kioskd uses the kiosk's EPP through XFS4IoT (`pinPad.*` in the YAML).
public struct EPPSettings: Hashable, Sendable {
    /// Rotating the PIN key at each sign-on on an EPP that may refuse to overwrite a key name.
    public enum Rotation: String, Hashable, Sendable, CaseIterable {
        /// One name; an import answered `duplicateKey` deletes the old key and imports again.
        case replace
        /// Two names used in turn, so the previous key stays usable until the new one is in; a name still in
        /// use is deleted first when the EPP refuses to overwrite it.
        case alternate
    }

    /// The terminal master key's name in the EPP (loaded at installation, never by kioskd).
    public var masterKeyName: String
    /// The PIN key's name(s): one for ``Rotation/replace``, two for ``Rotation/alternate``.
    public var pinKeyNames: [String]
    public var rotation: Rotation
    /// The XFS4IoT algorithm code the PIN key is imported with: `T` (TDEA) for 3DES banks; for an SM4 bank
    /// the EPP vendor's proprietary digit (`0`–`9`), from its documentation (`xfs4iot.md` §4).
    public var keyAlgorithm: String
    /// SM4 PIN blocks: XFS4IoT has no standard identifier, so the vendor's PIN format name comes from the EPP's
    /// documentation. `nil` means SM4 PIN blocks are refused with a message naming `pinPad.sm4PinFormat`.
    public var sm4PinFormat: String?
    /// The header timeout of short commands (status, import, PIN block), in milliseconds.
    public var commandTimeoutMilliseconds: Int

    public init(
        masterKeyName: String = "TMK01", pinKeyNames: [String] = ["PIK01"], rotation: Rotation = .replace, keyAlgorithm: String = "T",
        sm4PinFormat: String? = nil, commandTimeoutMilliseconds: Int = 10_000
    ) {
        self.masterKeyName = masterKeyName
        self.pinKeyNames = pinKeyNames
        self.rotation = rotation
        self.keyAlgorithm = keyAlgorithm
        self.sm4PinFormat = sm4PinFormat
        self.commandTimeoutMilliseconds = commandTimeoutMilliseconds
    }
}

/// The EPP as the kiosk's status and metrics show it.
public struct EPPHealth: Hashable, Sendable {
    /// `connected`, `connecting` or `disconnected`.
    public var connection: String
    /// `common.device` (online, offline, hardwareError, …), once known.
    public var device: String?
    /// `keyManagement.encryptionState` (ready, notInitialized = no master key, …), once known.
    public var encryptionState: String?
    /// The PIN key in use, once one was imported and its check value matched.
    public var pinKey: String?
    /// Why the EPP cannot take a PIN now, for the operator.
    public var problem: String?

    /// True when a customer could enter a PIN now.
    public var isReady: Bool { self.problem == nil && self.connection == "connected" && self.device == "online" && self.pinKey != nil }

    /// The operator's reason the EPP is not ready, or `nil`.
    public var notReadyReason: String? {
        if self.connection != "connected" { return "the EPP service is not connected (\(self.problem ?? self.connection))" }
        if let device = self.device, device != "online" { return "the EPP is \(device)" }
        if self.encryptionState == "notInitialized" { return "the EPP has no master key (encryptionState notInitialized): load the TMK" }
        if let problem = self.problem { return problem }
        if self.pinKey == nil { return "no PIN key imported yet (waiting for the bank's sign-on)" }
        return nil
    }
}
