public import Logging
public import NIOPosix
import XFS4IoT

/// Finds an XFS4IoT service the way the standard's clients do (`xfs4iot.md` §6): ask the service publisher
/// (`ws://HOST:PORT/xfs4iot/v1.0`) on each of its ports in turn for `ServicePublisher.GetServices`, and take the
/// first service whose URI names the wanted service.
public enum XFSDiscovery {
    /// - Parameters:
    ///   - host: where the publisher runs (the kiosk itself, usually).
    ///   - ports: the ports to probe, in order (80, 443, 5846–5856 by default).
    ///   - service: a part of the service URI's path that names the service (`PinPad`, `PinPad1`), case-insensitive.
    /// - Throws: ``XFSClientError/noService(_:)`` naming what each port answered.
    public static func find(
        host: String, ports: [Int] = XFSEndpoint.publisherPorts, service: String, group: MultiThreadedEventLoopGroup = .singleton,
        logger: Logger = Logger(label: "xfs4iot-discovery"), timeout: Duration = .seconds(3)
    ) async throws(XFSClientError) -> XFSEndpoint {
        var tried: [String] = []
        for port in ports {
            let publisher = XFSEndpoint.publisher(host: host, port: port)
            switch await Self.services(at: publisher, group: group, logger: logger, timeout: timeout) {
            case .failure(let problem):
                tried.append("\(port): \(problem)")
            case .success(let uris):
                if let uri = uris.first(where: { $0.lowercased().contains(service.lowercased()) }), let endpoint = try? XFSEndpoint(url: uri) {
                    logger.info("XFS4IoT service found", metadata: ["publisher": "\(publisher)", "service": "\(endpoint)"])
                    return endpoint
                }
                tried.append("\(port): no \(service) among \(uris)")
            }
        }
        throw .noService("\(service) on \(host): " + tried.joined(separator: "; "))
    }

    /// The service URIs one publisher lists, or why it did not.
    static func services(at publisher: XFSEndpoint, group: MultiThreadedEventLoopGroup, logger: Logger, timeout: Duration) async -> Result<[String], XFSClientError> {
        // One attempt, no retries: a port with no publisher is the normal case while probing.
        let connection = XFSConnection(endpoint: publisher, group: group, logger: logger, minimumBackoff: .seconds(3600), maximumBackoff: .seconds(3600))
        return await withTaskGroup(of: Result<[String], XFSClientError>?.self) { tasks in
            tasks.addTask {
                await connection.run()
                return nil
            }
            tasks.addTask {
                var started = false
                for await state in connection.states() {
                    switch state {
                    case .connecting: started = true
                    case .disconnected(let why) where started: return .failure(.notConnected(why))
                    case .disconnected: continue
                    case .connected:
                        do {
                            let (_, messages) = try await connection.request(
                                PINPadMessages.Command.getServices.rawValue, version: PINPadMessages.Command.getServices.defaultVersion,
                                timeout: Int(timeout.components.seconds * 1000))
                            for try await message in messages where message.header.type == .completion {
                                guard message.completionCode == .success else { return .failure(.refused(command: "GetServices", status: "\(message.completionCode.map { "\($0)" } ?? "none")")) }
                                return .success(PINPadMessages.serviceURIs(message.payload))
                            }
                            return .failure(.notConnected("no completion"))
                        } catch let error as XFSClientError {
                            return .failure(error)
                        } catch {
                            return .failure(.notConnected("\(error)"))
                        }
                    }
                }
                return .failure(.notConnected("stopped"))
            }
            tasks.addTask {
                try? await Task.sleep(for: timeout)
                return .failure(.notConnected("no answer within \(timeout)"))
            }
            var result: Result<[String], XFSClientError> = .failure(.notConnected("stopped"))
            while let next = await tasks.next() {
                if let next {
                    result = next
                    break
                }
            }
            tasks.cancelAll()
            return result
        }
    }
}
