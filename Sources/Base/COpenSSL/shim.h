// The system OpenSSL (libcrypto 3.x), for SM2/SM3/SM4 and (3)DES: the algorithms swift-crypto does not
// offer. Only Sources/KioskCrypto imports this module.
#ifndef CARDKIOSK_COPENSSL_SHIM_H
#define CARDKIOSK_COPENSSL_SHIM_H
#include <openssl/evp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/bio.h>
#include <openssl/rand.h>
#endif
