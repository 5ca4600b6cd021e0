# The "ota" section of an application's config.json (both applications use it).

from config import Section, Int
from store.atomic import AtomicRecord
from store.fs import StoreError

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


def service_needed(root, ota_cfg):
    """Whether an application needs its OTA task: an update port to serve, a trial to judge,
    a boot note to log, or a damaged state record to report. Otherwise the task (and its heap)
    is left out. (Reads ota/slots.py's state record without importing it: boards are short of heap.)"""
    if ota_cfg["port"]:
        return True
    try:
        state = AtomicRecord(root + "/ota/state").read_json()
    except (OSError, ValueError, StoreError):  # damaged: the OTA task reads it again and reports it
        return True
    if state is None:
        return False
    return type(state) is not dict or bool(state.get("trial") or state.get("note"))
