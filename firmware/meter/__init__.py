# The meter application: metrology, energy registers and (in later issues) the LMN,
# the wired M-Bus master and the MEP port, wired together in app.py.
