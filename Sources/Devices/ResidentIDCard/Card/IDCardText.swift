import Identity

/// Decodes the 256-byte UTF-16LE text block in its four layouts (`cards.md` §3.3–3.4). Pure.
public enum IDCardText {
    /// The text block's size.
    public static let size = 256

    /// A field: byte offset and length in the block.
    struct Field {
        let name: String
        let offset: Int
        let length: Int
    }

    /// Decodes `text` (at least 256 bytes) with `photo` and the fingerprint flag into a document.
    /// - Throws: ``IDCardDataError`` naming the first field that is malformed.
    public static func decode(_ text: [UInt8], photo: [UInt8] = [], hasFingerprint: Bool = false) throws(IDCardDataError) -> IDCardData {
        guard text.count >= Self.size else {
            throw IDCardDataError(field: "text", detail: "\(text.count) bytes, expected \(Self.size)")
        }
        let flag = try Self.string(text, Field(name: "type flag", offset: 248, length: 2))
        let type: IDDocumentType
        switch flag {
        case "", " ": type = .residentIDCard
        case "J": type = .hmtResidencePermit
        case "I": type = .foreignPermanentResident2017
        case "Y": type = .foreignPermanentResident2023
        default: throw IDCardDataError(field: "type flag", detail: "unknown document type flag \(flag.unicodeScalars.map { String($0.value, radix: 16) })")
        }
        func field(_ name: String, _ offset: Int, _ length: Int) throws(IDCardDataError) -> String {
            try Self.string(text, Field(name: name, offset: offset, length: length))
        }
        var data = IDCardData(
            type: type, name: "", idNumber: "", photo: photo, hasFingerprint: hasFingerprint)
        switch type {
        case .residentIDCard, .hmtResidencePermit:
            data.name = try field("name", 0, 30)
            data.gender = try Self.gender(try field("gender", 30, 2))
            let nation = try field("nation", 32, 4)
            if !nation.isEmpty {
                guard let value = Nation(digits: nation) else { throw IDCardDataError(field: "nation", detail: "not two digits") }
                data.nation = value
            }
            data.birthDate = try Self.date(try field("birth date", 36, 16), field: "birth date")
            data.address = try field("address", 52, 70)
            data.idNumber = try field("ID number", 122, 36)
            data.issuer = try field("issuer", 158, 30)
            data.validFrom = try Self.date(try field("valid from", 188, 16), field: "valid from")
            data.validTo = try Self.validity(try field("valid to", 204, 16))
            if type == .hmtResidencePermit {
                data.passNumber = try field("pass number", 220, 18)
                data.issueCount = Int(try field("issue count", 238, 4))
            }
            data.citizenID = try Self.citizenID(data.idNumber, field: "ID number")
        case .foreignPermanentResident2017:
            data.englishName = try field("English name", 0, 120)
            data.gender = try Self.gender(try field("gender", 120, 2))
            data.idNumber = try field("permit number", 122, 30)
            data.nationality = try field("nationality", 152, 6)
            let chinese = try field("Chinese name", 158, 30)
            data.name = chinese.isEmpty ? (data.englishName ?? "") : chinese
            data.validFrom = try Self.date(try field("valid from", 188, 16), field: "valid from")
            data.validTo = try Self.validity(try field("valid to", 204, 16))
            data.birthDate = try Self.date(try field("birth date", 220, 16), field: "birth date")
            data.cardVersion = try field("card version", 236, 4)
            data.authorityCode = try field("authority code", 240, 8)
            guard data.idNumber.count == 15, data.idNumber.prefix(3).allSatisfy(\.isLetter),
                data.idNumber.dropFirst(3).allSatisfy(\.isNumber)
            else { throw IDCardDataError(field: "permit number", detail: "not 3 letters and 12 digits") }
        case .foreignPermanentResident2023:
            let chinese = try field("Chinese name", 0, 30)
            data.gender = try Self.gender(try field("gender", 30, 2))
            data.renewalCount = Int(try field("renewal count", 32, 4))
            data.birthDate = try Self.date(try field("birth date", 36, 16), field: "birth date")
            // One name in two fields: join the fields first, then strip the padding once, so a space that
            // ends the first field (the break between two words) is kept.
            let english = try Self.string(
                text, [Field(name: "English name", offset: 52, length: 70), Field(name: "English name (continued)", offset: 220, length: 22)])
            data.englishName = english.isEmpty ? nil : english
            data.name = chinese.isEmpty ? english : chinese
            data.idNumber = try field("ID number", 122, 36)
            data.validFrom = try Self.date(try field("valid from", 188, 16), field: "valid from")
            data.validTo = try Self.validity(try field("valid to", 204, 16))
            data.nationality = try field("nationality", 242, 6)
            guard data.idNumber.count == 18, data.idNumber.hasPrefix("9"),
                CitizenID.checkCharacter(for: data.idNumber.prefix(17).compactMap(\.wholeNumberValue)) == data.idNumber.last
            else { throw IDCardDataError(field: "ID number", detail: "not an 18-character number starting with 9 with a valid check character") }
        }
        guard !data.name.isEmpty else { throw IDCardDataError(field: "name", detail: "empty") }
        return data
    }

    /// A field as text: UTF-16LE, trailing spaces and NULs removed.
    static func string(_ bytes: [UInt8], _ field: Field) throws(IDCardDataError) -> String {
        try Self.string(bytes, [field])
    }

    /// Fields that hold one value between them, joined as they stand and then stripped of trailing
    /// padding once (the padding of a full first field is part of the value).
    static func string(_ bytes: [UInt8], _ fields: [Field]) throws(IDCardDataError) -> String {
        var units: [UInt16] = []
        units.reserveCapacity(fields.reduce(0) { $0 + $1.length / 2 })
        for field in fields {
            for index in stride(from: field.offset, to: field.offset + field.length, by: 2) {
                units.append(UInt16(bytes[index]) | UInt16(bytes[index + 1]) << 8)
            }
        }
        let field = fields[0]
        while let last = units.last, last == 0x0020 || last == 0x0000 || last == 0x3000 { units.removeLast() }
        var scalars = String.UnicodeScalarView()
        var iterator = units.makeIterator()
        var decoder = UTF16()
        decodeLoop: while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar): scalars.append(scalar)
            case .emptyInput: break decodeLoop
            case .error: throw IDCardDataError(field: field.name, detail: "invalid UTF-16")
            }
        }
        return String(scalars)
    }

    static func gender(_ text: String) throws(IDCardDataError) -> Gender? {
        guard let first = text.first else { return nil }
        guard text.count == 1, let gender = Gender(code: first) else {
            throw IDCardDataError(field: "gender", detail: "unknown gender code")
        }
        return gender
    }

    static func date(_ text: String, field: String) throws(IDCardDataError) -> CalendarDate? {
        guard !text.isEmpty else { return nil }
        guard let date = CalendarDate(digits: text) else { throw IDCardDataError(field: field, detail: "not a YYYYMMDD date") }
        return date
    }

    static func validity(_ text: String) throws(IDCardDataError) -> Validity? {
        if text.isEmpty { return nil }
        if text == "长期" { return .longTerm }
        guard let date = CalendarDate(digits: text) else { throw IDCardDataError(field: "valid to", detail: "neither YYYYMMDD nor 长期") }
        return .date(date)
    }

    static func citizenID(_ text: String, field: String) throws(IDCardDataError) -> CitizenID {
        do {
            return try CitizenID(text)
        } catch {
            throw IDCardDataError(field: field, detail: error.description)
        }
    }

    // MARK: Encoding (the simulator and tests build text blocks with this)

    /// Lays `data` out as a 256-byte text block (fields space-padded, UTF-16LE).
    public static func encode(_ data: IDCardData) -> [UInt8] {
        var block = [UInt8](repeating: 0, count: Self.size)
        func put(_ text: String, _ offset: Int, _ length: Int) {
            var units = Array(text.utf16.prefix(length / 2))
            units += [UInt16](repeating: 0x0020, count: length / 2 - units.count)
            for (index, unit) in units.enumerated() {
                block[offset + 2 * index] = UInt8(unit & 0xFF)
                block[offset + 2 * index + 1] = UInt8(unit >> 8)
            }
        }
        func code(_ nation: Nation?) -> String {
            guard let code = nation?.code else { return "" }
            return code < 10 ? "0\(code)" : String(code)
        }
        func genderCode(_ gender: Gender?) -> String {
            switch gender {
            case .male: "1"
            case .female: "2"
            case .unknown: "0"
            case .unstated: "9"
            case nil: ""
            }
        }
        put(" ", 220, 36)
        switch data.type {
        case .residentIDCard, .hmtResidencePermit:
            put(data.name, 0, 30)
            put(genderCode(data.gender), 30, 2)
            put(code(data.nation), 32, 4)
            put(data.birthDate?.digits ?? "", 36, 16)
            put(data.address ?? "", 52, 70)
            put(data.idNumber, 122, 36)
            put(data.issuer ?? "", 158, 30)
            put(data.validFrom?.digits ?? "", 188, 16)
            put(data.validTo.map { if case .date(let d) = $0 { d.digits } else { "长期" } } ?? "", 204, 16)
            if data.type == .hmtResidencePermit {
                put(data.passNumber ?? "", 220, 18)
                put(data.issueCount.map { $0 < 10 ? "0\($0)" : String($0) } ?? "", 238, 4)
            }
        case .foreignPermanentResident2017:
            put(data.englishName ?? "", 0, 120)
            put(genderCode(data.gender), 120, 2)
            put(data.idNumber, 122, 30)
            put(data.nationality ?? "", 152, 6)
            put(data.name == data.englishName ? "" : data.name, 158, 30)
            put(data.validFrom?.digits ?? "", 188, 16)
            put(data.validTo.map { if case .date(let d) = $0 { d.digits } else { "长期" } } ?? "", 204, 16)
            put(data.birthDate?.digits ?? "", 220, 16)
            put(data.cardVersion ?? "", 236, 4)
            put(data.authorityCode ?? "", 240, 8)
        case .foreignPermanentResident2023:
            let english = data.englishName ?? ""
            put(data.name == data.englishName ? "" : data.name, 0, 30)
            put(genderCode(data.gender), 30, 2)
            put(data.renewalCount.map { $0 < 10 ? "0\($0)" : String($0) } ?? "", 32, 4)
            put(data.birthDate?.digits ?? "", 36, 16)
            put(String(english.prefix(35)), 52, 70)
            put(data.idNumber, 122, 36)
            put("", 158, 30)
            put(data.validFrom?.digits ?? "", 188, 16)
            put(data.validTo.map { if case .date(let d) = $0 { d.digits } else { "长期" } } ?? "", 204, 16)
            put(String(english.dropFirst(35)), 220, 22)
            put(data.nationality ?? "", 242, 6)
        }
        put(String(data.type.flag), 248, 2)
        return block
    }
}
