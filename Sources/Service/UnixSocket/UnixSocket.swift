import Bytes
public import Glibc

/// Unix-domain socket addresses and the few blocking calls the daemon, kioskctl and the tests make on them
/// (the NIO server has its own). One place fills `sockaddr_un`: a path in the file system, or one starting
/// with `@` in the abstract namespace; a path too long for `sun_path` is an error, never truncated.
public enum UnixSocket {
    /// `SOCK_STREAM` or `SOCK_DGRAM`.
    public enum Kind: Sendable {
        case stream, datagram
        var rawValue: Int32 { self == .stream ? Int32(SOCK_STREAM.rawValue) : Int32(SOCK_DGRAM.rawValue) }
    }

    /// The bytes of `sun_path` for `path`, or nil when it does not fit.
    static func pathBytes(_ path: String) -> [UInt8]? {
        var bytes = Array(path.utf8)
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: sockaddr_un().sun_path)
        guard !bytes.isEmpty, bytes.count < capacity else { return nil }
        return bytes
    }

    /// Calls `body` with `path` as a socket address and its length.
    public static func withAddress<T>(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> T) throws(UnixSocketError) -> T {
        guard let bytes = self.pathBytes(path) else { throw UnixSocketError(path: path, operation: "address", reason: "path longer than 107 bytes") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
        // Abstract names are exactly as long as given; file-system paths include their terminating NUL.
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (bytes.first == 0 ? 0 : 1))
        return withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, length) } }
    }

    /// A new close-on-exec socket connected to `path`.
    public static func connect(_ path: String, kind: Kind = .stream) throws(UnixSocketError) -> Int32 {
        let fd = socket(AF_UNIX, kind.rawValue | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw UnixSocketError(path: path, operation: "socket", reason: String(cString: strerror(errno))) }
        let rc: Int32
        do { rc = try self.withAddress(path) { Glibc.connect(fd, $0, $1) } } catch {
            close(fd)
            throw error
        }
        guard rc == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw UnixSocketError(path: path, operation: "connect", reason: reason)
        }
        return fd
    }

    /// A new close-on-exec socket bound to `path` (any stale file there is removed first), listening when a
    /// stream socket.
    public static func bind(_ path: String, kind: Kind = .stream, backlog: Int32 = 8) throws(UnixSocketError) -> Int32 {
        if !path.hasPrefix("@") { unlink(path) }
        let fd = socket(AF_UNIX, kind.rawValue | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw UnixSocketError(path: path, operation: "socket", reason: String(cString: strerror(errno))) }
        let rc: Int32
        do { rc = try self.withAddress(path) { Glibc.bind(fd, $0, $1) } } catch {
            close(fd)
            throw error
        }
        guard rc == 0, kind == .datagram || listen(fd, backlog) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw UnixSocketError(path: path, operation: "bind", reason: reason)
        }
        return fd
    }

    /// Like ``bind(_:kind:backlog:)``, but the socket appears at `path` with `mode` already set: it is bound
    /// in a fresh directory only the owner can enter, given `mode`, then renamed into place, so there is
    /// no moment when another user could connect to it (no process-wide `umask` change either).
    public static func bind(_ path: String, mode: mode_t, kind: Kind = .stream, backlog: Int32 = 8) throws(UnixSocketError) -> Int32 {
        let parent = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        var template = Array(((parent.isEmpty ? "/" : parent) + "/.bind-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else {
            throw UnixSocketError(path: path, operation: "mkdtemp", reason: String(cString: strerror(errno)))
        }
        let directory = String(cString: made)
        defer { rmdir(directory) }
        let staging = directory + "/s"
        let fd = try self.bind(staging, kind: kind, backlog: backlog)
        guard chmod(staging, mode) == 0, rename(staging, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(staging)
            close(fd)
            throw UnixSocketError(path: path, operation: "chmod/rename", reason: reason)
        }
        return fd
    }

    /// The connected peer's process, user and group (`SO_PEERCRED`), or nil when the kernel does not say.
    public static func peerCredentials(_ fd: Int32) -> (pid: pid_t, uid: uid_t, gid: gid_t)? {
        // `struct ucred` (Glibc hides it behind _GNU_SOURCE): pid, uid, gid.
        var credentials: (pid_t, uid_t, gid_t) = (0, 0, 0)
        var length = socklen_t(MemoryLayout<(pid_t, uid_t, gid_t)>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0, length == MemoryLayout<(pid_t, uid_t, gid_t)>.size else { return nil }
        return credentials
    }

    /// Writes all of `bytes` (false when the peer went away).
    @discardableResult
    public static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if written < 0 && errno == EINTR { continue }
            if written <= 0 { return false }
            offset += written
        }
        return true
    }

    /// Reads `fd` on the calling thread until end of file or an error, handing every line (newline
    /// excluded, at most `limit` bytes; longer ones are dropped by ``LineSplitter``) to `onLine`. The
    /// reading loop of every kiosk-socket client: run it on a thread of its own.
    public static func readLines(_ fd: Int32, limit: Int = 1 << 20, _ onLine: ([UInt8]) -> Void) {
        var splitter = LineSplitter(limit: limit)
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = read(fd, &buffer, buffer.count)
            if count <= 0 { return }
            splitter.append(buffer[0..<count])
            while true {
                do throws(LineTooLong) {
                    guard let line = try splitter.next() else { break }
                    onLine(line)
                } catch {
                    continue  // skipped up to its newline; the lines after it are still read
                }
            }
        }
    }

    /// Sends one line to a line-oriented control socket and returns the one-line answer (blocking).
    public static func request(_ path: String, line: String) throws(UnixSocketError) -> String {
        let fd = try self.connect(path)
        defer { close(fd) }
        guard self.writeAll(fd, Array((line + "\n").utf8)) else { throw UnixSocketError(path: path, operation: "write", reason: String(cString: strerror(errno))) }
        var answer: [UInt8] = []
        var byte: UInt8 = 0
        while read(fd, &byte, 1) == 1 && byte != 0x0A { answer.append(byte) }
        return String(decoding: answer, as: UTF8.self)
    }
}

/// A socket call failed: which path, which call, and the system's reason.
public struct UnixSocketError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let operation: String
    public let reason: String
    public var description: String { "\(self.operation) \(self.path): \(self.reason)" }
}
