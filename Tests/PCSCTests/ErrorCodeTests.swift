import CardCore
import PCSC
import Testing

@Suite("PC/SC return codes: which ones mean a new context, and what the operator is told")
struct ErrorCodeTests {
    @Test("a reset connection (1.9.x reports it as SECURITY_VIOLATION) is a service loss: the context is established again once")
    func resetIsAServiceLoss() {
        for code in [PCSCError.noService, .commError, .serviceStopped, .invalidHandle, .securityViolation] {
            #expect(code.isServiceLoss, "\(code)")
        }
        for code in [PCSCError.noSmartcard, .removedCard, .timeout, .sharingViolation, .noAccess] {
            #expect(!code.isServiceLoss, "\(code)")
        }
        let error = ReaderError(pcsc: .securityViolation, operation: "list readers")
        #expect(error.code == .permissionDenied)
        #expect(error.message.contains("reset the connection") && error.message.contains("Config/polkit/kioskd-pcsc.rules"), "\(error.message)")
    }
}
