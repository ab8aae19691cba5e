/// The one way tests wait for something to happen: poll `probe` every `interval` until it gives a value or
/// `timeout` passes, and look once more after the deadline. Under load a sleep can overshoot the deadline by
/// seconds; a loop that stops at the deadline without that last look reports "not within N s" for something
/// that happened while it slept.
public func poll<T>(timeout: Duration, every interval: Duration = .milliseconds(10), _ probe: () async throws -> T?) async rethrows -> T? {
    let clock = ContinuousClock()
    let deadline = clock.now.advanced(by: timeout)
    while clock.now < deadline {
        if let value = try await probe() { return value }
        try? await Task.sleep(for: interval)
    }
    return try await probe()
}

/// ``poll(timeout:every:_:)`` for a condition: true once it holds (checked a last time after the deadline).
public func waitUntil(timeout: Duration, every interval: Duration = .milliseconds(10), _ condition: () async throws -> Bool) async rethrows -> Bool {
    try await poll(timeout: timeout, every: interval) { try await condition() ? true : nil } ?? false
}
