import Foundation
import Journal
import TestSupport
import Testing

/// The fingerprints' key lives in a file of its own, not in the database: the database alone cannot test
/// guesses of an ID number or PAN against its fingerprints.
@Suite("journal hash key: outside the database, 0600, moved out of older journals")
struct HashKeyTests {
    static func remove(_ path: String) {
        for suffix in ["", "-wal", "-shm", ".hashkey"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    }

    static func begin(_ journal: Journal, key: String) async throws {
        try await journal.begin(key: key, pan: JournalTests.pan, maskedPAN: "622823*********5274", idNumber: JournalTests.id, maskedID: "440***********1117", gateway: "simulator")
    }

    /// Every byte of the database, its WAL and shared memory.
    static func databaseBytes(_ path: String) -> Data {
        ["", "-wal", "-shm"].reduce(into: Data()) { bytes, suffix in bytes += FileManager.default.contents(atPath: path + suffix) ?? Data() }
    }

    /// The key file's text, trimmed.
    static func keyText(_ path: String) async throws -> String {
        let data = try #require(FileManager.default.contents(atPath: path + ".hashkey"))
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func mode(_ path: String) -> Int? { (try? FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? nil }

    @Test("a new journal creates its key file 0600 beside the database; the database never holds the key")
    func newJournal() async throws {
        let path = JournalTests.temporaryPath()
        defer { Self.remove(path) }
        let fingerprint: String
        do {
            let journal = try Journal(path: path)
            #expect(journal.hashKeyPath == path + ".hashkey")
            try await Self.begin(journal, key: "key-00000001")
            fingerprint = journal.fingerprint(JournalTests.pan)
        }
        #expect(Self.mode(path + ".hashkey") == 0o600)
        let key = try await Self.keyText(path)
        #expect(key.count == 32)
        let bytes = Self.databaseBytes(path)
        #expect(bytes.range(of: Data(key.uppercased().utf8)) == nil && bytes.range(of: Data(key.lowercased().utf8)) == nil, "the key is in the database")
        let reopened = try Journal(path: path)
        #expect(reopened.fingerprint(JournalTests.pan) == fingerprint, "the same key after a restart")
        await #expect(throws: JournalError.cardHasUnresolvedActivation(key: "key-00000001")) { try await Self.begin(reopened, key: "key-00000002") }
    }

    @Test("an older journal with its key inside: moved to the file on open, gone from the database, fingerprints unchanged")
    func migration() async throws {
        let path = JournalTests.temporaryPath()
        defer { Self.remove(path) }
        let fingerprint: String
        do {
            let journal = try Journal(path: path)
            try await Self.begin(journal, key: "key-00000001")
            fingerprint = journal.fingerprint(JournalTests.pan)
        }
        // Make it the journal an earlier kioskd wrote: the key in the meta table, no key file. (The released
        // journal's pool closes on its own queue, checkpointing the WAL under a lock: sqlite3 waits for it.)
        let key = try await Self.keyText(path)
        try FileManager.default.removeItem(atPath: path + ".hashkey")
        let insert = try await runProcess("/usr/bin/sqlite3", ["-cmd", ".timeout 5000", path, "INSERT INTO meta (name, value) VALUES ('salt', '\(key)');"])
        #expect(insert.status == 0, "\(insert.error)")
        #expect(Self.databaseBytes(path).range(of: Data(key.utf8)) != nil, "the older journal holds its key")

        let migrated = try Journal(path: path)
        #expect(migrated.fingerprint(JournalTests.pan) == fingerprint)
        await #expect(throws: JournalError.cardHasUnresolvedActivation(key: "key-00000001")) { try await Self.begin(migrated, key: "key-00000002") }
        #expect(Self.mode(path + ".hashkey") == 0o600)
        #expect(String(data: FileManager.default.contents(atPath: path + ".hashkey") ?? Data(), encoding: .utf8)?.trimmingCharacters(in: .whitespacesAndNewlines) == key)
        #expect(Self.databaseBytes(path).range(of: Data(key.utf8)) == nil, "the key's bytes are still in the database or its WAL")
        let rows = try await runProcess("/usr/bin/sqlite3", ["-cmd", ".timeout 5000", path, "SELECT COUNT(*) FROM meta WHERE name = 'salt';"])
        #expect(rows.output.trimmingCharacters(in: .whitespacesAndNewlines) == "0")
        #expect(try await migrated.integrityCheck() == "ok")
    }

    @Test("a journal with activations and no key file, a key file of another journal, a key file others can read: refused, named")
    func refusals() async throws {
        let path = JournalTests.temporaryPath()
        defer { Self.remove(path) }
        do { try await Self.begin(try Journal(path: path), key: "key-00000001") }
        let saved = try #require(FileManager.default.contents(atPath: path + ".hashkey"))

        try FileManager.default.removeItem(atPath: path + ".hashkey")
        #expect {
            _ = try Journal(path: path)
        } throws: { error in
            "\(error)".contains("hash key \(path).hashkey is missing") && "\(error)".contains("restore")
        }
        #expect(!FileManager.default.fileExists(atPath: path + ".hashkey"), "a lost key is not silently replaced")

        try saved.write(to: URL(fileURLWithPath: path + ".hashkey"))
        chmod(path + ".hashkey", 0o640)
        #expect {
            _ = try Journal(path: path)
        } throws: { error in
            "\(error)".contains("readable by its group or others (mode 640)") && "\(error)".contains("chmod 600")
        }
        chmod(path + ".hashkey", 0o600)
        #expect(try await Journal(path: path).activation("key-00000001") != nil)

        // An older journal (key inside) next to a key file that is not its own.
        let insert = try await runProcess("/usr/bin/sqlite3", ["-cmd", ".timeout 5000", path, "INSERT INTO meta (name, value) VALUES ('salt', '00112233445566778899AABBCCDDEEF0');"])
        #expect(insert.status == 0, "\(insert.error)")
        #expect {
            _ = try Journal(path: path)
        } throws: { error in
            "\(error)".contains("is not the key")
        }

        let broken = JournalTests.temporaryPath()
        defer { Self.remove(broken) }
        try Data("not a key\n".utf8).write(to: URL(fileURLWithPath: broken + ".hashkey"))
        chmod(broken + ".hashkey", 0o600)
        #expect {
            _ = try Journal(path: broken)
        } throws: { error in
            "\(error)".contains("does not hold 32 hex digits")
        }
    }

    @Test("the key file may be given (a systemd credential): a new journal uses it; no file is written beside the database")
    func givenKeyFile() async throws {
        let path = JournalTests.temporaryPath()
        let keyFile = JournalTests.temporaryPath() + ".credential"
        defer {
            Self.remove(path)
            try? FileManager.default.removeItem(atPath: keyFile)
        }
        try Data("0F1E2D3C4B5A69788796A5B4C3D2E1F0\n".utf8).write(to: URL(fileURLWithPath: keyFile))
        chmod(keyFile, 0o400)
        let journal = try Journal(path: path, hashKeyFile: keyFile)
        let other = try Journal(path: JournalTests.temporaryPath(), hashKeyFile: keyFile)
        defer { Self.remove(other.path) }
        #expect(journal.fingerprint(JournalTests.pan) == other.fingerprint(JournalTests.pan))
        #expect(!FileManager.default.fileExists(atPath: path + ".hashkey"))
    }
}
