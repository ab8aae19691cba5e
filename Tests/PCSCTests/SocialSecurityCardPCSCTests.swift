import APDU
import Bytes
import CardCore
import CardSimulator
import Foundation
import Identity
import PCSC
import SocialSecurityCard
import TestSupport
import Testing
import VirtualCards

extension PCSCIntegrationTests {
    /// Every social security card fixture read through libpcsclite → pcscd → vpcd, the PSAM in a second
    /// vpcd slot; kioskctl's `card read`; and pcsc-tools' scriptor reading the same card.
    @Suite("social security card through pcscd")
    struct SocialSecurityCardPCSC {
        static let cardSlot = VPCDSlot.all[8]
        static let psamSlot = VPCDSlot.all[9]
        /// Cards are swapped inside one vpcd connection per slot: reconnecting to vpcd for every fixture
        /// makes pcscd's view of the slot lag behind.
        static let cardHolder = SwappableCard(EchoCard())
        static let psamHolder = SwappableCard(VirtualPSAM())
        static let connections: [VPCDCard] = {
            let cards = [VPCDCard(card: cardHolder, port: cardSlot.port), VPCDCard(card: psamHolder, port: psamSlot.port)]
            cards.forEach { $0.insert() }
            return cards
        }()
        let system = PCSCSystem()

        /// Puts `fixture`'s card (and the virtual PSAM) in the slots, waits until pcscd sees cards there,
        /// and runs `body`.
        @discardableResult
        func withCard<R>(_ name: String, _ body: (SocialSecurityCardFixture) async throws -> R) async throws -> R {
            let fixture = try SocialSecurityCardFixture.load(path: sscFixturePath(name))
            Self.cardHolder.swap(to: try VirtualSocialSecurityCard.make(fixture))
            Self.psamHolder.swap(to: VirtualPSAM())
            #expect(Self.connections.allSatisfy { $0.waitUntilConnected() })
            _ = try await TestPCSCD.waitForCard(in: Self.cardSlot.readerName, present: true, system: self.system)
            _ = try await TestPCSCD.waitForCard(in: Self.psamSlot.readerName, present: true, system: self.system)
            // Swapped inside one vpcd connection, the card was never removed: pcscd still holds the previous
            // card's ATR and the protocol it negotiated, until it powers the card again. Power it down, as a
            // removal would, so the next connect reads this card's ATR and negotiates its protocol. (A T=0
            // fixture after a T=1 one failed a transmit with PROTO_MISMATCH: 1 soak run in 30.)
            let previous = try await self.system.connect(reader: Self.cardSlot.readerName)
            await previous.disconnect(.unpower)
            return try await body(fixture)
        }

        func read(psamReader: String? = Self.psamSlot.readerName) async throws(CardReadError) -> SocialSecurityCardReading {
            let connection: any CardConnection
            do {
                connection = try await self.system.connect(reader: Self.cardSlot.readerName)
            } catch {
                throw CardReadError(error, step: "connect")
            }
            var options = CardReadOptions()
            let psam = psamReader.map { PSAMSecurityModule(system: self.system, reader: $0) }
            options.securityModule = psam
            let result: Result<SocialSecurityCardReading, CardReadError>
            do throws(CardReadError) {
                result = .success(try await SocialSecurityCardReader.read(connection: connection, options: options))
            } catch {
                result = .failure(error)
            }
            await connection.disconnect()
            await psam?.close()
            return try result.get()
        }

        @Test("every readable fixture decodes to what it holds", arguments: [
            "v2-common", "v2-t0-x", "v3-sm4-rare", "v3-3des-t0", "v1-record-number", "sfi-only", "long-name", "p1-zero",
            "expired", "ppse-missing", "pin-last-try",
        ])
        func readsFixture(_ name: String) async throws {
            try await self.withCard(name) { fixture in
                let reading = try await self.read()
                let identity = try #require(reading.identity)
                #expect(identity.socialSecurityNumber.value == fixture.citizenId)
                #expect(identity.name == fixture.name)
                #expect(identity.specVersion.text == fixture.specVersion)
                #expect(identity.birthDate?.description == fixture.birthDate)
                #expect(identity.expiryDate?.description == fixture.expiryDate)
                #expect(identity.nation?.code == fixture.nation)
                #expect(reading.bank?.pan == fixture.bank?.pan)
                #expect(reading.bank?.holderID == fixture.bank?.holderId)
                #expect(reading.apduCount >= 16)
            }
        }

        @Test("every refusal fixture ends in its typed error", arguments: [
            ("application-locked", "applicationLocked"), ("card-locked", "cardLocked"), ("counterfeit-v3", "cardNotGenuine"),
            ("invalid-id", "invalidData"), ("file-missing", "fileNotFound"), ("record-missing", "recordNotFound"),
        ])
        func refusal(_ name: String, _ reason: String) async throws {
            try await self.withCard(name) { _ in
                do {
                    _ = try await self.read()
                    Issue.record("\(name) should be refused")
                } catch let error as CardReadError {
                    #expect(error.reasonCode == reason, "\(error.operatorMessage)")
                }
            }
        }

        @Test("bank-side refusals keep the identity; a 3.00 card whose PSAM reader is empty is its own error")
        func bankAndModuleRefusals() async throws {
            try await self.withCard("no-bank") { _ in
                let reading = try await self.read()
                #expect(reading.bankError?.reason == .noBankApplication)
            }
            try await self.withCard("bank-blocked") { _ in
                let reading = try await self.read()
                #expect(reading.bankError?.reason == .bankApplicationBlocked)
            }
            // The PSAM's reader is empty.
            let empty = VPCDSlot.all[7].readerName
            _ = try await TestPCSCD.waitForCard(in: empty, present: false, system: self.system)
            try await self.withCard("v3-sm4-rare") { _ in
                await #expect(throws: CardReadError(.securityModuleMissing, step: "")) { try await self.read(psamReader: empty) }
            }
        }

        @Test("kioskctl card read --json: masked by default, --unmasked shows the numbers, refusals exit 3")
        func kioskctlCardRead() async throws {
            try await self.withCard("v2-t0-x") { fixture in
                let masked = try await Kioskctl.run(["card", "read", "--reader", Self.cardSlot.readerName, "--json"])
                #expect(masked.status == 0)
                let object = try #require(try JSONSerialization.jsonObject(with: Data(masked.output.utf8)) as? [String: Any])
                let ss = try #require(object["socialSecurity"] as? [String: Any])
                let bank = try #require(object["bank"] as? [String: Any])
                #expect(ss["citizenId"] as? String == Masking.citizenID(fixture.citizenId))
                #expect(ss["name"] as? String == fixture.name)
                #expect(ss["gender"] as? String == "female")
                #expect(ss["nation"] as? String == "汉族")
                #expect(ss["birthDate"] as? String == fixture.birthDate)
                #expect(ss["specVersion"] as? String == "2.00")
                #expect(ss["region"] as? String == fixture.region)
                #expect(ss["issueDate"] as? String == fixture.issueDate)
                #expect(ss["expiryDate"] as? String == fixture.expiryDate)
                #expect(ss["cardNumber"] as? String == "*****5678")
                #expect(bank["pan"] as? String == Masking.pan(fixture.bank!.pan))
                #expect(bank["expiry"] as? String == fixture.bank?.expiry)
                #expect(bank["holderName"] as? String == fixture.bank?.holderName)
                #expect(bank["holderId"] as? String == Masking.citizenID(fixture.citizenId))
                #expect((object["apduCount"] as? Int ?? 0) > 16)
                #expect(!masked.output.contains(fixture.citizenId) && !masked.output.contains(fixture.bank!.pan))

                let unmasked = try await Kioskctl.run(["card", "read", "--reader", Self.cardSlot.readerName, "--json", "--unmasked"])
                #expect(unmasked.output.contains(fixture.citizenId) && unmasked.output.contains(fixture.bank!.pan))
            }
            try await self.withCard("card-locked") { _ in
                let refused = try await Kioskctl.run(["card", "read", "--reader", Self.cardSlot.readerName, "--json"])
                #expect(refused.status == 3)
                let object = try #require(try JSONSerialization.jsonObject(with: Data(refused.output.utf8)) as? [String: Any])
                let error = try #require(object["error"] as? [String: Any])
                #expect(error["reason"] as? String == "cardLocked")
                #expect(error["statusWord"] as? String == "9303")
                #expect((error["customerMessage"] as? [String: Any])?["key"] as? String == "card.ssc.cardLocked")
            }
        }

        @Test("pcsc-tools' scriptor reads our virtual card and sees what our reader decodes")
        func scriptorAgrees() async throws {
            try await self.withCard("v2-common") { fixture in
                let ours = try await self.read()
                let script = """
                    00 A4 04 00 0F 73 78 31 2E 73 68 2E C9 E7 BB E1 B1 A3 D5 CF
                    00 A4 02 00 02 EF 06
                    00 B2 08 00 14
                    00 B2 09 00 20
                    00 B2 0D 00 06
                    00 A4 04 00 08 A0 00 00 03 33 01 01 01 00
                    00 B2 01 14 00

                    """
                let responses = try await Self.runScriptor(reader: Self.cardSlot.readerName, script: script)
                #expect(responses.count == 7)
                let id = try SSSECodec.record(Array(responses[2].dropLast(2)))
                #expect(String(decoding: id.value, as: UTF8.self) == ours.identity?.socialSecurityNumber.value)
                let name = try SSSECodec.record(Array(responses[3].dropLast(2)))
                #expect(try GB18030.decode(name.value) == ours.identity?.name)
                let birth = try SSSECodec.record(Array(responses[4].dropLast(2)))
                #expect(CalendarDate(bcd: birth.value) == ours.identity?.birthDate)
                let record = try PBOCCodec.recordObjects(Array(responses[6].dropLast(2)))
                #expect(BCD.digits(record[0x5A] ?? []) == ours.bank?.pan)
                #expect(ours.bank?.pan == fixture.bank?.pan)
            }
        }

        /// Runs scriptor with `script` on stdin; returns each response's bytes (data + SW).
        static func runScriptor(reader: String, script: String) async throws -> [[UInt8]] {
            let run = try await runProcess("/usr/bin/scriptor", ["-r", reader], input: Data(script.utf8))
            let text = run.output
            guard run.status == 0 else { throw TestPCSCDError("scriptor failed: \(text) \(run.error)") }
            // "< 6F 19 … \n A3 D5 … 90 00 : Normal processing." — a response may wrap over several lines.
            var responses: [[UInt8]] = []
            var current: String?
            for line in text.split(separator: "\n").map(String.init) {
                if line.hasPrefix("< ") {
                    current = String(line.dropFirst(2))
                } else if current != nil, !line.hasPrefix(">") {
                    current! += " " + line
                } else {
                    continue
                }
                if let text = current, let colon = text.firstIndex(of: ":") {
                    responses.append(try Hex.decode(String(text[..<colon])))
                    current = nil
                }
            }
            return responses
        }
    }
}
