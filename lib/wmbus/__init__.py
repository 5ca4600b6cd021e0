# Wireless M-Bus (EN 13757-4 link layer, EN 13757-7 / OMS Vol. 2 security modes 5 and 7):
#   errors     WMBusError and its reasons
#   crc        CRC-16/EN-13757
#   frame      frame formats A and B, 3-out-of-6 coding, T1/C1 sync words, air time
#   records    EN 13757-3 data records (the meter's writer, a generic reader)
#   telegram   the meter's telegram builder and the head-end's parser/verifier
