/// The simulated EPP's control lines (one per command, answered `ok …` or `error …`), the same words kioskd's
/// own simulator control uses for its PIN pad, so `kioskctl sim` drives either:
///
///     pin DIGITS                 (the digits, then enter)
///     key 0-9|enter|clear|backspace|cancel
///     fault offline|refuse-import|wrong-check-value|duplicate-key-name|drop-on-key|digit-values|short-enter|unsolicited-type on|off
///     fault key-delay|entry-timeout MILLISECONDS
///     wait-entry [SECONDS]       (answers once a PIN entry waits for keys)
///     status                     (ok entering=… keys=… served=…)
public enum EPPControl {
    /// Runs one line against `device` and returns the answer line.
    public static func run(_ line: String, on device: EPPDevice) async -> String {
        let words = line.split(separator: " ").map(String.init)
        guard let verb = words.first else { return "error empty command" }
        switch verb {
        case "pin":
            guard words.count == 2, words[1].allSatisfy({ $0.isASCII && $0.isNumber }) else { return "error usage: pin DIGITS" }
            guard device.isEntering else { return "error no PIN entry is waiting for keys" }
            await device.type(words[1])
            return "ok"
        case "key":
            guard words.count == 2, let key = Self.key(words[1]) else { return "error usage: key 0-9|enter|clear|backspace|cancel" }
            await device.press(key)
            return "ok"
        case "fault":
            guard words.count == 3 else { return "error usage: fault NAME on|off|MILLISECONDS" }
            return Self.fault(words[1], words[2], on: device)
        case "wait-entry":
            let seconds = words.count > 1 ? Double(words[1]) ?? 10 : 10
            let deadline = ContinuousClock.now.advanced(by: .milliseconds(Int(seconds * 1000)))
            while !device.isEntering {
                guard ContinuousClock.now < deadline, !Task.isCancelled else { return "error no PIN entry within \(words.count > 1 ? words[1] : "10") s" }
                try? await Task.sleep(for: .milliseconds(20))
            }
            return "ok"
        case "status":
            let served = device.served.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
            return "ok entering=\(device.isEntering) keys=\(device.keyNames.joined(separator: ",")) offline=\(device.faults.offline) served=\(served)"
        default:
            return "error unknown command \(verb)"
        }
    }

    static func key(_ word: String) -> EPPDevice.Key? {
        switch word {
        case "enter": .enter
        case "clear": .clear
        case "backspace": .backspace
        case "cancel": .cancel
        default: word.count == 1 ? word.first?.wholeNumberValue.map { .digit($0) } : nil
        }
    }

    static func fault(_ name: String, _ value: String, on device: EPPDevice) -> String {
        let flags: [String: WritableKeyPath<EPPDevice.Faults, Bool>] = [
            "offline": \.offline, "refuse-import": \.refuseImport, "wrong-check-value": \.wrongCheckValue,
            "duplicate-key-name": \.duplicateKeyName, "drop-on-key": \.dropOnKey, "digit-values": \.sendDigitValues,
            "short-enter": \.acceptShortEnter, "unsolicited-type": \.unsolicitedType,
        ]
        let numbers: [String: WritableKeyPath<EPPDevice.Faults, Int>] = ["key-delay": \.keyDelayMilliseconds, "entry-timeout": \.entryTimeoutMilliseconds]
        if let flag = flags[name] {
            guard value == "on" || value == "off" else { return "error \(name) is on or off" }
            device.setFaults { $0[keyPath: flag] = value == "on" }
            return "ok"
        }
        if let number = numbers[name] {
            guard let milliseconds = Int(value), milliseconds >= 0 else { return "error \(name) takes milliseconds" }
            device.setFaults { $0[keyPath: number] = milliseconds }
            return "ok"
        }
        return "error unknown fault \(name) (\((flags.keys.sorted() + numbers.keys.sorted()).joined(separator: ", ")))"
    }
}
