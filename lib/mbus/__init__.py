# Wired M-Bus (EN 13757-2 link layer, EN 13757-3 application layer).
# frame: the link-layer codec; decode: the application-layer decoder;
# errors: MBusError, FrameError, DecodeError.
