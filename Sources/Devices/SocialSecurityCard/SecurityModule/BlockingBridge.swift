import Synchronization
import Dispatch

/// Runs async work from a synchronous context and waits for it: the card read runs on its connection's
/// own thread (never the cooperative pool), and a security module it calls is async.
///
/// Only call this from a dedicated thread (a ``CardCore/BlockingWorker``): blocking a cooperative-pool
/// thread on async work can deadlock the pool.
enum BlockingBridge {
    static func wait<T: Sendable, E: Error>(_ operation: @escaping @Sendable () async throws(E) -> T) throws(E) -> T {
        let semaphore = DispatchSemaphore(value: 0)
        let box = Mutex<Result<T, E>?>(nil)
        Task.detached {
            let result: Result<T, E>
            do throws(E) {
                result = .success(try await operation())
            } catch {
                result = .failure(error)
            }
            box.withLock { $0 = result }
            semaphore.signal()
        }
        semaphore.wait()
        return try box.withLock { $0! }.get()
    }
}
