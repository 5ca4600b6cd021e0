# Cryptographic building blocks over the device's own AES (`cryptolib`):
#   aes      AES-128 ECB/CBC helpers and the CryptoError type
#   cmac     AES-CMAC (RFC 4493) with truncation, and a constant-time compare
#   oms      OMS security mode 7 key derivation (EN 13757-7 / OMS Vol. 2)
