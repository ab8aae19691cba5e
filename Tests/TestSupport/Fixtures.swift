import BankSimulator
import Bytes
/// The directory of fixture files shared by the test targets (`Tests/Fixtures`).
public let fixturesDirectory: String = {
    let file = #filePath
    let testsDirectory = file.split(separator: "/", omittingEmptySubsequences: false).dropLast(2).joined(separator: "/")
    return testsDirectory + "/Fixtures"
}()

/// The path of a social security card fixture (`Tests/Fixtures/ssc/NAME.json`).
public func sscFixturePath(_ name: String) -> String { "\(fixturesDirectory)/ssc/\(name).json" }

/// An `http-json` bank profile for the simulated bank listening on 127.0.0.1:`port`, signed with the
/// fixture test keys (Tests/Fixtures/bank/keys).
public func simulatedHTTPBankProfile(port: Int, responseMilliseconds: Int = 8000) -> String {
    let keys = "\(fixturesDirectory)/bank/keys/"
    return """
        {"name": "Simulated bank (HTTP)", "kind": "http-json", "bankCode": "SIM", "terminalID": "KIOSK001",
         "endpoint": "http://127.0.0.1:\(port)", "timeouts": {"connectMilliseconds": 2000, "responseMilliseconds": \(responseMilliseconds)},
         "resultCodes": {"00": "approved", "25": "notFound", "96": "unavailable"},
         "settings": {"signingScheme": "rsa", "signingKeyFile": "\(keys)terminal.key", "bankPublicKeyFile": "\(keys)bank.pub", "serial": "TERM-1",
                      \(pinKeySettingsJSON)}}
        """
}

/// The simulated bank's PIN key for the EPP, under the published TEST master key that kiosk-epp-sim holds by
/// default, as `"pinKeyUnderMasterKey": …, "pinKeyCheckValue": …` for a profile's settings.
public var pinKeySettingsJSON: String {
    SimulatedBank.Fixture().pinKeySettings(masterKey: (try? Hex.decode(SimulatedBank.Fixture.testMasterKey)) ?? [])
        .sorted { $0.key < $1.key }.map { "\"\($0.key)\": \"\($0.value)\"" }.joined(separator: ", ")
}
