import Synchronization

/// What the ID-card reader loop reports.
public enum IDCardEvent: Sendable, CustomStringConvertible {
    /// The module answers (again).
    case moduleOnline
    /// The module stopped answering or its device is gone; the loop keeps trying.
    case moduleOffline(IDModuleError)
    /// A card was read. Reported once per presentation.
    case cardArrived(IDCardData)
    /// The card read last is no longer found.
    case cardLeft
    /// A card is there but could not be read after the allowed attempts.
    case readFailed(IDModuleError)

    public var description: String {
        switch self {
        case .moduleOnline: "module online"
        case .moduleOffline(let error): "module offline: \(error.operatorMessage)"
        case .cardArrived(let card): "card arrived: \(card)"
        case .cardLeft: "card left"
        case .readFailed(let error): "read failed: \(error.operatorMessage)"
        }
    }
}

/// The reader loop: find → select → read with a fresh find before every read; the same card is reported
/// once until it is no longer found; a read that fails half-way is retried a bounded number of times and
/// then reported; a lost module is retried with backoff.
///
/// Modules differ in what "find" answers for a card that stays on the reader after it was read: some
/// find it again, most do not until it leaves the field (ISO 14443 state). With the latter, "card left"
/// means "no longer found", and putting the same card down again reports it again.
public struct IDCardWatcher: Sendable {
    public var pollInterval: Duration = .milliseconds(300)
    /// Attempts per presentation before `readFailed`.
    public var readAttempts = 3
    /// Consecutive "no card" answers before `cardLeft`.
    public var missesBeforeLeft = 2
    public var fingerprint = false

    public let module: IDCardModule

    public init(module: IDCardModule) { self.module = module }

    /// Runs the loop until the stream's consumer stops.
    public func events() -> AsyncStream<IDCardEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: IDCardEvent.self, bufferingPolicy: .bufferingNewest(64))
        let task = Task { await self.run(continuation) }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    private func run(_ continuation: AsyncStream<IDCardEvent>.Continuation) async {
        var online: Bool?
        var backoff = Duration.milliseconds(250)
        var present: IDCardData?
        var misses = 0
        var failedThisPresentation = false
        while !Task.isCancelled {
            do {
                let found = try await self.module.findCard()
                if online != true {
                    online = true
                    backoff = .milliseconds(250)
                    continuation.yield(.moduleOnline)
                }
                if found {
                    misses = 0
                    if let card = try await self.readWithRetries(failedBefore: &failedThisPresentation, continuation) {
                        if card != present {
                            if present != nil { continuation.yield(.cardLeft) }
                            present = card
                            continuation.yield(.cardArrived(card))
                        }
                    }
                } else {
                    misses += 1
                    failedThisPresentation = false
                    if present != nil && misses >= self.missesBeforeLeft {
                        present = nil
                        continuation.yield(.cardLeft)
                    }
                }
                try await Task.sleep(for: self.pollInterval)
            } catch let error as IDModuleError {
                if online != false {
                    online = false
                    continuation.yield(.moduleOffline(error))
                }
                if present != nil {
                    present = nil
                    continuation.yield(.cardLeft)
                }
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(4))
            } catch {
                break  // cancelled
            }
        }
        continuation.finish()
    }

    /// select → read, then up to `readAttempts − 1` more times find → select → read. When a read failed and
    /// the card is no longer found (most modules count a card as read once a read was answered, even a
    /// corrupt answer), the failure is reported: the customer must lift the card and place it again.
    private func readWithRetries(failedBefore: inout Bool, _ continuation: AsyncStream<IDCardEvent>.Continuation) async throws
        -> IDCardData?
    {
        var lastError: IDModuleError?
        for attempt in 0..<self.readAttempts {
            do {
                if attempt > 0 {
                    guard try await self.module.findCard() else { break }
                }
                try await self.module.selectCard()
                let card = try await self.module.readSelectedCard(fingerprint: self.fingerprint)
                failedBefore = false
                return card
            } catch let error where [.deviceGone, .deviceUnavailable, .permissionDenied, .noisyLine].contains(error.reason) {
                throw error
            } catch {
                lastError = error
            }
        }
        if let lastError, !failedBefore {
            failedBefore = true
            continuation.yield(.readFailed(lastError))
        }
        return nil
    }
}
