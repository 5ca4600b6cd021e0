# SML, the Smart Message Language (IEC 62056-5-3-8, BSI TR-03109-1): codec, transport,
# messages (docs/sml.md).
