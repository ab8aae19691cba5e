import KioskClient
import UnixSocket

/// An error of kioskctl's own, in words for the person at the terminal.
typealias SocketClientError = KioskClientError

/// Sends one line to the simulated devices' control socket (kioskd --mock --sim-control) and returns its answer.
func simulatorCommand(_ path: String, _ line: String) throws -> String {
    do { return try UnixSocket.request(path, line: line) } catch { throw SocketClientError("simulator control socket: \(error)") }
}
