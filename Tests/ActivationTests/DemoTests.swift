import Foundation
import TestSupport
import Testing

/// The README's run command: `kioskd --mock --demo` does one whole activation and stops; its log shows
/// every screen, and never a full card number, ID number or PIN.
@Suite(.timeLimit(.minutes(2))) struct DemoTests {
    @Test func demoCompletesAnActivationAndLogsOnlyMaskedData() async throws {
        let run = try await runProduct("kioskd", ["--mock", "--demo"])
        let log = run.output + run.error
        #expect(run.status == 0, "\(log.suffix(2000))")
        #expect(log.contains("激活成功") && log.contains("audit chain intact") && log.contains("flow ended: completed"))
        #expect(log.contains("applied effects 1"))
        // Each log line carries its journald priority: <6> info, <5> notice.
        let lines = run.error.split(separator: "\n")
        #expect(!lines.isEmpty && lines.allSatisfy { $0.hasPrefix("<") && $0.dropFirst(2).hasPrefix(">") })
        #expect(lines.contains { $0.hasPrefix("<5>") } && lines.contains { $0.hasPrefix("<6>") })
        #expect(log.contains("622823*********5274") && log.contains("440***********1117"))
        for secret in ["6228230029000005274", "440303198101011117", "802461"] {
            #expect(!log.contains(secret), "\(secret) in the log")
        }
    }
}
