import Bytes
import CardCore
import Logging
import ServiceLifecycle

/// Logs every reader and card event until shutdown. ATRs are not personal data; nothing read from a card is
/// logged here.
struct ReaderWatchService: Service {
    let system: any SmartCardSystem
    let logger: Logger

    func run() async throws {
        for await event in self.system.events().cancelOnGracefulShutdown() {
            switch event {
            case .readerAttached(let reader):
                self.logger.info("reader attached", metadata: ["reader.name": "\(reader)"])
            case .readerDetached(let reader):
                self.logger.notice("reader detached", metadata: ["reader.name": "\(reader)"])
            case .cardInserted(let reader, let atr):
                self.logger.info("card inserted", metadata: ["reader.name": "\(reader)", "card.atr": "\(Hex.encode(atr))"])
            case .cardRemoved(let reader):
                self.logger.info("card removed", metadata: ["reader.name": "\(reader)"])
            case .cardMute(let reader):
                self.logger.warning("card does not answer to reset", metadata: ["reader.name": "\(reader)"])
            case .serviceOffline(let reason):
                self.logger.error("reader service offline", metadata: ["reason": "\(reason)"])
            case .serviceOnline:
                self.logger.notice("reader service online")
            }
        }
    }
}
