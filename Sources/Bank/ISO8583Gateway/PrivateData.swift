import KioskCrypto

/// The bank-private data an activation needs and ISO 8583 has no field for (idempotency key, the holder's
/// ID document, name, tries left), carried in field 62 as `TAG(2 ASCII) LEN(3 ASCII digits) VALUE`.
/// No public CUPS layout exists for activation (`gateway.md` §1.3): this is our default, and a bank
/// with its own layout gets its own codec. Pure.
public struct PrivateData: Hashable, Sendable {
    public enum Tag: String, Sendable, CaseIterable {
        /// The activation's idempotency key.
        case key = "IK"
        /// ID document type, 2 digits (`00` resident ID card).
        case idType = "IT"
        /// ID document number.
        case idNumber = "ID"
        /// Holder's name, GB18030.
        case name = "NM"
        /// PIN tries left (responses).
        case triesLeft = "TL"
        /// The ID number and name, sealed (``sealed(idAndName:key:)``): SM4-CBC under the profile's field key,
        /// a random IV first. Carried instead of `ID` and `NM` when the profile has `sm4FieldKey`.
        case sealed = "SE"
    }

    public private(set) var values: [String: [UInt8]] = [:]

    public init() {}

    public subscript(tag: Tag) -> [UInt8]? {
        get { self.values[tag.rawValue] }
        set { self.values[tag.rawValue] = newValue }
    }

    /// The ASCII text of `tag`.
    public func text(_ tag: Tag) -> String? {
        self[tag].map { String(decoding: $0, as: UTF8.self) }
    }

    public mutating func set(_ tag: Tag, text: String) { self[tag] = Array(text.utf8) }

    /// Elements in tag order (deterministic bytes, so MACs are reproducible).
    public func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        for (tag, value) in self.values.sorted(by: { $0.key < $1.key }) {
            let length = String(value.count)
            bytes += Array(tag.utf8) + Array((String(repeating: "0", count: 3 - length.count) + length).utf8) + value
        }
        return bytes
    }

    /// The `ID` and `NM` elements of `self`, sealed under `key` (SM4, 16 bytes): IV (16 random bytes) then
    /// SM4-CBC with PKCS#7 of their encoding. Everything else stays as it is; `ID` and `NM` leave.
    public func sealingIDAndName(key: [UInt8]) throws(ISO8583GatewayError) -> PrivateData {
        var inner = PrivateData()
        inner[.idNumber] = self[.idNumber]
        inner[.name] = self[.name]
        var outer = self
        outer[.idNumber] = nil
        outer[.name] = nil
        var generator = SystemRandomNumberGenerator()
        let iv = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
        do {
            outer[.sealed] = iv + (try BlockCipher(.sm4, key: key).encryptCBC(inner.encoded(), iv: iv))
        } catch {
            throw .encoding("sealing field 62: \(error)")
        }
        return outer
    }

    /// `self` with its `SE` element opened under `key` back into `ID` and `NM`; unchanged when it has none.
    public func openingSealed(key: [UInt8]) throws(ISO8583GatewayError) -> PrivateData {
        guard let sealed = self[.sealed] else { return self }
        guard sealed.count >= 32 else { throw .malformedReply("field 62: the sealed element is too short") }
        let inner: PrivateData
        do {
            inner = try PrivateData(decoding: try BlockCipher(.sm4, key: key).decryptCBC(Array(sealed.dropFirst(16)), iv: Array(sealed.prefix(16))))
        } catch let error as ISO8583GatewayError {
            throw error
        } catch {
            throw .malformedReply("field 62: the sealed element does not open under this key")
        }
        var open = self
        open[.sealed] = nil
        open[.idNumber] = inner[.idNumber]
        open[.name] = inner[.name]
        return open
    }

    /// Reads elements; unknown tags are kept. Throws on a truncated element or a value over 999 bytes.
    public init(decoding bytes: [UInt8]) throws(ISO8583GatewayError) {
        var index = 0
        while index < bytes.count {
            guard index + 5 <= bytes.count else { throw .malformedReply("field 62: truncated element header at \(index)") }
            let tag = String(decoding: bytes[index..<(index + 2)], as: UTF8.self)
            guard let length = Int(String(decoding: bytes[(index + 2)..<(index + 5)], as: UTF8.self)), length >= 0,
                index + 5 + length <= bytes.count
            else { throw .malformedReply("field 62: bad length for \(tag) at \(index)") }
            self.values[tag] = Array(bytes[(index + 5)..<(index + 5 + length)])
            index += 5 + length
        }
    }
}
