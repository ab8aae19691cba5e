import Bytes
import Foundation
import Glibc

/// The key of the journal's card and ID fingerprints, kept in a file of its own beside (never inside) the
/// database: a copy of the database alone — a support bundle, a stolen disk image of the state directory
/// without the key, a fleet upload — cannot be used to test guesses of an ID number or PAN against the
/// fingerprints and the masked digits next to them.
///
/// The file holds the key as 32 hex digits and a newline, mode 0600. It may also be a read-only systemd
/// credential (`LoadCredential=`), which is used as it is.
enum HashKeyFile {
    static let keyLength = 16

    /// Reads the key at `path`. Nil when there is no file; throws when it is unreadable, not a key, or
    /// readable by its group or others.
    static func read(_ path: String) throws(JournalError) -> [UInt8]? {
        var info = stat()
        guard stat(path, &info) == 0 else {
            if errno == ENOENT { return nil }
            throw .unusable("hash key \(path): \(String(cString: strerror(errno)))")
        }
        guard info.st_mode & 0o077 == 0 else {
            throw .unusable("hash key \(path) is readable by its group or others (mode \(String(info.st_mode & 0o777, radix: 8))): chmod 600 \(path)")
        }
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw .unusable("hash key \(path) cannot be read")
        }
        guard let key = try? Hex.decode(text.trimmingCharacters(in: .whitespacesAndNewlines)), key.count == Self.keyLength else {
            throw .unusable("hash key \(path) does not hold \(Self.keyLength * 2) hex digits")
        }
        return key
    }

    /// Writes `key` to a new file at `path`, 0600 from its creation, synced with its directory. Crash-safe:
    /// the key is written and synced under a temporary name, then linked to `path`, so `path` never exists
    /// half-written. Fails when `path` exists: a key is never overwritten.
    static func create(_ path: String, key: [UInt8]) throws(JournalError) {
        let temporary = path + ".new-\(getpid())"
        unlink(temporary)
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw .unusable("hash key \(path) cannot be created: \(String(cString: strerror(errno)))") }
        defer { unlink(temporary) }
        let bytes = Array((Hex.encode(key) + "\n").utf8)
        let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        let synced = fsync(descriptor) == 0
        close(descriptor)
        guard written == bytes.count, synced else { throw .unusable("hash key \(path) could not be written") }
        guard link(temporary, path) == 0 else { throw .unusable("hash key \(path) cannot be created: \(String(cString: strerror(errno)))") }
        let parent = (path as NSString).deletingLastPathComponent
        let directory = open(parent.isEmpty ? "." : parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directory >= 0 {
            _ = fsync(directory)
            close(directory)
        }
    }

    /// A fresh random key.
    static func generate() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<Self.keyLength).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }
}
