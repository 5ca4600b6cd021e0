# The host simulation's parts, one concern per module (tools/sim.py puts them together):
#   ptys        pty pairs: the MEP cable relay and the M-Bus port
#   radio       the radio air hub and the head-end on it
#   processes   the firmware processes (restarted as a board reboots) and the M-Bus slaves
#   view        output files, the live view, the summary's MEP entry
#   configs     device configurations, the calendar, provisioning, admin and update ports
