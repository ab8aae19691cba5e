public import Activation
public import ResidentIDCard

/// A verifier that answers as configured (demo, tests, kiosks where the check happens elsewhere).
public struct SimulatedIdentityVerifier: IdentityVerifier {
    public var answer: IdentityVerification
    public var delay: Duration
    public init(answer: IdentityVerification = .verified, delay: Duration = .zero) {
        self.answer = answer
        self.delay = delay
    }
    public func verify(idCard: IDCardData) async -> IdentityVerification {
        if self.delay > .zero { try? await Task.sleep(for: self.delay) }
        return self.answer
    }
}
