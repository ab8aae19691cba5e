import Foundation

/// Names the calling OS thread, as `ps -L`, `top -H` and `/proc/PID/task/TID/comm` show it.
///
/// Foundation's `Thread.name` setter renames the OS thread only when the `Thread` object already knows its
/// pthread, which the creating thread records after `pthread_create` returns, so a new thread that runs
/// first cannot rename itself that way. Writing `/proc/thread-self/comm` has no such race.
public enum ThreadName {
    /// Sets the calling thread's name (the kernel keeps 15 bytes).
    public static func set(_ name: String) {
        Thread.current.name = name
        let bytes = Array(name.utf8.prefix(15))
        guard let handle = FileHandle(forWritingAtPath: "/proc/thread-self/comm") else { return }
        defer { try? handle.close() }
        try? handle.write(contentsOf: Data(bytes))
    }

    /// The calling thread's name as the kernel knows it.
    public static var current: String {
        let text = (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? ""
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
