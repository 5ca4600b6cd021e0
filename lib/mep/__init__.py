# The MEP (meter expansion port): frame codec, link security, tables, and the engines of
# both roles (server on the meter, client on the MEP device). Protocol: docs/mep.md.
