import Foundation

/// A dedicated OS thread that runs blocking work (PC/SC calls, a slow mock card) one job at a time,
/// so blocking calls never run on Swift's cooperative thread pool.
///
/// Jobs run in submission order. ``run(_:)`` bridges to async; ``stop()`` lets queued jobs finish and
/// then ends the thread. Dropping the last reference stops the worker as well.
public final class BlockingWorker: Sendable {
    private let queue: JobQueue
    /// The worker thread's identity, once it runs (``runBlocking(_:)`` runs inline when called on it).
    private let identity: ThreadIdentity

    /// Starts the thread.
    /// - Parameter name: the thread's name, as `ps -L` and `/proc/PID/task/TID/comm` show it (15 bytes kept).
    public init(name: String) {
        let queue = JobQueue()
        self.queue = queue
        let identity = ThreadIdentity()
        self.identity = identity
        let thread = Thread {
            identity.set(pthread_self())
            ThreadName.set(name)
            queue.drain()
        }
        thread.stackSize = 1 << 20
        thread.start()
    }

    deinit { self.queue.stop() }

    /// Runs `body` on the worker thread and returns its result.
    /// - Throws: what `body` throws, or ``ReaderError/Code/closed`` if the worker was stopped.
    public func run<T: Sendable>(_ body: @escaping @Sendable () throws(ReaderError) -> T) async throws(ReaderError) -> T {
        guard let result = await self.perform(body) else { throw ReaderError.closed }
        return try result.get()
    }

    /// Runs `body`, which may throw any error, on the worker thread and returns its result.
    /// - Throws: what `body` throws, or ``ReaderError/Code/closed`` if the worker was stopped.
    public func runUntyped<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        guard let result = await self.perform(body) else { throw ReaderError.closed }
        return try result.get()
    }

    /// `nil` when the worker refused the job because it was stopped.
    private func perform<T: Sendable, E: Error>(_ body: @escaping @Sendable () throws(E) -> T) async -> Result<T, E>? {
        await withCheckedContinuation { (continuation: CheckedContinuation<Result<T, E>?, Never>) in
            let accepted = self.queue.submit {
                continuation.resume(returning: Result { () throws(E) -> T in try body() })
            }
            if !accepted { continuation.resume(returning: nil) }
        }
    }

    /// Runs `body` on the worker thread and blocks the calling thread until it is done: for a caller that is
    /// itself a dedicated thread (a card's worker asking a PSAM's), never a cooperative-pool thread. On the
    /// worker's own thread `body` runs inline.
    /// - Throws: what `body` throws, or ``ReaderError/Code/closed`` if the worker was stopped.
    public func runBlocking<T>(_ body: @escaping @Sendable () throws -> T) throws -> T {
        if self.identity.isCurrent { return try body() }
        let handoff = Handoff<T>()
        guard self.queue.submit({ handoff.put(Result { try body() }) }) else { throw ReaderError.closed }
        return try handoff.take().get()
    }

    /// Runs `body` on the worker thread without waiting for it. Returns false if the worker was stopped.
    @discardableResult
    public func submit(_ body: @escaping @Sendable () -> Void) -> Bool { self.queue.submit(body) }

    /// Lets queued jobs finish, then ends the thread. Jobs submitted later are refused.
    public func stop() { self.queue.stop() }
}

/// The worker's queue. All mutable state is guarded by `condition`.
private final class JobQueue: @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [@Sendable () -> Void] = []
    private var head = 0
    private var stopping = false

    func submit(_ job: @escaping @Sendable () -> Void) -> Bool {
        self.condition.lock()
        defer { self.condition.unlock() }
        guard !self.stopping else { return false }
        self.jobs.append(job)
        self.condition.signal()
        return true
    }

    func stop() {
        self.condition.lock()
        self.stopping = true
        self.condition.signal()
        self.condition.unlock()
    }

    /// The thread's body: runs jobs until stopped and empty.
    func drain() {
        while true {
            self.condition.lock()
            while self.head == self.jobs.count && !self.stopping { self.condition.wait() }
            if self.head == self.jobs.count {
                self.condition.unlock()
                return
            }
            let job = self.jobs[self.head]
            self.head += 1
            if self.head > 64 && self.head * 2 > self.jobs.count {
                self.jobs.removeFirst(self.head)
                self.head = 0
            }
            self.condition.unlock()
            job()
        }
    }
}

/// Which thread a worker runs on.
private final class ThreadIdentity: @unchecked Sendable {
    private let lock = NSLock()
    private var thread: pthread_t?

    func set(_ thread: pthread_t) {
        self.lock.lock()
        self.thread = thread
        self.lock.unlock()
    }

    /// True on the worker's own thread.
    var isCurrent: Bool {
        self.lock.lock()
        defer { self.lock.unlock() }
        return self.thread.map { pthread_equal($0, pthread_self()) != 0 } ?? false
    }
}

/// One result handed from the worker thread to a thread that waits for it. Guarded by `condition`.
private final class Handoff<T>: @unchecked Sendable {
    private let condition = NSCondition()
    private var result: Result<T, any Error>?

    func put(_ result: Result<T, any Error>) {
        self.condition.lock()
        self.result = result
        self.condition.signal()
        self.condition.unlock()
    }

    func take() -> Result<T, any Error> {
        self.condition.lock()
        defer { self.condition.unlock() }
        while self.result == nil { self.condition.wait() }
        return self.result!
    }
}
