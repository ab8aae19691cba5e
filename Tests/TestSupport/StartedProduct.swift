public import Foundation

/// One of the package's servers (`kiosk-bank-sim serve`, `kiosk-epp-sim`) started for a test, with the first
/// lines it printed (they say where it listens). Stopped by ``stop()`` or when it is released.
public final class StartedProduct: @unchecked Sendable {
    public let process = Process()
    public private(set) var lines: [String] = []

    /// Starts `product` and waits for its first `count` lines on stdout; its stderr goes to `log` (or nowhere).
    public init(_ product: String, _ arguments: [String], lines count: Int, log: String? = nil, environment: [String: String]? = nil) async throws {
        self.process.executableURL = URL(fileURLWithPath: productPath(product))
        self.process.arguments = arguments
        if let environment { self.process.environment = environment }
        let output = Pipe()
        self.process.standardOutput = output
        if let log {
            _ = FileManager.default.createFile(atPath: log, contents: nil)
            self.process.standardError = FileHandle(forWritingAtPath: log)
        } else {
            self.process.standardError = FileHandle.nullDevice
        }
        try self.process.run()
        let handle = output.fileHandleForReading
        self.lines = try await onOwnThread { () -> [String] in
            var lines: [String] = []
            var line: [UInt8] = []
            while lines.count < count {
                guard let byte = try handle.read(upToCount: 1), let first = byte.first else { break }
                if first == 0x0A {
                    lines.append(String(decoding: line, as: UTF8.self))
                    line = []
                } else {
                    line.append(first)
                }
            }
            return lines
        }
        guard self.lines.count == count else {
            self.stop()
            throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "\(product) printed \(self.lines) and stopped"])
        }
    }

    /// SIGTERM and wait.
    public func stop() {
        guard self.process.isRunning else { return }
        self.process.terminate()
        self.process.waitUntilExit()
    }

    deinit { self.stop() }
}

/// `kiosk-epp-sim` for a test: the simulated EPP service on a free port with its control socket. Without
/// `keys` it holds the published TEST master key the in-process simulated bank uses.
public final class EPPSimulatorProcess: @unchecked Sendable {
    public let product: StartedProduct
    /// `ws://127.0.0.1:PORT/xfs4iot/v1.0/PinPad1/`
    public let url: String
    /// Its control socket: `pin DIGITS`, `key …`, `fault …`, `status`.
    public let control: String

    public init(directory: String, keys: String? = nil) async throws {
        self.control = directory + "/epp.sock"
        self.product = try await StartedProduct(
            "kiosk-epp-sim", ["--port", "0", "--control", self.control] + (keys.map { ["--keys", $0] } ?? []), lines: 1, log: directory + "/epp.log")
        self.url = String(self.product.lines[0].dropFirst("listening on ".count))
    }

    public func stop() { self.product.stop() }
}

/// Waits until kioskd at `socket` could take a customer: `kioskctl status --json` shows the EPP `ready`
/// (READY=1 and the socket come before the EPP has the bank's PIN key).
public func waitUntilReadyForCustomer(socket: String, timeout: Duration) async -> Bool {
    await waitUntil(timeout: timeout, every: .milliseconds(100)) {
        (try? await runProduct("kioskctl", ["status", "--socket", socket, "--json"]))?.output.contains("\"ready\" : true") == true
    }
}
