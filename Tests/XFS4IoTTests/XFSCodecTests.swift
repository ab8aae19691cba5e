import KioskProtocol
import Testing
import XFS4IoT
import XFS4IoTClient

@Suite("XFS4IoT codec: the envelope, both spellings and shapes the doc lists, typed errors")
struct XFSCodecTests {
    func decode(_ text: String) throws(XFSCodecError) -> XFSMessage { try XFSCodec.decode(Array(text.utf8)) }

    @Test func roundTripOmitsNulls() throws {
        let message = XFSMessage.command("Keyboard.PinEntry", requestId: 3, version: "2.0", timeout: 60000, payload: PINPadMessages.pinEntry(minimumLength: 4, maximumLength: 6))
        let text = String(decoding: XFSCodec.encode(message), as: UTF8.self)
        #expect(!text.contains("null"))
        #expect(text.contains(#""minLen":4"#) && text.contains(#""timeout":60000"#) && text.contains(#""terminate":true"#))
        #expect(try self.decode(text) == message)
    }

    @Test("unsolicited events come as type unsolicited or as an event with no requestId; both are unsolicited")
    func unsolicitedShapes() throws {
        let kal = try self.decode(#"{"header":{"name":"Common.StatusChangedEvent","type":"event","version":"2.0"},"payload":{"common":{"device":"offline"}}}"#)
        let schema = try self.decode(#"{"header":{"name":"Common.StatusChangedEvent","type":"unsolicited","version":"2.0"},"payload":{"common":{"device":"offline"}}}"#)
        let solicited = try self.decode(#"{"header":{"name":"Keyboard.KeyEvent","requestId":3,"type":"event","version":"2.0"}}"#)
        #expect(kal.isUnsolicited && schema.isUnsolicited && !solicited.isUnsolicited)
        #expect(solicited.payload == nil, "a payload-less event has no payload key")
        #expect(PINPadMessages.status(kal.payload).device == "offline")
    }

    @Test("completion codes: both spellings of the authorisation code, and the 2021-1 payload placement")
    func completionCodes() throws {
        let british = try self.decode(#"{"header":{"name":"X.Y","requestId":1,"type":"completion","version":"2.0","completionCode":"authorisationRequired"}}"#)
        let american = try self.decode(#"{"header":{"name":"X.Y","requestId":1,"type":"completion","version":"2.0","completionCode":"authorizationRequired"}}"#)
        #expect(british.completionCode == .authorizationRequired && american.completionCode == .authorizationRequired)
        let old = try self.decode(#"{"header":{"name":"X.Y","requestId":1,"type":"completion","version":"1.0"},"payload":{"completionCode":"commandErrorCode","errorCode":"noPin","errorDescription":"none"}}"#)
        #expect(old.completionCode == .commandErrorCode && old.errorCode == "noPin" && old.errorDescription == "none")
        let strange = try self.decode(#"{"header":{"name":"X.Y","requestId":1,"type":"completion","version":"2.0","completionCode":"somethingNew"}}"#)
        #expect(strange.completionCode == .other("somethingNew"))
    }

    @Test func badInputIsATypedError() {
        #expect(throws: XFSCodecError.invalidJSON) { try self.decode("not json") }
        #expect(throws: XFSCodecError.invalidUTF8) { try XFSCodec.decode([0x7B, 0xFF, 0x7D]) }
        #expect(throws: XFSCodecError.tooDeep(limit: KioskProtocol.maximumDepth)) { try self.decode(String(repeating: "[", count: 100)) }
        #expect(throws: XFSCodecError.tooLarge(limit: XFSCodec.maximumMessageBytes)) { try XFSCodec.decode([UInt8](repeating: 0x20, count: 70_000)) }
        #expect(throws: XFSCodecError.self) { try self.decode(#"{"payload":{}}"#) }
        #expect(throws: XFSCodecError.self) { try self.decode(#"{"header":{"name":"X","type":"sometype"}}"#) }
        #expect(throws: XFSCodecError.self, "a completion needs a positive requestId") { try self.decode(#"{"header":{"name":"X","type":"completion","requestId":0}}"#) }
        #expect(throws: XFSCodecError.self) { try self.decode(#"{"header":{"name":"X","type":"command","requestId":"7"}}"#) }
    }

    @Test("versions come from the service's capabilities: the highest this client knows, never a hard-coded one")
    func versionNegotiation() {
        let capabilities: JSONValue = [
            "interfaces": [
                ["name": "Keyboard", "commands": ["Keyboard.PinEntry": ["versions": ["1.0", "2.0", "2.3", "9.0"]]]],
                ["name": "KeyManagement", "commands": ["KeyManagement.ImportKey": ["versions": ["2.0", "3.0"]]]],
            ]
        ]
        let versions = PINPadMessages.commandVersions(inCapabilities: capabilities)
        #expect(PINPadMessages.negotiate(.pinEntry, offered: versions["Keyboard.PinEntry"]) == "2.3")
        #expect(PINPadMessages.negotiate(.importKey, offered: versions["KeyManagement.ImportKey"]) == "3.0")
        #expect(PINPadMessages.negotiate(.getPinBlock, offered: versions["PinPad.GetPinBlock"]) == "2.0", "unlisted: the default")
        #expect(PINPadMessages.negotiate(.pinEntry, offered: ["7.0"]) == nil, "only unknown majors: no version")
    }

    @Test("key events are counted from their completion only; a digit value is never read")
    func keyEffects() {
        #expect(PINPadMessages.keyEffect(nil) == .added)
        #expect(PINPadMessages.keyEffect([:]) == .added)
        #expect(PINPadMessages.keyEffect(["completion": "continue", "digit": "five"]) == .added)
        #expect(PINPadMessages.keyEffect(["completion": "continue", "digit": "zero"]) == .added)
        #expect(PINPadMessages.keyEffect(["completion": "clear", "digit": "clear"]) == .cleared)
        #expect(PINPadMessages.keyEffect(["completion": "backspace"]) == .removedOne)
        #expect(PINPadMessages.keyEffect(["completion": "enter"]) == .terminated)
        #expect(PINPadMessages.keyEffect(["completion": "auto"]) == .terminated)
    }

    @Test("customerData for iso0: the PAN's 12 rightmost digits without the check digit")
    func customerData() {
        // 6217000010002345678 without its check digit 8 is 621700001000234567: its 12 rightmost digits.
        #expect(PINPadMessages.customerData(pan: "6217000010002345678") == "001000234567")
        #expect(PINPadMessages.customerData(pan: "1234567890123") == "123456789012")
        #expect(PINPadMessages.customerData(pan: "123456789012") == nil)
        #expect(PINPadMessages.customerData(pan: "62170000100023456X8") == nil)
    }

    @Test func endpoints() throws {
        let plain = try XFSEndpoint(url: "ws://127.0.0.1:5846/xfs4iot/v1.0/PinPad1/")
        #expect(plain.host == "127.0.0.1" && plain.port == 5846 && plain.path == "/xfs4iot/v1.0/PinPad1/" && !plain.secure)
        let secure = try XFSEndpoint(url: "wss://ATM1/xfs4iot/v1.0/CardReader")
        #expect(secure.secure && secure.port == 443)
        let v6 = try XFSEndpoint(url: "ws://[::1]:5848/xfs4iot/v1.0")
        #expect(v6.host == "::1" && v6.port == 5848 && v6.description == "ws://[::1]:5848/xfs4iot/v1.0")
        #expect(throws: XFSClientError.self) { try XFSEndpoint(url: "http://127.0.0.1/") }
        #expect(throws: XFSClientError.self) { try XFSEndpoint(url: "ws://127.0.0.1:99999/") }
        #expect(throws: XFSClientError.self) { try XFSEndpoint(url: "ws://:80/") }
    }
}
