# Signed, verified, reversible application updates (docs/ota.md):
#   bundle    the bundle format: header, signed manifest, file contents; parsing and checks
#   slots     the A/B slot layout and the state record (active slot, trial, security floor)
#   boot      slot selection at boot, before any application module is imported
#   receiver  chunked, resumable download into the inactive slot, verification, the switch
#   server    the update protocol over a byte stream (TCP on the host board)
#   health    trial confirmation (the supervisor's tasks healthy for confirm_s) or revert
#   image     full-image updates into a firmware partition (esp32.Partition on the ESP32)
