import ArgumentParser
import BankSimulator
import Bytes
import EPPSimulator
import Foundation
import Logging
import NIOCore
import NIOPosix
import UnixSocket

/// `kiosk-epp-sim`: a simulated encrypting PIN pad as an XFS4IoT service, in its own process. kioskd reaches it
/// over WebSocket exactly as it reaches a vendor's EPP service; the clear PIN exists only in this process.
@main
struct EPPSim: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kiosk-epp-sim",
        abstract: "A simulated XFS4IoT EPP (PIN pad) service: key import, PIN entry, ISO 9564 format 0 PIN blocks. TEST keys only.",
        discussion: """
            Serves the publisher at ws://HOST:PORT/xfs4iot/v1.0 (ServicePublisher.GetServices) and the PIN pad at
            ws://HOST:PORT/xfs4iot/v1.0/SERVICE/. The first line printed is `listening on ws://…/` once bound.
            The TEST terminal master key is read from KEYS/tmk.hex (32 hex digits; kiosk-bank-sim --keys KEYS writes
            it), or without --keys is the published TEST master key the in-process simulated bank uses; it is loaded
            under --master-key-name. Keys are pressed through the control socket (--control PATH; one line
            per command, as `kioskctl sim --control PATH` sends them): pin DIGITS, key 0-9|enter|clear|backspace|cancel,
            fault NAME on|off|MILLISECONDS, wait-entry [SECONDS], status.
            """)

    @Option(help: "Address to bind (loopback unless the kiosk reaches its EPP over a network).") var host = "127.0.0.1"
    @Option(help: "Port (0 = any free port; XFS4IoT publishers use 5846–5856).") var port = 5846
    @Option(help: "Directory holding tmk.hex, the TEST terminal master key (default: the published TEST master key).") var keys: String?
    @Option(help: "The master key's name in the EPP.") var masterKeyName = "TMK01"
    @Option(help: "The PIN pad service's name in its URL.") var service = "PinPad1"
    @Option(help: "Control socket path (mode 0600).") var control: String?

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .info
            return handler
        }
        let tmk: [UInt8]
        if let keys = self.keys {
            let tmkPath = (keys as NSString).appendingPathComponent("tmk.hex")
            guard let text = try? String(contentsOfFile: tmkPath, encoding: .utf8), let key = try? Hex.decode(text.trimmingCharacters(in: .whitespacesAndNewlines)),
                key.count == 16
            else {
                throw ValidationError("no TEST master key at \(tmkPath) (32 hex digits; kiosk-bank-sim --keys DIR writes one)")
            }
            tmk = key
        } else {
            tmk = try Hex.decode(SimulatedBank.Fixture.testMasterKey)
        }
        let device = EPPDevice(masterKeyName: self.masterKeyName, masterKey: tmk)
        let server = try await EPPServer(device: device, host: self.host, port: self.port, serviceName: self.service)
        // Unbuffered: a script or test waits for this line.
        FileHandle.standardOutput.write(Data("listening on \(server.serviceURL)\n".utf8))
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await server.run() }
            if let control = self.control {
                let fd: Int32
                do { fd = try UnixSocket.bind(control, mode: 0o600) } catch { throw ValidationError("control socket: \(error)") }
                let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(fd) { channel in
                    channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
                }
                group.addTask {
                    try await withThrowingDiscardingTaskGroup { clients in
                        try await listener.executeThenClose { inbound in
                            for try await client in inbound {
                                clients.addTask { try? await Self.serveControl(client, device: device) }
                            }
                        }
                    }
                }
            }
        }
    }

    /// One control client: lines in, one answer line per line out.
    static func serveControl(_ client: NIOAsyncChannel<ByteBuffer, ByteBuffer>, device: EPPDevice) async throws {
        try await client.executeThenClose { inbound, outbound in
            var pending: [UInt8] = []
            for try await buffer in inbound {
                pending += buffer.readableBytesView
                guard pending.count <= 4096 || pending.contains(0x0A) else { return }
                while let newline = pending.firstIndex(of: 0x0A) {
                    let line = String(decoding: pending[..<newline], as: UTF8.self).trimmingCharacters(in: .whitespaces)
                    pending.removeSubrange(...newline)
                    let answer = await EPPControl.run(line, on: device)
                    try await outbound.write(ByteBuffer(string: answer + "\n"))
                }
            }
        }
    }
}
