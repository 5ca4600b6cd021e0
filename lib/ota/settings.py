# The "ota" section of an application's config.json (both applications use it).

from config import Section, Int

# port: the host board's TCP update port (0: none). A trial version is confirmed after
# confirm_s healthy seconds, reverted if not within trial_s or after max_boots trial boots.
SECTION = Section(
    {
        "port": Int(0, 65535, default=0),
        "confirm_s": Int(1, 3600, default=30),
        "trial_s": Int(2, 86400, default=300),
        "max_boots": Int(1, 10, default=3),
    }
)
