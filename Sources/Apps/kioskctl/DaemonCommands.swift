import ArgumentParser
import Foundation
import KioskClient
import KioskProtocol

/// `kioskctl status`: the daemon's state.
struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the daemon's status (Common.Status over the kiosk socket).")
    @Option(help: "The kiosk socket.") var socket = KioskSocketClient.defaultPath
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let client = try KioskSocketClient(path: self.socket)
        defer { client.close() }
        let answer = try await client.call("Common.Status")
        if self.json { return printJSON(answer.payload) }
        guard answer.header.completionCode == .success, case .object(let status) = answer.payload else {
            throw ExitCode.failure
        }
        if status["mode"]?.string == "test" { print("TEST MODE: simulated devices, banks or test keys may be in use; no activation here is real") }
        for key in status.keys.sorted() { print("\(key): \(render(status[key]!))") }
    }
}

/// `kioskctl journal`: recent activations, masked (`list`, the default); `--verify` checks the audit chain;
/// `settle` closes a manual reconciliation.
struct JournalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "journal", abstract: "Recent activations (masked), --verify the audit chain, or settle a manual reconciliation.",
        subcommands: [JournalList.self, JournalSettle.self], defaultSubcommand: JournalList.self)
}

/// `kioskctl journal settle KEY --applied|--not-applied --operator NAME`.
struct JournalSettle: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "settle", abstract: "Settle an activation in manual reconciliation after checking it with the bank (operators only).",
        discussion: """
            A bank without inquiry and reversal leaves an activation whose answer was lost in manual reconciliation, and
            its card cannot start again until an operator settles it; the same goes for one the resolver cannot settle
            (still unknown, e.g. an ISO 8583 original that is gone). Check with the bank first; the audit trail records
            your name and uid. Exit 0 settled, 3 refused (not an operator, not manual or unknown, being resolved now).
            """)
    @Option(help: "The kiosk socket.") var socket = KioskSocketClient.defaultPath
    @Argument(help: "The activation's key (the reference the customer was given).") var key: String
    @Flag(help: "The bank applied it (→ approved).") var applied = false
    @Flag(help: "The bank did not apply it (→ notApplied; the card may start again).") var notApplied = false
    @Option(help: "Your name, for the audit trail.") var `operator`: String
    @Option(help: "What the bank said (reference, person), for the audit trail.") var note: String?
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        guard self.applied != self.notApplied else { throw ValidationError("give exactly one of --applied and --not-applied") }
        guard !self.operator.trimmingCharacters(in: .whitespaces).isEmpty else { throw ValidationError("--operator: your name") }
    }

    func run() async throws {
        let client = try KioskSocketClient(path: self.socket)
        defer { client.close() }
        var payload: [String: JSONValue] = ["key": .string(self.key), "applied": .bool(self.applied), "operator": .string(self.operator)]
        if let note = self.note { payload["note"] = .string(note) }
        let answer = try await client.call("Journal.Settle", payload: .object(payload))
        if self.json { printJSON(answer.payload) }
        guard answer.header.completionCode == .success else {
            if !self.json { print("refused: \(answer.header.errorDescription ?? "?")") }
            throw ExitCode(3)
        }
        if !self.json { print("\(self.key) settled: \(answer.payload["state"]?.string ?? "?")") }
    }
}

/// `kioskctl journal [list]`: recent activations, masked; `--verify` checks the audit chain.
struct JournalList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "Recent activations (masked), or --verify the audit chain.")
    @Option(help: "The kiosk socket.") var socket = KioskSocketClient.defaultPath
    @Option(help: "How many activations.") var limit = 20
    @Flag(help: "Verify the audit trail's hash chain instead.") var verify = false
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let client = try KioskSocketClient(path: self.socket)
        defer { client.close() }
        if self.verify {
            let answer = try await client.call("Journal.Verify")
            if self.json { printJSON(answer.payload) }
            if answer.payload["intact"]?.bool == true {
                if !self.json { print("audit chain intact (\(answer.payload["entries"]?.int ?? 0) entries)") }
            } else {
                if !self.json { print("audit chain BROKEN at entry \(answer.payload["brokenAt"]?.int ?? -1): \(answer.payload["reason"]?.string ?? "?")") }
                throw ExitCode(2)
            }
            return
        }
        let answer = try await client.call("Journal.Recent", payload: ["limit": .number(Double(self.limit))])
        if self.json { return printJSON(answer.payload) }
        let rows = answer.payload["activations"]?.array ?? []
        print("\(rows.count) activations")
        for row in rows {
            let fields = ["createdAt", "state", "maskedPAN", "maskedID", "bankReference", "key"].map { row[$0].map(render) ?? "-" }
            print(fields.joined(separator: "  "))
        }
    }
}

/// `kioskctl activate`: drives one activation as a kiosk screen would.
struct Activate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Drive one activation as a kiosk screen would: show each prompt and the progress, confirm the details.",
        discussion: """
            --simulate-customer PATH plays the customer through kioskd's simulated devices (kioskd --mock --sim-control PATH):
            it places the demo ID card and inserts the demo 3.00 card, types the PIN on the EPP when asked (the simulated
            EPP's control socket, kiosk-epp-sim --control, given as --pin-pad-control), and takes the cards at the end.
            The PIN goes to the EPP, never to kioskd.
            Exit status: 0 activated, 4 pending (the bank's answer is still being confirmed: keep the reference shown),
            3 any other end.
            """)
    @Option(help: "The kiosk socket.") var socket = KioskSocketClient.defaultPath
    @Option(help: "Play the customer through kioskd's simulator control socket.") var simulateCustomer: String?
    @Option(help: "The simulated EPP's control socket (kiosk-epp-sim --control), where the customer types the PIN.") var pinPadControl: String?
    @Option(help: "The PIN the simulated customer types.") var pin = "802461"
    @Option(help: "The card the simulated customer inserts.") var card = "ssc-demo-v3"
    @Flag(help: "Confirm the details without asking.") var yes = false
    @Option(help: "Screen language: zh-Hans or en.") var language = "zh-Hans"
    @Option(help: "Seconds before the command cancels itself (0 = never).") var timeout = 300
    @Flag(help: "Print every protocol message of the activation as a JSON line instead of the screen.") var json = false

    /// A line of the human screen (nothing with --json).
    private func say(_ text: String) {
        if !self.json { emitLine(text) }
    }

    func run() async throws {
        let client = try KioskSocketClient(path: self.socket)
        defer { client.close() }
        let id = client.send("Activation.Start", payload: ["language": .string(self.language)], timeout: self.timeout * 1000)
        let english = self.language.hasPrefix("en")
        func text(_ message: JSONValue?) -> String { message?[english ? "en" : "zhHans"]?.string ?? "" }
        var done: Set<String> = []
        for await message in client.stream() where message.header.requestId == id || message.header.type == .unsolicited {
            if self.json { emitLine(String(decoding: KioskProtocol.encode(message).dropLast(), as: UTF8.self)) }
            switch (message.header.type, message.header.name) {
            case (.acknowledge, _):
                if let status = message.header.status {
                    self.say("refused: \(status): \(message.payload["errorDescription"]?.string ?? "")")
                    throw ExitCode.failure
                }
            case (.event, "Activation.StageEvent"):
                let stage = message.payload["stage"]?.string ?? ""
                self.say("[\(stage)] \(text(message.payload["message"]))")
                // The customer acts once per stage (the flow may come back to "waiting" while the second card is read).
                if stage == "confirmingPIN" || done.insert(stage).inserted { try await self.customer(stage: stage) }
            case (.event, "Activation.DetailsEvent"):
                let p = message.payload
                self.say("  证件 document: \(text(p["document"]))")
                self.say("  姓名 name: \(p["name"]?.string ?? "")  身份证 ID: \(p["idNumber"]?.string ?? "")  社保卡 card: \(p["cardNumber"]?.string ?? "")  银行卡 bank card: \(p["bankCardNumber"]?.string ?? "")")
                if self.yes || self.simulateCustomer != nil {
                    self.say("  → confirmed")
                    client.send("Activation.Confirm")
                } else {
                    FileHandle.standardError.write(Data("  confirm? [y/N] ".utf8))
                    let answer = readLine() ?? ""
                    client.send(answer.lowercased().hasPrefix("y") ? "Activation.Confirm" : "Activation.Reject")
                }
            case (.event, "Activation.PINProgressEvent"):
                let digits = message.payload["digits"]?.int ?? 0
                self.say("  PIN " + String(repeating: "●", count: digits) + String(repeating: "○", count: max(0, 6 - digits)))
            case (.event, "Activation.TimeoutWarningEvent"):
                self.say("  \(message.payload["seconds"]?.int ?? 0) s left")
            case (.event, "Activation.NoticeEvent"):
                self.say("  ! \(text(message.payload["message"]))")
            case (.event, "Activation.ResultEvent"):
                let test = message.payload["test"]?.bool == true ? " [TEST MODE: not a real activation]" : ""
                self.say("  = \(text(message.payload["message"])) (\(message.payload["state"]?.string ?? ""))\(test)")
            case (.completion, "Activation.Start"):
                let end = message.payload["end"]?.string ?? "?"
                self.say("[end] \(text(message.payload["message"])) (\(message.header.completionCode?.rawValue ?? "?"), \(end))")
                // 4: the bank's answer is still to be confirmed (keep the reference); 3: not done.
                if end == "pending" { throw ExitCode(4) }
                if message.header.completionCode != .success { throw ExitCode(3) }
                return
            default:
                break
            }
        }
        throw SocketClientError("the daemon closed the connection before the activation ended")
    }

    /// The simulated customer's move for a stage.
    private func customer(stage: String) async throws {
        guard let control = self.simulateCustomer else { return }
        func sim(_ line: String) throws {
            let answer = try simulatorCommand(control, line)
            guard answer == "ok" else { throw SocketClientError("simulator: \(line): \(answer)") }
        }
        switch stage {
        case "waitingForCards":
            try await Task.sleep(for: .milliseconds(500))
            self.say("  (customer places the ID card and inserts the social security card)")
            try sim("id place demo")
            try sim("card insert \(self.card)")
        case "enteringPIN", "confirmingPIN":
            guard let pad = self.pinPadControl else { throw SocketClientError("--pin-pad-control is needed to type the PIN on the simulated EPP") }
            self.say("  (customer types the PIN on the EPP)")
            var attempts = 0
            while true {
                try await Task.sleep(for: .milliseconds(200))
                if (try? simulatorCommand(pad, "pin \(self.pin)")) == "ok" { break }
                attempts += 1
                if attempts > 50 { throw SocketClientError("the PIN pad never asked for the PIN") }
            }
        case "takeCards":
            try await Task.sleep(for: .milliseconds(500))
            self.say("  (customer takes the cards)")
            try sim("card remove")
            try sim("id remove")
        default:
            break
        }
    }
}

/// `kioskctl metrics`: the daemon's metrics in Prometheus' text format (for a node_exporter textfile, say).
struct MetricsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "metrics", abstract: "Print kioskd's metrics (Prometheus text format).")
    @Option(help: "The kiosk socket.") var socket = KioskSocketClient.defaultPath

    func run() async throws {
        let client = try KioskSocketClient(path: self.socket)
        defer { client.close() }
        let answer = try await client.call("Operations.Metrics")
        guard answer.header.completionCode == .success else { throw ExitCode.failure }
        print(answer.payload["text"]?.string ?? "", terminator: "")
    }
}

/// `kioskctl sim`: one command to kioskd's simulated devices.
struct Sim: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Drive kioskd's simulated devices (kioskd --mock --sim-control PATH) or the simulated EPP (kiosk-epp-sim --control PATH).",
        discussion: """
            kioskd: card insert NAME|FILE.json, card remove, id place demo|FILE.json, id remove, latency card|id MS, stats.
            kiosk-epp-sim: pin DIGITS, key 0-9|enter|clear|backspace|cancel, fault NAME on|off|MS, wait-entry [S], status.
            """)
    @Option(help: "The simulator control socket.") var control: String
    @Argument(help: "The command words.") var words: [String]

    func run() async throws {
        let answer = try simulatorCommand(self.control, self.words.joined(separator: " "))
        print(answer)
        if answer != "ok" { throw ExitCode.failure }
    }
}

func render(_ value: JSONValue) -> String {
    switch value {
    case .null: "-"
    case .bool(let value): "\(value)"
    case .number(let value): value == value.rounded() ? String(Int(value)) : String(value)
    case .string(let value): value
    case .array(let values): values.map(render).joined(separator: ", ")
    case .object(let object): object.keys.sorted().map { "\($0)=\(render(object[$0]!))" }.joined(separator: " ")
    }
}

func printJSON(_ value: JSONValue) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    if let data = try? encoder.encode(value) { print(String(decoding: data, as: UTF8.self)) }
}
