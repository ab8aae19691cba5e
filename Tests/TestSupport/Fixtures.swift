/// The directory of fixture files shared by the test targets (`Tests/Fixtures`).
public let fixturesDirectory: String = {
    let file = #filePath
    let testsDirectory = file.split(separator: "/", omittingEmptySubsequences: false).dropLast(2).joined(separator: "/")
    return testsDirectory + "/Fixtures"
}()

/// The path of a social security card fixture (`Tests/Fixtures/ssc/NAME.json`).
public func sscFixturePath(_ name: String) -> String { "\(fixturesDirectory)/ssc/\(name).json" }
