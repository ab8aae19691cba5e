import ArgumentParser
import Dispatch
import Foundation

/// `kiosk-bench idle-floor`: the baseline for kioskd's idle cost, in the same run. A process on this
/// toolchain that has run one Swift task and one dispatch block (as every kioskd does), then waits.
///
/// Its wake-ups are the platform's: on Linux, libdispatch's internal workqueue monitor is a 1 s timer
/// on its manager queue, started when the first worker thread registers and never stopped (swift-corelibs-
/// libdispatch `src/event/workqueue.c`). Swift concurrency's global executor and GRDB's queues both run
/// on those workers, so kioskd cannot avoid it; what kioskd adds on top is what the benchmark reports.
struct IdleFloor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "idle-floor", abstract: "A Swift process that ran one task and one dispatch block, then idles (kioskd's idle baseline).",
        shouldDisplay: false)

    func run() async throws {
        await Task.detached { _ = ProcessInfo.processInfo.processIdentifier }.value
        await withCheckedContinuation { continuation in DispatchQueue.global().async { continuation.resume() } }
        // Then idle, as kioskd does, with one long timer pending (kioskd's resolver waits 60 s between rounds).
        while true { try await Task.sleep(for: .seconds(3600)) }
    }
}
