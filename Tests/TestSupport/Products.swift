public import Foundation

/// The path of one of the package's executables (`kioskctl`, `kiosk-bank-sim`): they sit next to the test
/// bundle in the build folder.
public func productPath(_ name: String) -> String {
    URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(name).path
}

/// Runs one of the package's executables as a person would, to completion.
public func runProduct(_ name: String, _ arguments: [String]) async throws -> (status: Int32, output: String, error: String) {
    try await runProcess(productPath(name), arguments)
}

/// Runs a program to completion: `input` on its stdin, stdout and stderr read at the same time (a full
/// stderr pipe cannot stall it). The waiting happens on threads of its own, never on the cooperative
/// pool: the suite runs in parallel on two cores, and a test blocked in `waitUntilExit` there would hold
/// up every other async test.
public func runProcess(_ executable: String, _ arguments: [String], input: Data? = nil) async throws -> (status: Int32, output: String, error: String) {
    try await onOwnThread {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let out = Pipe()
        let err = Pipe()
        let inPipe = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input == nil ? FileHandle.nullDevice : inPipe
        try process.run()
        let errorText = ThreadResult<Data>()
        Thread.detachNewThread { errorText.set(err.fileHandleForReading.readDataToEndOfFile()) }
        if let input {
            Thread.detachNewThread {
                inPipe.fileHandleForWriting.write(input)
                try? inPipe.fileHandleForWriting.close()
            }
        }
        let output = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self), String(decoding: errorText.get(), as: UTF8.self))
    }
}

/// Runs blocking `body` on a new thread and resumes with its result.
public func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
    }
}

/// A value another thread produces once.
private final class ThreadResult<T: Sendable>: @unchecked Sendable {
    private let condition = NSCondition()
    private var value: T?

    func set(_ value: T) {
        self.condition.lock()
        self.value = value
        self.condition.broadcast()
        self.condition.unlock()
    }

    func get() -> T {
        self.condition.lock()
        defer { self.condition.unlock() }
        while self.value == nil { self.condition.wait() }
        return self.value!
    }
}
