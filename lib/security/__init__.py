# Device security: keys at rest (keystore).
