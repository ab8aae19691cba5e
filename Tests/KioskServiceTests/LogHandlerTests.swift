@testable import SystemdSupport
import Logging
import Testing

@Suite("kioskd's log lines: text from outside cannot forge a line or a field")
struct LogHandlerTests {
    static func line(_ message: Logger.Message, _ metadata: Logger.Metadata = [:], level: Logger.Level = .info) -> String {
        JournaldLogHandler(label: "kioskd", timestamps: false).render(
            LogEvent(level: level, message: message, metadata: metadata, source: nil, file: #fileID, function: #function, line: #line))
    }

    @Test("a reader name or card error with a newline stays on one line; the forged priority prefix is inert")
    func newlinesAreEscaped() {
        let forged = "Mock Reader 00 00\n<2>kioskd: activation approved [pan=6228230029000005274]\r"
        let line = Self.line("reader attached", ["reader": .string(forged)])
        #expect(line.filter { $0 == "\n" }.count == 1 && line.hasSuffix("\n"), "\(line)")
        #expect(!line.contains("\r"))
        #expect(line == #"<6>kioskd: reader attached [reader="Mock Reader 00 00\n<2>kioskd: activation approved [pan=6228230029000005274]\r"]"# + "\n", "\(line)")
        let message = Self.line("card said: \("bad\nanswer\u{1B}[31m\u{2028}")", level: .error)
        #expect(message == "<3>kioskd: card said: bad\\nanswer\\u{1B}[31m\\u{2028}\n", "\(message)")
    }

    @Test("metadata values with spaces, =, ] or quotes are quoted; plain values are not; backslashes are doubled")
    func fieldsStayParseable() {
        #expect(Self.line("x", ["a": "plain", "b": "two words", "c": "k=v", "d": "x]y", "e": "say \"hi\"", "f": ""])
            == #"<6>kioskd: x [a=plain b="two words" c="k=v" d="x]y" e="say \"hi\"" f=""]"# + "\n")
        #expect(Self.line(#"C:\path"#) == #"<6>kioskd: C:\\path"# + "\n")
        #expect(Self.line("读卡器 已连接", ["reader": "读卡器 01"]) == "<6>kioskd: 读卡器 已连接 [reader=\"读卡器 01\"]\n")
    }
}
