import APDU
public import BankGateway
import BankSimulator
import Bytes
import KioskCrypto

/// A request with a real ISO-0 PIN block under the simulator's test PIN key.
public func request(pan: String = "6228230029000005274", id: String = "440303198101011117", pin: String = "802461", key: IdempotencyKey = .random())
    throws -> ActivationRequest
{
    let clear = try ISO0PINBlock.clearBlock(pin: pin, pan: pan)
    let cipher = try BlockCipher(.tripleDES, key: Hex.decode(SimulatedBank.Fixture().pinKey))
    let block = EncryptedPINBlock(format: .iso0TripleDES, keyName: "PIK-TEST", bytes: try cipher.encrypt(clear))
    return ActivationRequest(
        key: key, card: CardReference(pan: pan, panSequenceNumber: 1), cardholder: Cardholder(idNumber: id, name: "张三"),
        pinBlock: block, terminalID: "KIOSK001")
}

