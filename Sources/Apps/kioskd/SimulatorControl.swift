import Activation
import CardSimulator
import Foundation
import Glibc
import IDModuleSimulator
import Identity
import Logging
import UnixSocket
import Synchronization
import VirtualCards

/// In `--mock` mode, the simulated devices are driven from outside the daemon through this control socket
/// (never through the kiosk socket): a test or the demo inserts and removes cards and places ID cards.
/// PIN keys are not pressed here but on the EPP (`kiosk-epp-sim --control`): no PIN digit enters kioskd.
/// One line per command, answered `ok` or `error …`:
///
///     card insert NAME|FILE.json    card remove
///     id place demo|FILE.json       id remove
///     latency card|id MILLISECONDS  (every APDU of the card / every answer of the ID module)
///     stats                         (ok apdus=N idcommands=M: what the devices served so far)
final class SimulatorControl: @unchecked Sendable {
    let path: String
    /// The mock reader and the ID-module simulator (`--mock`).
    let system: MockCardSystem?
    let cardReader: String
    let idSimulator: IDModuleSimulator?
    let logger: Logger
    private var listener: Int32 = -1

    init(path: String, system: MockCardSystem?, cardReader: String, idSimulator: IDModuleSimulator?, logger: Logger) {
        self.path = path
        self.system = system
        self.cardReader = cardReader
        self.idSimulator = idSimulator
        self.logger = logger
    }

    /// Clients served at once; more wait in the listen queue.
    static let maximumClients = 8
    private let clients = Mutex(0)

    /// Binds the socket, already mode 0600 when it appears, and accepts on its own thread. Only kioskd's
    /// own user and root may drive it (`SO_PEERCRED`); each client is served on a thread of its own, so a
    /// client that connects and says nothing holds up no one else. Test mode only: production refuses
    /// `--sim-control` (``ProductionGuard``).
    func start() throws {
        let fd: Int32
        do { fd = try UnixSocket.bind(self.path, mode: 0o600) } catch { throw ControlError("simulator control socket: \(error)") }
        self.listener = fd
        Thread.detachNewThread { self.acceptLoop() }
    }

    private func acceptLoop() {
        while true {
            let client = accept(self.listener, nil, nil)
            if client < 0 {
                if errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE {
                    Thread.sleep(forTimeInterval: 0.01)
                    continue
                }
                return
            }
            let uid = UnixSocket.peerCredentials(client)?.uid
            guard uid == getuid() || uid == 0 else {
                self.logger.warning("simulator control: refused a client of another user", metadata: ["uid": "\(uid.map(String.init) ?? "unknown")"])
                UnixSocket.writeAll(client, Array("error not allowed: only kioskd's user drives the simulated devices\n".utf8))
                close(client)
                continue
            }
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            let admitted = self.clients.withLock { count -> Bool in
                guard count < Self.maximumClients else { return false }
                count += 1
                return true
            }
            guard admitted else {
                UnixSocket.writeAll(client, Array("error busy: \(Self.maximumClients) clients connected\n".utf8))
                close(client)
                continue
            }
            let thread = Thread { [self] in
                self.serve(client)
                close(client)
                self.clients.withLock { $0 -= 1 }
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    /// One client's lines, answered in order, until it hangs up (lines over 64 KiB are dropped).
    private func serve(_ client: Int32) {
        UnixSocket.readLines(client, limit: 1 << 16) { line in
            UnixSocket.writeAll(client, Array((self.run(String(decoding: line, as: UTF8.self)) + "\n").utf8))
        }
    }

    func run(_ line: String) -> String {
        let words = line.split(separator: " ").map(String.init)
        if ["card", "id", "latency", "stats"].contains(words.first ?? ""), self.system == nil || self.idSimulator == nil {
            return "error: real readers: only the simulated PIN pad can be driven (pin, key)"
        }
        switch (words.first, words.dropFirst().first) {
        case ("card", "insert"):
            guard let name = words.dropFirst(2).first else { return "error: card insert NAME|FILE.json" }
            let card: (any VirtualCard)?
            if name.hasSuffix(".json") {
                card = (try? SocialSecurityCardFixture.load(path: name)).flatMap { try? VirtualSocialSecurityCard.make($0) }
            } else {
                card = VirtualCardCatalog.card(named: name)
            }
            guard let card else { return "error: no card \(name)" }
            self.system?.insert(card, into: self.cardReader)
            self.logger.info("simulator: card inserted", metadata: ["card": "\(name)"])
            return "ok"
        case ("card", "remove"):
            self.system?.remove(from: self.cardReader)
            self.logger.info("simulator: card removed")
            return "ok"
        case ("id", "place"):
            guard let name = words.dropFirst(2).first else { return "error: id place demo|FILE.json" }
            let fixture: IDCardFixture
            if name == "demo" {
                fixture = Self.demoIDCard
            } else if let loaded = try? IDCardFixture.load(path: name) {
                fixture = loaded
            } else {
                return "error: cannot read \(name)"
            }
            self.idSimulator?.place(fixture)
            self.logger.info("simulator: ID card placed")
            return "ok"
        case ("id", "remove"):
            self.idSimulator?.removeCard()
            return "ok"
        case ("pin", _), ("key", _):
            // PIN keys are pressed on the EPP, never here: no PIN digit enters kioskd.
            return "error: PIN keys are pressed on the EPP (kiosk-epp-sim --control), not here"
        case ("latency", let device?):
            guard let text = words.dropFirst(2).first, let milliseconds = Int(text), milliseconds >= 0 else { return "error: latency card|id MILLISECONDS" }
            switch device {
            case "card": self.system?.setLatency(.milliseconds(milliseconds), reader: self.cardReader)
            case "id": self.idSimulator?.faults.delay = .milliseconds(milliseconds)
            default: return "error: latency card|id MILLISECONDS"
            }
            return "ok"
        case ("stats", _):
            return "ok apdus=\(self.system?.exchangeCount(reader: self.cardReader) ?? 0) idcommands=\(self.idSimulator?.requests.count ?? 0)"
        default:
            return "error: unknown command; see kioskd --help"
        }
    }

    /// The demo's resident ID card: the holder of the `ssc-demo` and `ssc-demo-v3` cards (synthetic data).
    static let demoIDCard: IDCardFixture = {
        var card = IDCardFixture(name: "张三", idNumber: "440303198101011117")
        card.gender = "1"
        card.nation = 1
        card.birthDate = "1981-01-01"
        card.address = "广东省深圳市南山区科技园路1号"
        card.issuer = "深圳市公安局南山分局"
        card.validFrom = "2016-05-01"
        card.validTo = "2036-05-01"
        return card
    }()
}

/// Why the simulator control socket could not start.
struct ControlError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
