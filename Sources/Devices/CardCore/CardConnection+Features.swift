public import APDU

extension CardConnection {
    /// Asks the reader for its PC/SC part 10 features (`CM_IOCTL_GET_FEATURE_REQUEST`).
    /// A reader that offers none answers with an empty list.
    public func readerFeatures() async throws(ReaderError) -> ReaderFeatures {
        do {
            return try ReaderFeatures(featureResponse: try await self.control(code: ReaderFeatures.getFeatureRequestControlCode, data: []))
        } catch where error.code == .unsupportedFeature {
            return ReaderFeatures(controlCodes: [:])
        }
    }

    /// Reads the reader's properties through `FEATURE_GET_TLV_PROPERTIES`.
    /// - Throws: ``ReaderError/Code/unsupportedFeature`` when the reader does not offer it.
    public func readerProperties() async throws(ReaderError) -> ReaderProperties {
        guard let code = try await self.readerFeatures()[.getTLVProperties] else {
            throw ReaderError(.unsupportedFeature, message: "the reader has no FEATURE_GET_TLV_PROPERTIES", readerName: self.readerName)
        }
        return try ReaderProperties(tlv: try await self.control(code: code, data: []))
    }

    /// Lets the reader's own keypad collect a PIN and send the completed VERIFY command
    /// (`FEATURE_VERIFY_PIN_DIRECT`); the host never sees the PIN.
    /// - Returns: the card's answer (`9000`, `63Cx` …).
    /// - Throws: ``ReaderError/Code/unsupportedFeature`` when the reader has no PIN pad.
    public func verifyPINDirect(_ structure: PINVerifyStructure) async throws(ReaderError) -> ResponseAPDU {
        guard let code = try await self.readerFeatures()[.verifyPINDirect] else {
            throw ReaderError(.unsupportedFeature, message: "the reader has no PIN pad (FEATURE_VERIFY_PIN_DIRECT)", readerName: self.readerName)
        }
        let answer = try await self.control(code: code, data: structure.bytes)
        do {
            return try ResponseAPDU(bytes: answer)
        } catch {
            throw ReaderError(.malformedResponse, message: "PIN pad answer: \(error)", readerName: self.readerName)
        }
    }
}
