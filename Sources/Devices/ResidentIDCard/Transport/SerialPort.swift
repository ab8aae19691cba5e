import CardCore
#if canImport(Glibc)
import Glibc
#endif

/// A serial line in raw mode (termios): 8 data bits, no parity, 1 stop bit, no flow control, no echo,
/// no line discipline. Blocking calls: use it only on the module's own thread.
///
/// USB serial adapters vanish and come back; every I/O failure that means "the device is gone"
/// (`EIO`, `ENXIO`, `ENODEV`, `POLLHUP`) closes the port and throws ``IDModuleError/Reason/deviceGone``,
/// and the next operation opens the path again.
final class SerialPort: @unchecked Sendable {  // confined to the module's worker thread
    let path: String
    let baudRate: Int
    private(set) var fd: Int32 = -1

    init(path: String, baudRate: Int) {
        self.path = path
        self.baudRate = baudRate
    }

    deinit { self.close() }

    var isOpen: Bool { self.fd >= 0 }

    /// Opens and configures the port (no-op when open).
    func open() throws(IDModuleError) {
        guard self.fd < 0 else { return }
        let fd = Glibc.open(self.path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            let reason: IDModuleError.Reason = code == EACCES || code == EPERM ? .permissionDenied : .deviceUnavailable
            throw IDModuleError(reason, detail: "open \(self.path): \(String(cString: strerror(code)))")
        }
        var settings = termios()
        guard tcgetattr(fd, &settings) == 0 else {
            let message = String(cString: strerror(errno))
            Glibc.close(fd)
            throw IDModuleError(.deviceUnavailable, detail: "\(self.path) is not a serial device: \(message)")
        }
        cfmakeraw(&settings)
        settings.c_cflag |= tcflag_t(CLOCAL) | tcflag_t(CREAD)
        settings.c_cflag &= ~(tcflag_t(CSTOPB) | tcflag_t(PARENB) | tcflag_t(CRTSCTS))
        settings.c_iflag &= ~(tcflag_t(IXON) | tcflag_t(IXOFF) | tcflag_t(IXANY))
        // Reads return what is there; poll() does the waiting.
        withUnsafeMutableBytes(of: &settings.c_cc) { cc in
            cc[Int(VMIN)] = 0
            cc[Int(VTIME)] = 0
        }
        let speed = Self.speed(self.baudRate)
        cfsetispeed(&settings, speed)
        cfsetospeed(&settings, speed)
        guard tcsetattr(fd, TCSANOW, &settings) == 0 else {
            let message = String(cString: strerror(errno))
            Glibc.close(fd)
            throw IDModuleError(.deviceUnavailable, detail: "configure \(self.path): \(message)")
        }
        tcflush(fd, TCIOFLUSH)
        self.fd = fd
    }

    func close() {
        guard self.fd >= 0 else { return }
        Glibc.close(self.fd)
        self.fd = -1
    }

    /// Drops unread input (stale answers, noise) before a new command.
    func flushInput() {
        guard self.fd >= 0 else { return }
        tcflush(self.fd, TCIFLUSH)
        var scratch = [UInt8](repeating: 0, count: 512)
        while Glibc.read(self.fd, &scratch, scratch.count) > 0 {}
    }

    /// Writes all of `bytes`, waiting up to `timeout` for the line to accept them.
    func write(_ bytes: [UInt8], timeout: Duration) throws(IDModuleError) {
        try self.open()
        var offset = 0
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.write(self.fd, $0.baseAddress, $0.count) }
            if written > 0 {
                offset += written
                continue
            }
            let code = errno
            if written < 0 && code != EAGAIN && code != EINTR { throw self.failure(code, doing: "write") }
            guard try self.poll(events: Int16(POLLOUT), until: deadline) else {
                throw IDModuleError(.timeout, detail: "\(self.path) did not accept data within \(timeout)")
            }
        }
        tcdrain(self.fd)
    }

    /// Reads what arrives within `timeout` (at most `limit` bytes); empty when nothing came.
    func read(limit: Int = 4096, until deadline: ContinuousClock.Instant) throws(IDModuleError) -> [UInt8] {
        try self.open()
        guard try self.poll(events: Int16(POLLIN), until: deadline) else { return [] }
        var buffer = [UInt8](repeating: 0, count: limit)
        let count = Glibc.read(self.fd, &buffer, limit)
        if count > 0 { return Array(buffer.prefix(count)) }
        let code = errno
        if count == 0 || code == EIO || code == ENXIO || code == ENODEV { throw self.failure(code == 0 ? EIO : code, doing: "read") }
        if code == EAGAIN || code == EINTR { return [] }
        throw self.failure(code, doing: "read")
    }

    /// Waits for `events`; false on timeout. A hang-up closes the port.
    private func poll(events: Int16, until deadline: ContinuousClock.Instant) throws(IDModuleError) -> Bool {
        while true {
            let remaining = deadline - ContinuousClock.now
            let milliseconds = max(0, Int32(min(remaining.inMilliseconds, 60_000)))
            var descriptor = pollfd(fd: self.fd, events: events, revents: 0)
            let result = Glibc.poll(&descriptor, 1, milliseconds)
            if result < 0 {
                if errno == EINTR { continue }
                throw self.failure(errno, doing: "poll")
            }
            if result == 0 { return false }
            if descriptor.revents & Int16(POLLNVAL) != 0 { throw self.failure(EBADF, doing: "poll") }
            if descriptor.revents & events != 0 { return true }
            if descriptor.revents & Int16(POLLHUP | POLLERR) != 0 { throw self.failure(EIO, doing: "poll") }
        }
    }

    private func failure(_ code: Int32, doing what: String) -> IDModuleError {
        self.close()
        return IDModuleError(.deviceGone, detail: "\(what) \(self.path): \(String(cString: strerror(code)))")
    }

    static func speed(_ baud: Int) -> speed_t {
        switch baud {
        case 9600: speed_t(B9600)
        case 19200: speed_t(B19200)
        case 38400: speed_t(B38400)
        case 57600: speed_t(B57600)
        default: speed_t(B115200)
        }
    }
}
