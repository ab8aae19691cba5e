import Bytes
/// A command APDU (ISO/IEC 7816-3 §12.1, 7816-4 §5.1): header CLA INS P1 P2, optional data, optional Le.
///
/// All four cases are represented, in short and extended form:
/// case 1 (no data, no Le), case 2 (Le only), case 3 (data only), case 4 (data and Le).
/// ``expectedLength`` is Ne in bytes: 1...256 in short form (256 is encoded `00`),
/// 1...65536 in extended form (65536 is encoded `0000`).
public struct CommandAPDU: Hashable, Sendable, CustomStringConvertible {
    /// Largest Nc in a short APDU.
    public static let maximumShortDataLength = 255
    /// Largest Ne in a short APDU.
    public static let maximumShortExpectedLength = 256
    /// Largest Nc in an extended APDU.
    public static let maximumExtendedDataLength = 65_535
    /// Largest Ne in an extended APDU.
    public static let maximumExtendedExpectedLength = 65_536

    public var cla: UInt8
    public var ins: UInt8
    public var p1: UInt8
    public var p2: UInt8
    /// The command data field (Nc bytes, possibly empty).
    public var data: [UInt8]
    /// Ne, the number of response data bytes expected; `nil` when the command has no Le field.
    public var expectedLength: Int?
    /// Forces the extended length form even when the short form would do.
    public var forcesExtendedLength: Bool

    /// Creates a command APDU.
    /// - Throws: ``APDUError/invalidParameter`` when Nc or Ne is out of range.
    public init(
        cla: UInt8, ins: UInt8, p1: UInt8, p2: UInt8, data: [UInt8] = [], expectedLength: Int? = nil,
        forcesExtendedLength: Bool = false
    ) throws(APDUError) {
        guard data.count <= Self.maximumExtendedDataLength else {
            throw APDUError(.invalidParameter, reason: "Nc \(data.count) exceeds 65535")
        }
        if let ne = expectedLength, !(1...Self.maximumExtendedExpectedLength).contains(ne) {
            throw APDUError(.invalidParameter, reason: "Ne \(ne) outside 1...65536")
        }
        self.cla = cla
        self.ins = ins
        self.p1 = p1
        self.p2 = p2
        self.data = data
        self.expectedLength = expectedLength
        self.forcesExtendedLength = forcesExtendedLength
    }

    /// The ISO case: 1, 2, 3 or 4.
    public var isoCase: Int {
        switch (self.data.isEmpty, self.expectedLength == nil) {
        case (true, true): return 1
        case (true, false): return 2
        case (false, true): return 3
        case (false, false): return 4
        }
    }

    /// True when the encoding uses extended length fields.
    public var isExtended: Bool {
        self.forcesExtendedLength || self.data.count > Self.maximumShortDataLength
            || (self.expectedLength ?? 0) > Self.maximumShortExpectedLength
    }

    /// The same command with a different Ne (used by the `6Cxx` rule).
    public func with(expectedLength: Int) -> CommandAPDU {
        var copy = self
        copy.expectedLength = min(max(expectedLength, 1), Self.maximumExtendedExpectedLength)
        return copy
    }

    /// The encoded bytes.
    public var bytes: [UInt8] {
        var out = [UInt8]()
        self.serialize(into: &out)
        return out
    }

    /// Appends the encoding to `out`.
    public func serialize(into out: inout [UInt8]) {
        out.reserveCapacity(out.count + 4 + self.data.count + 5)
        out.append(contentsOf: [self.cla, self.ins, self.p1, self.p2])
        if self.isExtended {
            if !self.data.isEmpty {
                out.append(0)
                out.append(UInt8(self.data.count >> 8))
                out.append(UInt8(self.data.count & 0xFF))
                out.append(contentsOf: self.data)
            }
            if let ne = self.expectedLength {
                if self.data.isEmpty { out.append(0) }
                let encoded = ne == 65_536 ? 0 : ne
                out.append(UInt8(encoded >> 8))
                out.append(UInt8(encoded & 0xFF))
            }
        } else {
            if !self.data.isEmpty {
                out.append(UInt8(self.data.count))
                out.append(contentsOf: self.data)
            }
            if let ne = self.expectedLength {
                out.append(ne == 256 ? 0 : UInt8(ne))
            }
        }
    }

    /// Parses an encoded command APDU of any case, short or extended.
    /// - Throws: ``APDUError`` with the offset of the first inconsistent byte.
    public init<C: Collection>(bytes: C) throws(APDUError) where C.Element == UInt8 {
        let b = Array(bytes)
        guard b.count >= 4 else { throw APDUError(.truncated, offset: b.count, reason: "an APDU header has 4 bytes") }
        let (cla, ins, p1, p2) = (b[0], b[1], b[2], b[3])
        var data: [UInt8] = []
        var ne: Int? = nil
        var extended = false
        let body = b.count - 4
        if body == 0 {
            // case 1
        } else if body == 1 {
            ne = b[4] == 0 ? 256 : Int(b[4])  // case 2S
        } else if b[4] != 0 {
            // case 3S or 4S
            let nc = Int(b[4])
            if body == 1 + nc {
                data = Array(b[5..<(5 + nc)])
            } else if body == 2 + nc {
                data = Array(b[5..<(5 + nc)])
                ne = b[5 + nc] == 0 ? 256 : Int(b[5 + nc])
            } else if body < 1 + nc {
                throw APDUError(.truncated, offset: b.count, reason: "Lc = \(nc) but only \(body - 1) data bytes")
            } else {
                throw APDUError(.trailingBytes, offset: 6 + nc, reason: "bytes after Le")
            }
        } else {
            // b[4] == 0 and more bytes follow: extended form
            extended = true
            guard body >= 3 else {
                throw APDUError(.invalidLength, offset: 4, reason: "extended length field needs 3 bytes")
            }
            let value = Int(b[5]) << 8 | Int(b[6])
            if body == 3 {
                ne = value == 0 ? 65_536 : value  // case 2E
            } else {
                guard value != 0 else { throw APDUError(.invalidLength, offset: 5, reason: "extended Lc of 0") }
                let nc = value
                if body == 3 + nc {
                    data = Array(b[7..<(7 + nc)])  // case 3E
                } else if body == 5 + nc {
                    data = Array(b[7..<(7 + nc)])  // case 4E
                    let le = Int(b[7 + nc]) << 8 | Int(b[8 + nc])
                    ne = le == 0 ? 65_536 : le
                } else if body < 3 + nc {
                    throw APDUError(.truncated, offset: b.count, reason: "extended Lc = \(nc) but only \(body - 3) bytes")
                } else {
                    throw APDUError(.invalidLength, offset: 7 + nc, reason: "extended Le must be 2 bytes")
                }
            }
        }
        try self.init(cla: cla, ins: ins, p1: p1, p2: p2, data: data, expectedLength: ne, forcesExtendedLength: extended)
    }

    /// `00A4040007 A0000003330101` style: header, then Lc/data, then Le.
    public var description: String { Hex.encode(self.bytes) }
}

extension CommandAPDU {
    /// `SELECT` by DF name / AID (`00 A4 04 00 Lc name 00`), asking for the FCI.
    public static func select(name: [UInt8]) throws(APDUError) -> CommandAPDU {
        try CommandAPDU(cla: 0x00, ins: 0xA4, p1: 0x04, p2: 0x00, data: name, expectedLength: 256)
    }

    /// `SELECT` by file identifier (`00 A4 02 00 02 fid`), no FCI asked for.
    public static func select(fileID: UInt16) throws(APDUError) -> CommandAPDU {
        try CommandAPDU(cla: 0x00, ins: 0xA4, p1: 0x02, p2: 0x00, data: [UInt8(fileID >> 8), UInt8(fileID & 0xFF)])
    }

    /// `READ RECORD` (`00 B2 record p2 Le`). P2 = `04` reads by number in the current EF;
    /// `(sfi << 3) | 4` reads in the EF with that short file identifier.
    public static func readRecord(_ record: UInt8, p2: UInt8 = 0x04, expectedLength: Int = 256) throws(APDUError)
        -> CommandAPDU
    {
        try CommandAPDU(cla: 0x00, ins: 0xB2, p1: record, p2: p2, expectedLength: expectedLength)
    }

    /// `GET RESPONSE` (`CLA C0 00 00 Le`) on the logical channel of `cla`.
    public static func getResponse(cla: UInt8 = 0x00, expectedLength: Int) throws(APDUError) -> CommandAPDU {
        try CommandAPDU(cla: cla & 0x03, ins: 0xC0, p1: 0, p2: 0, expectedLength: expectedLength)
    }
}
