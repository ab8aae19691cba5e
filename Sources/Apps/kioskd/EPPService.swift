import BankGateway
import Logging
import Metrics
import ServiceLifecycle
import XFS4IoTPINPad

/// Keeps the kiosk's EPP usable: its XFS4IoT connection and state (``XFS4IoTPINPad/run()``), a sign-on at start
/// (retried with backoff) so the bank's PIN key reaches the EPP before the first customer, every PIN key the
/// bank gives imported under the EPP's master key, and the EPP's state in the metrics (0/1 gauges):
/// `kiosk_epp_ready`, `kiosk_epp_connected`, `kiosk_epp_online`, `kiosk_epp_master_key` (not `notInitialized`)
/// and `kiosk_epp_pin_key` (the bank's PIN key imported and checked).
struct EPPService: Service {
    let pad: XFS4IoTPINPad
    let gateway: any BankGateway
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown { await self.serve() }
    }

    private func serve() async {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.pad.run() }
            group.addTask {
                for await delivery in self.gateway.pinKeyDeliveries() {
                    do {
                        let name = try await self.pad.loadPINKey(encrypted: delivery.encrypted, checkValue: delivery.checkValue)
                        self.logger.info("the bank's PIN key is in the EPP", metadata: ["key": "\(name)"])
                    } catch let error as EPPError where error.reason == .offline {
                        // Kept by the pad: it goes in as soon as the EPP is connected.
                        self.logger.notice("the EPP is not connected yet: the bank's PIN key goes in when it is", metadata: ["reason": "\(error)"])
                    } catch {
                        // The pad's health carries the reason; activations are refused until the next key.
                        self.logger.error("the bank's PIN key could not be loaded into the EPP", metadata: ["problem": "\(error)"])
                    }
                }
            }
            group.addTask {
                var backoff = Duration.seconds(1)
                while !Task.isCancelled {
                    switch await self.gateway.prepare() {
                    case .ready: return
                    case .unavailable(let detail):
                        self.logger.warning("bank sign-on failed; the EPP has no PIN key until it succeeds", metadata: ["problem": "\(detail)", "retryIn": "\(backoff)"])
                    }
                    try? await Task.sleep(for: backoff)
                    backoff = min(backoff * 2, .seconds(60))
                }
            }
            group.addTask {
                let ready = Gauge(label: "kiosk_epp_ready")
                let connected = Gauge(label: "kiosk_epp_connected")
                let online = Gauge(label: "kiosk_epp_online")
                let masterKey = Gauge(label: "kiosk_epp_master_key")
                let pinKey = Gauge(label: "kiosk_epp_pin_key")
                for await health in self.pad.healthChanges() {
                    ready.record(health.isReady ? 1 : 0)
                    connected.record(health.connection == "connected" ? 1 : 0)
                    online.record(health.device == "online" ? 1 : 0)
                    masterKey.record(health.encryptionState.map { $0 != "notInitialized" } == true ? 1 : 0)
                    pinKey.record(health.pinKey != nil ? 1 : 0)
                }
            }
        }
    }
}
