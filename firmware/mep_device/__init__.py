# The MEP device application: master of the MEP link to the meter and its example apps.
