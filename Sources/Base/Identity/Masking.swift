/// How personal numbers and names are shown in logs, on screens and in `--json` output.
///
/// Rules (see `reliability.md` §2.4–2.6): a PAN keeps at most its BIN (first 6) and last 4 digits; an
/// identity number keeps its first 3 and last 4 characters; a name keeps its first character.
public enum Masking {
    /// `622823*********5274`. Numbers of 10 digits or fewer keep only their last 4.
    public static func pan(_ pan: String) -> String {
        let chars = Array(pan)
        guard chars.count > 10 else { return String(repeating: "*", count: max(0, chars.count - 4)) + String(chars.suffix(4)) }
        return String(chars.prefix(6)) + String(repeating: "*", count: chars.count - 10) + String(chars.suffix(4))
    }

    /// `110***********002X`. Shorter numbers keep only their last 4 at most.
    public static func citizenID(_ id: String) -> String {
        let chars = Array(id)
        guard chars.count > 8 else { return String(repeating: "*", count: chars.count) }
        return String(chars.prefix(3)) + String(repeating: "*", count: chars.count - 7) + String(chars.suffix(4))
    }

    /// `张*` / `欧**`: the first character, then one `*` per further character.
    public static func name(_ name: String) -> String {
        guard let first = name.first else { return "" }
        return String(first) + String(repeating: "*", count: name.count - 1)
    }

    /// Card numbers and other identifiers: the last 4 characters only.
    public static func tail(_ text: String, keep: Int = 4) -> String {
        let chars = Array(text)
        return String(repeating: "*", count: max(0, chars.count - keep)) + String(chars.suffix(keep))
    }
}
