// swift-tools-version: 6.1
import PackageDescription

/// Upcoming features every target of ours builds with (see ../shared/docs/style.md §3).
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "CardKiosk",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "kioskd", targets: ["kioskd"]),
        .executable(name: "kioskctl", targets: ["kioskctl"]),
        .executable(name: "kiosk-bench", targets: ["kiosk-bench"]),
        .executable(name: "kiosk-bank-sim", targets: ["kiosk-bank-sim"]),
        .executable(name: "kiosk-epp-sim", targets: ["kiosk-epp-sim"]),
        .library(name: "Bytes", targets: ["Bytes"]),
        .library(name: "APDU", targets: ["APDU"]),
        .library(name: "CardCore", targets: ["CardCore"]),
        .library(name: "PCSC", targets: ["PCSC"]),
        .library(name: "CardSimulator", targets: ["CardSimulator"]),
        .library(name: "SocialSecurityCard", targets: ["SocialSecurityCard"]),
        .library(name: "VirtualCards", targets: ["VirtualCards"]),
        .library(name: "ResidentIDCard", targets: ["ResidentIDCard"]),
        .library(name: "IDModuleSimulator", targets: ["IDModuleSimulator"]),
        .library(name: "BankGateway", targets: ["BankGateway"]),
        .library(name: "BankSimulator", targets: ["BankSimulator"]),
        .library(name: "BankHTTP", targets: ["BankHTTP"]),
        .library(name: "BankSimulatorServer", targets: ["BankSimulatorServer"]),
        .library(name: "ISO8583", targets: ["ISO8583"]),
        .library(name: "ISO8583Gateway", targets: ["ISO8583Gateway"]),
        .library(name: "Journal", targets: ["Journal"]),
        .library(name: "Activation", targets: ["Activation"]),
        .library(name: "KioskDevices", targets: ["KioskDevices"]),
        .library(name: "KioskProtocol", targets: ["KioskProtocol"]),
        .library(name: "KioskService", targets: ["KioskService"]),
        .library(name: "KioskClient", targets: ["KioskClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.24.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.29.0"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.0"..<"5.0.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-configuration", from: "1.4.0", traits: [.defaults, "YAML"]),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // The only C in the project: libpcsclite's headers, seen through one module map.
        .systemLibrary(
            name: "CPCSCLite", path: "Sources/Devices/CPCSCLite",
            pkgConfig: "libpcsclite",
            providers: [.apt(["libpcsclite-dev"])]
        ),
        // Byte strings as people and wire formats write them: hex text, packed BCD. Imports nothing.
        .target(name: "Bytes", path: "Sources/Base/Bytes", swiftSettings: swiftSettings),
        // Pure codecs: command/response APDUs, status words, BER-TLV, the T=0 exchange rules. No I/O.
        .target(name: "APDU", dependencies: ["Bytes"], path: "Sources/Base/APDU", swiftSettings: swiftSettings),
        // Domain vocabulary: readers, connections, channels, events, errors, the blocking worker thread.
        .target(name: "CardCore", dependencies: ["APDU", "Bytes"], path: "Sources/Devices/CardCore", swiftSettings: swiftSettings),
        // The PC/SC driver over libpcsclite. Only files in Sources/Devices/PCSC/Raw import CPCSCLite.
        .target(name: "PCSC", dependencies: ["CPCSCLite", "CardCore"], path: "Sources/Devices/PCSC", swiftSettings: swiftSettings),
        // Customer messages (zh-Hans + English behind stable keys) and the explained-error protocol.
        .target(name: "Messages", path: "Sources/Base/Messages", swiftSettings: swiftSettings),
        // Identity vocabulary shared by both cards: citizen ID, dates, nation and region codes, GB18030, masking.
        .target(name: "Identity", path: "Sources/Base/Identity", swiftSettings: swiftSettings),
        // The system OpenSSL's libcrypto, for SM2/SM3/SM4 and 3DES. Only Sources/Base/KioskCrypto imports it.
        .systemLibrary(name: "COpenSSL", path: "Sources/Base/COpenSSL", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        // XFS4IoT messages (CEN's JSON-over-WebSocket device interface): the envelope and the PIN pad's commands. Pure.
        .target(name: "XFS4IoT", dependencies: ["KioskProtocol"], path: "Sources/Base/XFS4IoT", swiftSettings: swiftSettings),
        // Block ciphers (SM4, 3DES) and, later, SM2/SM3, over COpenSSL.
        .target(name: "KioskCrypto", dependencies: ["COpenSSL"], path: "Sources/Base/KioskCrypto", swiftSettings: swiftSettings),
        // The social security card: SSSE application, 3.00 authentication through a security module,
        // the UnionPay bank application, the one-transaction reader and the redacting trace recorder.
        .target(
            name: "SocialSecurityCard", dependencies: ["APDU", "Bytes", "CardCore", "Identity", "Messages"],
            path: "Sources/Devices/SocialSecurityCard", swiftSettings: swiftSettings),
        // Virtual social security cards and a virtual PSAM, from fixture files (test key scheme).
        .target(
            name: "VirtualCards",
            dependencies: ["APDU", "Bytes", "CardSimulator", "Identity", "KioskCrypto", "SocialSecurityCard"],
            path: "Sources/Simulators/VirtualCards", swiftSettings: swiftSettings),
        // The resident ID card through the reader's security module: frame codec, serial transport,
        // commands, the four text layouts, the reader loop, the PC/SC chip-serial fallback.
        .target(
            name: "ResidentIDCard", dependencies: ["APDU", "Bytes", "CardCore", "Identity", "Messages"], path: "Sources/Devices/ResidentIDCard", swiftSettings: swiftSettings),
        // A security-module simulator on a pseudo-terminal, with fault injection, from fixture files.
        .target(
            name: "IDModuleSimulator", dependencies: ["ResidentIDCard", "Identity", "CardCore", "CardSimulator"], path: "Sources/Simulators/IDModuleSimulator", swiftSettings: swiftSettings),
        // The bank as the flow sees it: requests, typed outcomes with messages, result-code tables,
        // profiles and the registry that picks an implementation by kind.
        .target(name: "BankGateway", dependencies: ["Identity", "Messages"], path: "Sources/Bank/BankGateway", swiftSettings: swiftSettings),
        // The simulated bank: ledger, idempotency, outcomes from fixtures, fault injection; the in-process gateway.
        .target(name: "BankSimulator", dependencies: ["BankGateway", "Bytes", "Identity", "KioskCrypto"], path: "Sources/Simulators/BankSimulator", swiftSettings: swiftSettings),
        // The http-json gateway: wire format, request/response signing (RSA-SHA256, SM2-with-SM3), replay
        // guard, SM4 field sealing, and the gateway on async-http-client with mutual TLS.
        .target(
            name: "BankHTTP",
            dependencies: [
                "BankGateway", "Bytes", "KioskCrypto",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            path: "Sources/Bank/BankHTTP", swiftSettings: swiftSettings),
        // The simulated bank's HTTP and ISO 8583 servers (SwiftNIO), faults carried out on the wire.
        .target(
            name: "BankSimulatorServer",
            dependencies: [
                "BankSimulator", "BankGateway", "BankHTTP", "Bytes", "Identity", "ISO8583", "ISO8583Gateway", "KioskCrypto",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            path: "Sources/Simulators/BankSimulatorServer", swiftSettings: swiftSettings),
        // ISO 8583: the spec-driven codec (pure, fuzzable). Framing, MACs and the gateway build on it.
        .target(name: "ISO8583", dependencies: ["Bytes", "KioskCrypto"], path: "Sources/Base/ISO8583", swiftSettings: swiftSettings),
        // The crash-safe activation journal (SQLite through GRDB) with its hash-chained audit trail.
        .target(
            name: "Journal",
            dependencies: ["Bytes", "Identity", "KioskCrypto", .product(name: "GRDB", package: "GRDB.swift")],
            path: "Sources/Domain/Journal", swiftSettings: swiftSettings),
        // The activation flow: checks, PIN pad, exactly-once execution and resolution, the state machine.
        .target(
            name: "Activation",
            dependencies: [
                "BankGateway", "Identity", "Journal", "Messages", "KioskCrypto", "ResidentIDCard", "SocialSecurityCard",
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            path: "Sources/Domain/Activation", swiftSettings: swiftSettings),
        // Stand-ins for the flow's devices and store (demo, test mode and tests only): the simulated PIN pad and
        // identity verifier, the in-memory activation store. No production initializer defaults to them; kioskd picks them only in test mode.
        .target(
            name: "ActivationSimulators",
            dependencies: ["Activation", "BankGateway", "Bytes", "Journal", "KioskCrypto", "ResidentIDCard"],
            path: "Sources/Simulators/ActivationSimulators", swiftSettings: swiftSettings),
        // A client of XFS4IoT device services: one long-lived WebSocket connection (swift-nio's WebSocket codec,
        // swift-nio-ssl for wss), requests with their events and completion, unsolicited events, reconnects.
        .target(
            name: "XFS4IoTClient",
            dependencies: [
                "KioskProtocol", "XFS4IoT",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"), .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            path: "Sources/Devices/XFS4IoTClient", swiftSettings: swiftSettings),
        // The simulated XFS4IoT EPP service behind kiosk-epp-sim: key storage under a TEST master key, PIN entry with
        // hidden-digit key events, ISO 9564 format 0 PIN blocks, fault knobs. The clear PIN exists only in it.
        .target(
            name: "EPPSimulator",
            dependencies: [
                "Bytes", "KioskCrypto", "KioskProtocol", "XFS4IoT",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"), .product(name: "NIOWebSocket", package: "swift-nio"),
            ],
            path: "Sources/Simulators/EPPSimulator", swiftSettings: swiftSettings),
        // The kiosk's encrypting PIN pad as an XFS4IoT client: key import under the EPP's master key, PIN entry
        // counted from key events, the PIN block from the EPP. The clear PIN never reaches kioskd.
        .target(
            name: "XFS4IoTPINPad",
            dependencies: [
                "Activation", "BankGateway", "Bytes", "KioskProtocol", "XFS4IoT", "XFS4IoTClient",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/Domain/XFS4IoTPINPad", swiftSettings: swiftSettings),
        // The devices that feed the flow: the smart-card system (PC/SC or mock) and the ID module's reader loop.
        .target(
            name: "KioskDevices",
            dependencies: ["Activation", "CardCore", "ResidentIDCard", "SocialSecurityCard", .product(name: "Metrics", package: "swift-metrics")],
            path: "Sources/Domain/KioskDevices", swiftSettings: swiftSettings),
        // kioskd's settings: YAML file, environment, command line (swift-configuration), validated.
        .target(
            name: "KioskSettings",
            dependencies: ["KioskProtocol", .product(name: "Configuration", package: "swift-configuration")],
            path: "Sources/Service/KioskSettings", swiftSettings: swiftSettings),
        // The kiosk socket's protocol v1 (pure): messages, framing, limits.
        .target(name: "KioskProtocol", path: "Sources/Base/KioskProtocol", swiftSettings: swiftSettings),
        // Unix-socket addresses and blocking connect/bind/request (notify socket, kioskctl, simulator control).
        .target(name: "UnixSocket", dependencies: ["Bytes"], path: "Sources/Service/UnixSocket", swiftSettings: swiftSettings),
        // What our NIO servers share (the idle-connection closer).
        .target(name: "ServerSupport", dependencies: [.product(name: "NIOCore", package: "swift-nio")], path: "Sources/Service/ServerSupport", swiftSettings: swiftSettings),
        // The kiosk socket's client: kioskctl's, the benchmark's and the tests' (a reading thread, woken waits).
        .target(name: "KioskClient", dependencies: ["KioskProtocol", "UnixSocket"], path: "Sources/Service/KioskClient", swiftSettings: swiftSettings),
        // The kiosk socket server (NIO, Unix stream socket) that a kiosk screen and kioskctl talk to.
        .target(
            name: "KioskService",
            dependencies: [
                "Activation", "Bytes", "Identity", "Journal", "KioskProtocol", "KioskSettings", "Messages", "ServerSupport", "UnixSocket",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Sources/Service/KioskService", swiftSettings: swiftSettings),
        // Living under systemd: sd_notify (READY, WATCHDOG, STATUS) and a log handler in journald's format.
        .target(
            name: "SystemdSupport",
            dependencies: ["Identity", "UnixSocket", .product(name: "Logging", package: "swift-log")],
            path: "Sources/Service/SystemdSupport", swiftSettings: swiftSettings),
        // The Prometheus text endpoint on loopback HTTP (NIO).
        .target(
            name: "MetricsEndpoint",
            dependencies: [
                "KioskSettings", "ServerSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Sources/Service/MetricsEndpoint", swiftSettings: swiftSettings),
        // The `iso8583` bank gateway: sign-on, MACs, STANs, correlation and reversals over TCP (NIO).
        .target(
            name: "ISO8583Gateway",
            dependencies: [
                "BankGateway", "Bytes", "Identity", "ISO8583", "KioskCrypto",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Sources/Bank/ISO8583Gateway", swiftSettings: swiftSettings),
        // Mock reader, virtual cards, and the vpcd client that serves virtual cards to the real pcscd.
        .target(name: "CardSimulator", dependencies: ["APDU", "Bytes", "CardCore"], path: "Sources/Simulators/CardSimulator", swiftSettings: swiftSettings),
        .executableTarget(
            name: "kioskctl",
            dependencies: [
                "PCSC", "Bytes", "CardSimulator", "SocialSecurityCard", "VirtualCards", "Messages", "ResidentIDCard", "IDModuleSimulator", "KioskClient",
                "KioskProtocol", "UnixSocket",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/Apps/kioskctl", swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "kiosk-epp-sim",
            dependencies: [
                "BankSimulator", "Bytes", "EPPSimulator", "UnixSocket",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Sources/Apps/kiosk-epp-sim", swiftSettings: swiftSettings),
        .executableTarget(
            name: "kioskd",
            dependencies: [
                "PCSC", "CardSimulator", "SocialSecurityCard", "VirtualCards", "Identity", "Messages", "ResidentIDCard",
                "IDModuleSimulator", "Activation", "ActivationSimulators", "Bytes", "BankGateway", "BankHTTP", "BankSimulator", "BankSimulatorServer", "CardCore", "Journal",
                "KioskCrypto", "KioskDevices", "KioskProtocol", "KioskService", "KioskSettings", "ISO8583Gateway", "MetricsEndpoint",
                "SystemdSupport", "UnixSocket", "XFS4IoTClient", "XFS4IoTPINPad",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            path: "Sources/Apps/kioskd", swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "kiosk-bench",
            dependencies: [
                "PCSC", "Bytes", "CardSimulator", "SocialSecurityCard", "VirtualCards", "ISO8583", "KioskClient", "KioskProtocol", "UnixSocket",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/Apps/kiosk-bench", swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "kiosk-bank-sim",
            dependencies: [
                "BankGateway", "BankHTTP", "BankSimulator", "BankSimulatorServer", "Bytes", "ISO8583", "KioskCrypto",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            path: "Sources/Apps/kiosk-bank-sim", swiftSettings: swiftSettings
        ),
        // The activation executor as a process the crash test kills (a test tool, not installed).
        .executableTarget(
            name: "kiosk-crash-worker",
            dependencies: [
                "Activation", "BankGateway", "BankHTTP", "BankSimulator", "Bytes", "Identity", "Journal", "KioskCrypto",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/Apps/kiosk-crash-worker", swiftSettings: swiftSettings),
        // Helpers shared by the test targets (recording cards, counters, event collection).
        .target(
            name: "TestSupport", dependencies: ["APDU", "Bytes", "CardCore", "CardSimulator", "BankGateway", "BankSimulator", "KioskCrypto"],
            path: "Tests/TestSupport",
            swiftSettings: swiftSettings),
        .testTarget(
            name: "APDUTests", dependencies: ["APDU", "TestSupport"], resources: [.copy("Fixtures")], swiftSettings: swiftSettings),
        .testTarget(
            name: "CardCoreTests", dependencies: ["CardCore", "CardSimulator", "TestSupport"], swiftSettings: swiftSettings),
        .testTarget(name: "IdentityTests", dependencies: ["Identity"], swiftSettings: swiftSettings),
        .testTarget(name: "KioskCryptoTests", dependencies: ["KioskCrypto", "APDU"], swiftSettings: swiftSettings),
        .testTarget(
            name: "SocialSecurityCardTests",
            dependencies: ["SocialSecurityCard", "VirtualCards", "CardCore", "CardSimulator", "Identity", "Messages", "TestSupport"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "BankGatewayTests", dependencies: ["BankGateway", "BankSimulator", "KioskCrypto", "APDU", "Messages", "TestSupport"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "BankHTTPTests",
            dependencies: [
                "Activation", "BankGateway", "BankHTTP", "BankSimulator", "BankSimulatorServer", "Journal", "KioskCrypto", "APDU", "TestSupport",
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "ActivationTests",
            dependencies: [
                "Activation", "ActivationSimulators", "APDU", "BankGateway", "BankSimulator", "CardCore", "CardSimulator", "IDModuleSimulator", "Identity", "Journal",
                "KioskCrypto", "Messages", "ResidentIDCard", "SocialSecurityCard", "TestSupport", "VirtualCards",
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "KioskServiceTests",
            dependencies: [
                "Activation", "ActivationSimulators", "APDU", "BankGateway", "BankHTTP", "BankSimulator", "BankSimulatorServer", "CardCore", "CardSimulator", "IDModuleSimulator", "Identity",
                "Journal", "KioskClient", "KioskProtocol", "KioskService", "KioskSettings", "Messages", "MetricsEndpoint", "ResidentIDCard", "SocialSecurityCard", "SystemdSupport",
                "TestSupport", "UnixSocket", "VirtualCards",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(name: "KioskSettingsTests", dependencies: ["KioskSettings", "TestSupport"], swiftSettings: swiftSettings),
        .testTarget(name: "XFS4IoTTests", dependencies: ["KioskProtocol", "XFS4IoT", "XFS4IoTClient"], swiftSettings: swiftSettings),
        .testTarget(
            name: "EPPTests",
            dependencies: [
                "Activation", "BankGateway", "Bytes", "EPPSimulator", "KioskCrypto", "KioskProtocol", "TestSupport", "XFS4IoT", "XFS4IoTClient", "XFS4IoTPINPad",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(name: "KioskProtocolTests", dependencies: ["Bytes", "KioskProtocol"], swiftSettings: swiftSettings),
        .testTarget(name: "JournalTests", dependencies: ["ActivationSimulators", "Journal", "TestSupport"], swiftSettings: swiftSettings),
        .testTarget(
            name: "ISO8583GatewayTests",
            dependencies: ["APDU", "BankGateway", "BankSimulator", "BankSimulatorServer", "Identity", "ISO8583", "ISO8583Gateway", "KioskCrypto", "TestSupport"],
            swiftSettings: swiftSettings),
        .testTarget(name: "ISO8583Tests", dependencies: ["APDU", "ISO8583", "KioskCrypto", "TestSupport"], swiftSettings: swiftSettings),
        .testTarget(
            name: "ResidentIDCardTests",
            dependencies: ["ResidentIDCard", "IDModuleSimulator", "Identity", "APDU", "Messages", "TestSupport"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "PCSCTests",
            dependencies: [
                "PCSC", "CardSimulator", "TestSupport", "SocialSecurityCard", "VirtualCards", "Identity", "ResidentIDCard",
                "IDModuleSimulator", "Activation", "ActivationSimulators", "KioskDevices", "Journal", "BankGateway", "BankHTTP", "BankSimulator", "BankSimulatorServer",
                "APDU", "CardCore",
            ], swiftSettings: swiftSettings),
    ]
)

// libFuzzer entry points, only when asked for (they need `--sanitize=fuzzer`): ENABLE_FUZZ=1 swift build ...
if Context.environment["ENABLE_FUZZ"] != nil {
    package.targets += [
        .executableTarget(name: "FuzzAPDU", dependencies: ["APDU"], path: "Fuzz/FuzzAPDU", swiftSettings: swiftSettings),
        .executableTarget(
            name: "FuzzSocialSecurityCard", dependencies: ["APDU", "Bytes", "CardCore", "Identity", "SocialSecurityCard"],
            path: "Fuzz/FuzzSocialSecurityCard", swiftSettings: swiftSettings),
        .executableTarget(
            name: "FuzzIDModule", dependencies: ["ResidentIDCard"], path: "Fuzz/FuzzIDModule", swiftSettings: swiftSettings),
        .executableTarget(name: "FuzzISO8583", dependencies: ["ISO8583"], path: "Fuzz/FuzzISO8583", swiftSettings: swiftSettings),
    ]
}
