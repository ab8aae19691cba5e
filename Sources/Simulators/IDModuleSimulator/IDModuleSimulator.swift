import Foundation
import ResidentIDCard
import CardCore
import Glibc
import Synchronization

/// An ID-card security module in software, on a pseudo-terminal: tests and demos drive the real tty
/// code through it. The module answers the protocol of `cards.md` §3.2 for the card put on it, and
/// injects faults: corrupt checksums, split and glued writes, a slow module, failing reads, a failed
/// self-test, and being unplugged (pty closed) and plugged back.
///
/// The pty's slave is reached through a symbolic link at `linkPath` (as udev links `/dev/serial/by-id/…`),
/// which is re-pointed when the module is plugged back, so clients reopen the same path.
public final class IDModuleSimulator: Sendable {
    public struct Faults: Sendable, Hashable {
        /// How line noise spoils an answer.
        public enum Corruption: String, Sendable, Hashable, CaseIterable {
            /// The checksum byte is wrong.
            case checksum
            /// The length field is larger than the frame: the rest never comes.
            case length
            /// A bit of the preamble is flipped: the bytes are no frame at all.
            case preamble
            /// The module itself saw our request corrupted and answers `10` (checksum error).
            case moduleChecksumStatus
        }
        /// The next N answers are corrupted (a burst of line noise), in the manner of `corruption`.
        public var corruptChecksums = 0
        public var corruption = Corruption.checksum
        /// Only answers to reads (`30 01`, `30 10`) count towards and suffer `corruptChecksums`.
        public var corruptOnlyReads = false
        /// Answers are written in small pieces with pauses (a frame arrives byte by byte).
        public var splitWrites = false
        /// Each answer is followed, in the same write, by a stray status frame (frames glued together).
        public var gluedWrites = false
        /// Noise bytes written before each answer.
        public var leadingNoise: [UInt8] = []
        /// Wait before answering.
        public var delay: Duration = .zero
        /// The next N reads fail with `41`.
        public var failingReads = 0
        /// Status answers `60` (self-test failed).
        public var selfTestFailed = false
        /// Whether "find" finds a card again after it was read while it stays (most modules do not).
        public var refindsPresentCard = false
        public init() {}
    }

    private enum CardState { case idle, found, selected, read }

    private struct State {
        var faults = Faults()
        var card: IDCardFixture?
        var cardState = CardState.idle
        var master: Int32 = -1
        /// The serving thread's wake-up pipe: unplug writes to it, and closes it once the thread stopped.
        var wake: (read: Int32, write: Int32) = (-1, -1)
        /// Signalled by the serving thread once it has closed the pty.
        var served: DispatchSemaphore?
        var running = false
        var generation = 0
        var requests: [String] = []
    }

    public let linkPath: String
    private let state = Mutex(State())

    public init(linkPath: String) { self.linkPath = linkPath }

    deinit { self.stop() }

    /// The faults in force; change them at any time.
    public var faults: Faults {
        get { self.state.withLock { $0.faults } }
        set { self.state.withLock { $0.faults = newValue } }
    }

    /// Commands received so far (names).
    public var requests: [String] { self.state.withLock { $0.requests } }

    /// Whether the module is plugged in (its pty open).
    public var isPlugged: Bool { self.state.withLock { $0.master >= 0 } }

    /// Puts a card on the reader.
    public func place(_ card: IDCardFixture) {
        self.state.withLock {
            $0.card = card
            $0.cardState = .idle
        }
    }

    /// Takes the card away.
    public func removeCard() {
        self.state.withLock {
            $0.card = nil
            $0.cardState = .idle
        }
    }

    /// Plugs the module in: a new pty, the link pointed at it, a thread serving it.
    ///
    /// The serving thread owns the pty's descriptors and closes them itself when it stops: a descriptor
    /// closed under a thread still reading or writing it could be reused by the time the thread gets to it,
    /// and its bytes would land in whatever file or socket the process opened meanwhile.
    public func plug() throws {
        var master: Int32 = -1
        var slave: Int32 = -1
        guard openpty(&master, &slave, nil, nil, nil) == 0 else {
            throw NSError(domain: "IDModuleSimulator", code: Int(errno), userInfo: [NSLocalizedDescriptionKey: "openpty failed"])
        }
        // Raw on the slave, or its line discipline would echo and translate bytes.
        var settings = termios()
        tcgetattr(slave, &settings)
        cfmakeraw(&settings)
        tcsetattr(slave, TCSANOW, &settings)
        _ = fcntl(master, F_SETFD, FD_CLOEXEC)
        _ = fcntl(slave, F_SETFD, FD_CLOEXEC)
        // Non-blocking writes: a client that stops reading never pins the serving thread in write().
        _ = fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK)
        var pipeEnds: [Int32] = [-1, -1]
        guard pipe(&pipeEnds) == 0 else {
            close(master)
            close(slave)
            throw NSError(domain: "IDModuleSimulator", code: Int(errno), userInfo: [NSLocalizedDescriptionKey: "pipe failed"])
        }
        for fd in pipeEnds {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, O_NONBLOCK)
        }
        // ttyname_r, not ttyname: ttyname's one static buffer is shared by every thread, and two simulators
        // plugged at once linked each other's pty (or "/dev/pts", a directory) from a half-overwritten name.
        var name = [CChar](repeating: 0, count: 128)
        guard ttyname_r(slave, &name, name.count) == 0 else {
            for fd in [master, slave] + pipeEnds { close(fd) }
            throw NSError(domain: "IDModuleSimulator", code: Int(errno), userInfo: [NSLocalizedDescriptionKey: "ttyname_r failed"])
        }
        let slaveName = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let temporary = self.linkPath + ".new"
        unlink(temporary)
        guard symlink(slaveName, temporary) == 0, rename(temporary, self.linkPath) == 0 else {
            for fd in [master, slave] + pipeEnds { close(fd) }
            throw NSError(domain: "IDModuleSimulator", code: Int(errno), userInfo: [NSLocalizedDescriptionKey: "cannot link \(self.linkPath)"])
        }
        let served = DispatchSemaphore(value: 0)
        let generation = self.state.withLock { state -> Int in
            state.master = master
            state.wake = (pipeEnds[0], pipeEnds[1])
            state.served = served
            state.running = true
            state.generation += 1
            state.cardState = .idle
            return state.generation
        }
        let line = Line(master: master, wake: pipeEnds[0])
        let slaveFD = slave
        let thread = Thread { [self] in
            ThreadName.set("id-module-sim")
            self.serve(line, generation: generation)
            // The pipe is unplug's to close: the thread may stop on its own before unplug writes to it.
            for fd in [line.master, slaveFD] { close(fd) }
            served.signal()
        }
        thread.start()
    }

    /// Unplugs the module: the serving thread closes the pty (the client sees the device vanish) and the
    /// link is removed. Returns once the pty is closed.
    public func unplug() {
        let (wake, served) = self.state.withLock { state -> ((read: Int32, write: Int32), DispatchSemaphore?) in
            defer {
                state.master = -1
                state.wake = (-1, -1)
                state.served = nil
                state.running = false
            }
            return (state.wake, state.served)
        }
        unlink(self.linkPath)
        guard wake.write >= 0 else { return }
        var byte: UInt8 = 1
        _ = Glibc.write(wake.write, &byte, 1)
        served?.wait()
        close(wake.write)
        close(wake.read)
    }

    /// Stops the simulator for good.
    public func stop() { self.unplug() }

    private func isCurrent(_ generation: Int) -> Bool {
        self.state.withLock { $0.running && $0.generation == generation }
    }

    /// The pty's master (the serving thread's to close) and the read end of the wake-up pipe.
    private struct Line {
        let master: Int32
        let wake: Int32

        /// Waits up to `milliseconds` for `events` on the master. False once unplug has woken us.
        func wait(for events: Int32, milliseconds: Int32) -> (ready: Bool, stopping: Bool) {
            var descriptors = [pollfd(fd: self.master, events: Int16(events), revents: 0), pollfd(fd: self.wake, events: Int16(POLLIN), revents: 0)]
            let count = poll(&descriptors, 2, milliseconds)
            if count < 0 { return (false, false) }
            return (descriptors[0].revents != 0, descriptors[1].revents != 0)
        }

        /// Sleeps for `duration` unless unplugged meanwhile. Returns false if it was.
        func pause(_ duration: Duration) -> Bool {
            var descriptor = pollfd(fd: self.wake, events: Int16(POLLIN), revents: 0)
            return poll(&descriptor, 1, Int32(clamping: max(duration.inMilliseconds, 1))) == 0
        }
    }

    private func serve(_ line: Line, generation: Int) {
        var assembler = FrameAssembler()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while self.isCurrent(generation) {
            let (ready, stopping) = line.wait(for: POLLIN, milliseconds: 250)
            if stopping { return }
            if !ready { continue }
            let count = read(line.master, &buffer, buffer.count)
            if count <= 0 {
                if count < 0 && (errno == EAGAIN || errno == EINTR) { continue }
                // No client has the slave open right now (EIO): wait for one.
                guard line.pause(.milliseconds(20)) else { return }
                continue
            }
            assembler.append(buffer.prefix(count))
            while let result = assembler.next() {
                let answer: ModuleFrame
                var corrupt = false
                switch result {
                case .success(let frame):
                    let command = ModuleCommand(frame: frame)
                    let isRead = command == .readText || command == .readTextWithFingerprint
                    corrupt = self.takeCorruption(isRead: isRead)
                    // A module that received our request corrupted answers `10` and does nothing else.
                    let refused = corrupt && self.faults.corruption == .moduleChecksumStatus
                    answer = refused ? ModuleFrame(status: .checksumError) : self.answer(frame)
                case .failure: answer = ModuleFrame(status: .checksumError)
                }
                guard self.write(answer, to: line, corrupt: corrupt) else { return }
            }
        }
    }

    /// Whether this answer falls in a noise burst (and counts it).
    private func takeCorruption(isRead: Bool) -> Bool {
        self.state.withLock { state in
            guard state.faults.corruptChecksums > 0, isRead || !state.faults.corruptOnlyReads else { return false }
            state.faults.corruptChecksums -= 1
            return true
        }
    }

    /// Writes one answer with the faults in force. False once unplugged.
    private func write(_ frame: ModuleFrame, to line: Line, corrupt: Bool) -> Bool {
        let faults = self.faults
        if faults.delay > .zero { guard line.pause(faults.delay) else { return false } }
        var spoiled = frame.bytes
        if corrupt {
            switch faults.corruption {
            case .checksum: spoiled[spoiled.count - 1] ^= 0x5A
            case .length: spoiled[5] |= 0x01  // +256 bytes that never arrive
            case .preamble: spoiled[3] ^= 0x10
            case .moduleChecksumStatus: break  // answered `10` without acting on the request (above)
            }
        }
        var bytes = faults.leadingNoise + spoiled
        if faults.gluedWrites { bytes += ModuleFrame(status: .ok).bytes }
        guard faults.splitWrites else { return Self.writeAll(bytes, to: line) }
        var offset = 0
        var size = 1
        while offset < bytes.count {
            let end = min(bytes.count, offset + size)
            guard Self.writeAll(Array(bytes[offset..<end]), to: line), line.pause(.milliseconds(1)) else { return false }
            offset = end
            size = size % 7 + 1
        }
        return true
    }

    /// False once unplugged; a write error (no client) drops the bytes, as a line with nobody on it does.
    private static func writeAll(_ bytes: [UInt8], to line: Line) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.write(line.master, $0.baseAddress, $0.count) }
            if written <= 0 {
                if errno == EINTR { continue }
                guard errno == EAGAIN else { return true }
                let (_, stopping) = line.wait(for: POLLOUT, milliseconds: 250)
                if stopping { return false }
                continue
            }
            offset += written
        }
        return true
    }

    /// The module's answer to one request.
    private func answer(_ request: ModuleFrame) -> ModuleFrame {
        guard let command = ModuleCommand(frame: request) else { return ModuleFrame(status: .unknownCommand) }
        return self.state.withLock { state -> ModuleFrame in
            state.requests.append(command.description)
            switch command {
            case .reset:
                state.cardState = .idle
                return ModuleFrame(status: .ok)
            case .status:
                return ModuleFrame(status: state.faults.selfTestFailed ? .selfTestFailed : .ok)
            case .readModuleID:
                return ModuleFrame(status: .ok, data: [0x05, 0x00, 0x01, 0x00, 0x21, 0xF3, 0x33, 0x01, 0xD2, 0x02, 0x96, 0x49, 0x15, 0xCD, 0x5B, 0x07])
            case .setBaudRate:
                return ModuleFrame(status: .ok)
            case .findCard:
                guard state.card != nil else { return ModuleFrame(status: .findFailed) }
                if state.cardState == .read && !state.faults.refindsPresentCard { return ModuleFrame(status: .findFailed) }
                state.cardState = .found
                return ModuleFrame(status: .cardFound, data: [0, 0, 0, 0])
            case .selectCard:
                // Select is repeatable: selecting the selected card again answers as the first time.
                guard state.card != nil, state.cardState == .found || state.cardState == .selected else { return ModuleFrame(status: .selectFailed) }
                state.cardState = .selected
                return ModuleFrame(status: .ok, data: [UInt8](repeating: 0, count: 8))
            case .readText, .readTextWithFingerprint:
                guard let card = state.card, state.cardState == .selected else { return ModuleFrame(status: .readFailed) }
                if state.faults.failingReads > 0 {
                    state.faults.failingReads -= 1
                    state.cardState = .idle
                    return ModuleFrame(status: .readFailed)
                }
                state.cardState = .read
                let withFingerprint = command == .readTextWithFingerprint
                let fingerprint: [UInt8]? = withFingerprint ? (card.fingerprint == true ? [UInt8](repeating: 0x43, count: 1024) : []) : nil
                let response = ReadResponse(text: IDCardText.encode(card.card), photo: card.photo, fingerprint: fingerprint)
                return ModuleFrame(status: .ok, data: response.data)
            case .readNewestAddress:
                guard let card = state.card else { return ModuleFrame(status: .readFailed) }
                guard let address = card.newestAddress else { return ModuleFrame(status: .noContent) }
                var units = Array(address.utf16.prefix(35))
                units += [UInt16](repeating: 0x20, count: 35 - units.count)
                return ModuleFrame(status: .ok, data: units.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] })
            }
        }
    }
}
