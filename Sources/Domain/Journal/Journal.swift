import Bytes
public import Foundation
import GRDB
import Identity
import KioskCrypto
import Synchronization

/// The crash-safe activation journal in SQLite (GRDB): WAL, `synchronous=FULL`, schema migrations that
/// apply all-or-nothing, a hash-chained audit trail, a retention purge. The intent of an activation is
/// committed before any byte goes to the bank; every state change commits with its audit entry in one
/// transaction.
public final class Journal: Sendable {
    public let path: String
    /// The file that holds the fingerprints' key, outside the database.
    public let hashKeyPath: String
    private let database: DatabasePool
    private let salt: [UInt8]
    private let failure = Mutex<String?>(nil)
    private let clock: @Sendable () -> Date

    /// Opens (creating and migrating) the journal at `path`.
    /// - Parameters:
    ///   - hashKeyFile: the fingerprints' key (see ``hashKeyPath``); default `path` + `.hashkey`. Created
    ///     0600 when the journal is new; a journal written before the key left the database has its key
    ///     moved out to this file on first open.
    ///   - maximumPages: caps the file (`PRAGMA max_page_count`); tests use it to make writes fail.
    public init(path: String, hashKeyFile: String? = nil, clock: @escaping @Sendable () -> Date = { Date() }, maximumPages: Int? = nil) throws(JournalError) {
        self.path = path
        self.hashKeyPath = hashKeyFile ?? path + ".hashkey"
        self.clock = clock
        var configuration = Configuration()
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            try db.execute(sql: "PRAGMA foreign_keys = ON")
            if let maximumPages { try db.execute(sql: "PRAGMA max_page_count = \(maximumPages)") }
        }
        configuration.busyMode = .timeout(10)
        do {
            let database = try DatabasePool(path: path, configuration: configuration)
            // GRDB picks synchronous=NORMAL for WAL after prepareDatabase; the journal wants every commit
            // on disk before it returns, so the one writer connection gets FULL.
            try database.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
            try Self.migrator.migrate(database)
            self.database = database
        } catch {
            throw .unusable("\(path): \(error)")
        }
        self.salt = try Self.hashKey(database: self.database, path: path, keyPath: self.hashKeyPath)
    }

    /// The fingerprints' key from its file, moving a key kept inside the database (journals before the
    /// key file) out to it first, or creating one for a journal that has no fingerprints yet.
    private static func hashKey(database: DatabasePool, path: String, keyPath: String) throws(JournalError) -> [UInt8] {
        let inside: (key: [UInt8]?, activations: Int)
        do {
            inside = try database.read { db in
                (try String.fetchOne(db, sql: "SELECT value FROM meta WHERE name = 'salt'").map { try Hex.decode($0) },
                 try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM activation") ?? 0)
            }
        } catch {
            throw .unusable("\(path): \(error)")
        }
        let key: [UInt8]
        switch (try HashKeyFile.read(keyPath), inside.key) {
        case (let stored?, nil):
            return stored
        case (let stored?, let old?):
            guard stored == old else {
                throw .unusable("hash key \(keyPath) is not the key \(path) was written with; restore this journal's own key file")
            }
            key = stored
        case (nil, let old?):
            try HashKeyFile.create(keyPath, key: old)
            key = old
        case (nil, nil):
            guard inside.activations == 0 else {
                throw .unusable(
                    "hash key \(keyPath) is missing: the \(inside.activations) activations in \(path) were fingerprinted with it, and unsettled cards could not be recognised; restore the file from the state directory's backup")
            }
            let fresh = HashKeyFile.generate()
            try HashKeyFile.create(keyPath, key: fresh)
            return fresh
        }
        // The key is safe in its file: remove it from the database, overwriting the row's bytes, and empty
        // the write-ahead log that still holds the page it was on.
        do {
            try database.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA secure_delete = ON")
                try db.inTransaction {
                    try db.execute(sql: "DELETE FROM meta WHERE name = 'salt'")
                    return .commit
                }
                try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)")
            }
        } catch {
            throw .unusable("\(path): moving the hash key out: \(error)")
        }
        return key
    }

    /// Schema versions. Each migration runs in one transaction: it applies whole or not at all.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
                CREATE TABLE activation (
                    key TEXT PRIMARY KEY, cardHash TEXT NOT NULL, maskedPAN TEXT NOT NULL, maskedID TEXT NOT NULL,
                    idHash TEXT NOT NULL, gateway TEXT NOT NULL, state TEXT NOT NULL, bankReference TEXT, bankCode TEXT,
                    detail TEXT, createdAt DATETIME NOT NULL, updatedAt DATETIME NOT NULL, resolveAttempts INTEGER NOT NULL DEFAULT 0);
                CREATE INDEX activation_card ON activation (cardHash, state);
                CREATE INDEX activation_updated ON activation (updatedAt);
                CREATE TABLE audit (
                    seq INTEGER PRIMARY KEY, at DATETIME NOT NULL, activation TEXT, event TEXT NOT NULL, detail TEXT NOT NULL,
                    previousHash TEXT NOT NULL, hash TEXT NOT NULL);
                CREATE TABLE chainAnchor (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, hash TEXT NOT NULL);
                """)
        }
        return migrator
    }

    /// The schema versions applied, oldest first.
    public func appliedMigrations() async throws(JournalError) -> [String] {
        try await self.read { db in try Array(Self.migrator.appliedMigrations(db)) }
    }

    /// The durability settings in force on the writing connection: `journal_mode` and `synchronous`
    /// (2 = FULL).
    public func durability() async throws(JournalError) -> (journalMode: String, synchronous: Int) {
        try await self.write { db in
            (try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "", try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1)
        }
    }

    // MARK: Hashes

    /// A keyed hash (SM3 over this journal's random salt) of a PAN or ID number: matches the same card
    /// again without storing the number.
    public func fingerprint(_ value: String) -> String {
        Hex.encode(SM3.hash(self.salt + Array(value.utf8)).prefix(16))
    }

    // MARK: Writes

    /// Journals the intent of an activation (state `pending`) before anything is sent. Refuses a card
    /// with an unsettled activation and a key used before.
    @discardableResult
    public func begin(
        key: String, pan: String, maskedPAN: String, idNumber: String, maskedID: String, gateway: String
    ) async throws(JournalError) -> ActivationRecord {
        let now = self.clock()
        let record = ActivationRecord(
            key: key, cardHash: self.fingerprint(pan), maskedPAN: maskedPAN, maskedID: maskedID, idHash: self.fingerprint(idNumber),
            gateway: gateway, state: .pending, createdAt: now, updatedAt: now)
        try await self.write { db throws in
            if let open = try Row.fetchOne(
                db, sql: "SELECT key, state FROM activation WHERE cardHash = ? AND state IN ('pending', 'unknown', 'manual')", arguments: [record.cardHash])
            {
                let openKey: String = open["key"]
                let openState: String = open["state"]
                throw openState == ActivationState.manual.rawValue
                    ? JournalError.cardNeedsReconciliation(key: openKey) : JournalError.cardHasUnresolvedActivation(key: openKey)
            }
            if try Int.fetchOne(db, sql: "SELECT 1 FROM activation WHERE key = ?", arguments: [key]) != nil { throw JournalError.duplicateKey(key) }
            try db.execute(
                sql: """
                    INSERT INTO activation (key, cardHash, maskedPAN, maskedID, idHash, gateway, state, createdAt, updatedAt, resolveAttempts)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)
                    """,
                arguments: [key, record.cardHash, maskedPAN, maskedID, record.idHash, gateway, record.state.rawValue, Self.stored(now), Self.stored(now)])
            try self.appendAudit(db, at: now, activation: key, event: "intent", detail: "\(maskedPAN) \(maskedID) via \(gateway)")
        }
        return record
    }

    /// Records a new state (and the bank's answer) for `key`, with its audit entry, in one transaction.
    public func record(
        _ key: String, state: ActivationState, bankReference: String? = nil, bankCode: String? = nil, detail: String? = nil,
        resolveAttempt: Bool = false
    ) async throws(JournalError) {
        let now = self.clock()
        try await self.write { db throws in
            guard let current = try String.fetchOne(db, sql: "SELECT state FROM activation WHERE key = ?", arguments: [key]) else {
                throw JournalError.notFound(key: key)
            }
            try db.execute(
                sql: """
                    UPDATE activation SET state = ?, bankReference = COALESCE(?, bankReference), bankCode = COALESCE(?, bankCode),
                    detail = ?, updatedAt = ?, resolveAttempts = resolveAttempts + ? WHERE key = ?
                    """,
                arguments: [state.rawValue, bankReference, bankCode, detail, Self.stored(now), resolveAttempt ? 1 : 0, key])
            var text = "\(current) → \(state.rawValue)"
            if let bankCode { text += " code \(bankCode)" }
            if let bankReference { text += " ref \(bankReference)" }
            if let detail { text += ": \(detail)" }
            try self.appendAudit(db, at: now, activation: key, event: "state", detail: text)
        }
    }

    /// An operator's settlement of an activation in manual reconciliation (the bank offers neither inquiry
    /// nor reversal) or still unknown (the resolver could not settle it, e.g. an ISO 8583 original that is
    /// gone): after checking with the bank, `applied` (→ `approved`) or not (→ `notApplied`). The card is free
    /// again; the audit chain records who settled it and what they found. (Use
    /// ``ActivationExecutor/settleByOperator`` in a running daemon: it keeps the resolver off the key.)
    /// - Throws: `notFound`, or `notManual` when the activation is not waiting for an operator.
    public func settle(_ key: String, applied: Bool, operator name: String, uid: UInt32, note: String? = nil) async throws(JournalError) {
        let now = self.clock()
        try await self.write { db throws in
            guard let current = try String.fetchOne(db, sql: "SELECT state FROM activation WHERE key = ?", arguments: [key]) else {
                throw JournalError.notFound(key: key)
            }
            guard current == ActivationState.manual.rawValue || current == ActivationState.unknown.rawValue else {
                throw JournalError.notManual(key: key, state: current)
            }
            let state: ActivationState = applied ? .approved : .notApplied
            let detail = "settled by operator \(name) (uid \(uid)): \(applied ? "applied at the bank" : "not applied at the bank")" + (note.map { ": \($0)" } ?? "")
            try db.execute(sql: "UPDATE activation SET state = ?, detail = ?, updatedAt = ? WHERE key = ?", arguments: [state.rawValue, detail, Self.stored(now), key])
            try self.appendAudit(db, at: now, activation: key, event: "settle", detail: "\(current) → \(state.rawValue): \(detail)")
        }
    }

    /// Adds an audit entry that belongs to no activation (daemon start, configuration, purge).
    public func note(_ event: String, detail: String) async throws(JournalError) {
        let now = self.clock()
        try await self.write { db throws in try self.appendAudit(db, at: now, activation: nil, event: event, detail: detail) }
    }

    /// ``note(_:detail:)`` without waiting: queued on the journal's writer queue behind every earlier write,
    /// so notes keep their order. A failure stops the journal as any failed write does.
    public func post(_ event: String, detail: String) {
        guard self.failure.withLock({ $0 }) == nil else { return }
        let now = self.clock()
        self.database.asyncWrite { db in try self.appendAudit(db, at: now, activation: nil, event: event, detail: detail) } completion: { _, result in
            if case .failure(let error) = result { _ = self.stopped(by: error) }
        }
    }

    // MARK: Reads

    public func activation(_ key: String) async throws(JournalError) -> ActivationRecord? {
        try await self.read { db in try Self.fetchRecords(db, sql: "SELECT * FROM activation WHERE key = ?", arguments: [key]).first }
    }

    /// Activations the resolver must settle (`pending`, `unknown`), oldest first.
    public func unresolved() async throws(JournalError) -> [ActivationRecord] {
        try await self.read { db in
            try Self.fetchRecords(db, sql: "SELECT * FROM activation WHERE state IN ('pending', 'unknown') ORDER BY createdAt", arguments: [])
        }
    }

    /// The newest activations first.
    public func recent(limit: Int = 50) async throws(JournalError) -> [ActivationRecord] {
        try await self.read { db in try Self.fetchRecords(db, sql: "SELECT * FROM activation ORDER BY createdAt DESC, key LIMIT ?", arguments: [limit]) }
    }

    public func audit(for key: String? = nil) async throws(JournalError) -> [AuditEntry] {
        try await self.read { db in
            let rows =
                key == nil
                ? try Row.fetchAll(db, sql: "SELECT * FROM audit ORDER BY seq")
                : try Row.fetchAll(db, sql: "SELECT * FROM audit WHERE activation = ? ORDER BY seq", arguments: [key])
            return rows.map(Self.auditEntry)
        }
    }

    /// SQLite's own `PRAGMA integrity_check`: `ok` or the problems it found.
    public func integrityCheck() async throws(JournalError) -> String {
        try await self.read { db in try String.fetchAll(db, sql: "PRAGMA integrity_check").joined(separator: "; ") }
    }

    // MARK: Audit chain

    /// Recomputes every entry's hash from the anchor on: any edited, deleted, inserted or reordered entry
    /// breaks the chain at that point.
    public func verifyChain() async throws(JournalError) -> ChainReport {
        try await self.read { db in
            let anchor = try Row.fetchOne(db, sql: "SELECT seq, hash FROM chainAnchor WHERE id = 1")
            var previous: String = anchor?["hash"] ?? Self.genesis
            var expectedSeq: Int64 = (anchor?["seq"] as Int64? ?? 0) + 1
            var count = 0
            for row in try Row.fetchAll(db, sql: "SELECT * FROM audit ORDER BY seq") {
                let entry = Self.auditEntry(row)
                guard entry.seq == expectedSeq else {
                    return .broken(seq: entry.seq, reason: "expected entry \(expectedSeq) (an entry was deleted or inserted)")
                }
                guard entry.previousHash == previous else { return .broken(seq: entry.seq, reason: "its link does not match the entry before it") }
                guard Self.hash(entry, previous: previous) == entry.hash else { return .broken(seq: entry.seq, reason: "its content was changed") }
                previous = entry.hash
                expectedSeq += 1
                count += 1
            }
            return .intact(entries: count)
        }
    }

    static let genesis = String(repeating: "0", count: 64)

    static func hash(_ entry: AuditEntry, previous: String) -> String {
        let stamp = String(format: "%.6f", entry.at.timeIntervalSince1970)
        let material = [previous, String(entry.seq), stamp, entry.activation ?? "-", entry.event, entry.detail].joined(separator: "\u{1F}")
        return Hex.encode(SM3.hash(Array(material.utf8)))
    }

    private func appendAudit(_ db: Database, at: Date, activation: String?, event: String, detail: String) throws {
        let last = try Row.fetchOne(db, sql: "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
            ?? Row.fetchOne(db, sql: "SELECT seq, hash FROM chainAnchor WHERE id = 1")
        let seq: Int64 = (last?["seq"] as Int64? ?? 0) + 1
        let previous: String = last?["hash"] ?? Self.genesis
        // Timestamps are stored and hashed at microsecond precision so the stored value hashes the same.
        let at = Date(timeIntervalSince1970: (at.timeIntervalSince1970 * 1_000_000).rounded() / 1_000_000)
        var entry = AuditEntry(seq: seq, at: at, activation: activation, event: event, detail: detail, previousHash: previous, hash: "")
        entry.hash = Self.hash(entry, previous: previous)
        try db.execute(
            sql: "INSERT INTO audit (seq, at, activation, event, detail, previousHash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
            arguments: [seq, at.timeIntervalSince1970, activation, event, detail, previous, entry.hash])
    }

    static func auditEntry(_ row: Row) -> AuditEntry {
        AuditEntry(
            seq: row["seq"], at: Date(timeIntervalSince1970: row["at"]), activation: row["activation"], event: row["event"], detail: row["detail"],
            previousHash: row["previousHash"], hash: row["hash"])
    }

    // MARK: Retention

    /// Deletes final activations last changed more than `days` ago, and audit entries older than that;
    /// the last deleted entry's hash becomes the chain's anchor, so the rest still verifies. Unsettled
    /// activations are never purged. Returns how many activations went.
    /// A date as the `DATETIME` columns hold it: GRDB's text format (`yyyy-MM-dd HH:mm:ss.SSS`, UTC),
    /// written without the `DateFormatter` (and ICU) GRDB would use for a `Date` argument.
    static func stored(_ date: Date) -> String { Timestamp.sqlite(secondsSince1970: date.timeIntervalSince1970) }

    @discardableResult
    public func purge(olderThanDays days: Int) async throws(JournalError) -> Int {
        let cutoff = self.clock().addingTimeInterval(-Double(days) * 86_400)
        let now = self.clock()
        return try await self.write { db throws -> Int in
            try db.execute(
                sql: "DELETE FROM activation WHERE updatedAt < ? AND state IN ('approved', 'declined', 'notApplied')", arguments: [Self.stored(cutoff)])
            let removed = db.changesCount
            if let last = try Row.fetchOne(db, sql: "SELECT seq, hash FROM audit WHERE at < ? ORDER BY seq DESC LIMIT 1", arguments: [cutoff.timeIntervalSince1970]) {
                let seq: Int64 = last["seq"]
                let hash: String = last["hash"]
                try db.execute(sql: "DELETE FROM audit WHERE seq <= ?", arguments: [seq])
                try db.execute(sql: "INSERT OR REPLACE INTO chainAnchor (id, seq, hash) VALUES (1, ?, ?)", arguments: [seq, hash])
            }
            try self.appendAudit(db, at: now, activation: nil, event: "purge", detail: "\(removed) activations older than \(days) days")
            return removed
        }
    }

    // MARK: Plumbing

    /// Runs `body` in a transaction on GRDB's writer queue: the caller's thread (the cooperative pool) only
    /// waits, it never blocks on SQLite or fsync. Not cancellable: a write that was asked for is carried out,
    /// so a screen that goes away cannot lose an activation's intent or its outcome.
    private func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws(JournalError) -> T {
        if let reason = self.failure.withLock({ $0 }) { throw .stopped(reason) }
        let result: Result<T, any Error> = await withCheckedContinuation { continuation in
            self.database.asyncWrite(body) { _, result in continuation.resume(returning: result) }
        }
        switch result {
        case .success(let value):
            return value
        case .failure(let error as JournalError):
            throw error
        case .failure(let error):
            throw self.stopped(by: error)
        }
    }

    /// A failed write stops the journal (the first failure's reason is kept) and gives the error to report.
    /// Not retried: after a failed write or fsync the file's state is not known to be what we think.
    private func stopped(by error: any Error) -> JournalError {
        let reason = "\(error)"
        self.failure.withLock { $0 = $0 ?? reason }
        return .stopped(reason)
    }

    /// Runs `body` on one of GRDB's reader connections (its own queue), off the caller's thread.
    private func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws(JournalError) -> T {
        let result: Result<T, any Error> = await withCheckedContinuation { continuation in
            self.database.asyncRead { access in continuation.resume(returning: Result { try body(try access.get()) }) }
        }
        switch result {
        case .success(let value): return value
        case .failure(let error as JournalError): throw error
        case .failure(let error): throw .unusable("read failed: \(error)")
        }
    }

    /// True once a write failed; the daemon must stop.
    public var stoppedReason: String? { self.failure.withLock { $0 } }

    private static func fetchRecords(_ db: Database, sql: String, arguments: StatementArguments) throws -> [ActivationRecord] {
        try Row.fetchAll(db, sql: sql, arguments: arguments).map { row in
            ActivationRecord(
                key: row["key"], cardHash: row["cardHash"], maskedPAN: row["maskedPAN"], maskedID: row["maskedID"], idHash: row["idHash"],
                gateway: row["gateway"], state: ActivationState(rawValue: row["state"]) ?? .manual, bankReference: row["bankReference"],
                bankCode: row["bankCode"], detail: row["detail"], createdAt: row["createdAt"], updatedAt: row["updatedAt"],
                resolveAttempts: row["resolveAttempts"])
        }
    }
}
