# Slot selection at boot: runs before any application module is imported.
#
#   import ota.boot
#   ota.boot.select(storage_root, factory_paths)
#
# Reads the state record; during a trial counts the boot (written before the trial code
# runs, so a crash loop is counted) and reverts once max_boots is exceeded. Then puts the
# active slot alone on sys.path in place of factory_paths, and forgets every module imported
# so far (the store, this package): from here on each import comes from one version only.

import sys
from ota import slots

_REVERT_AFTER_BOOTS = "not confirmed after %d trial boots"


def choose(root):
    """(slot name, state) to run, updating the state record for a trial boot."""
    try:
        state = slots.read_state(root)
    except Exception:  # broad on purpose: nothing may stop a boot; the factory code reports the record
        return slots.FACTORY, None  # (ota.settings.service_needed starts the OTA task, which logs it)
    if state["trial"]:
        boots = state["boots"] + 1
        if boots > state["max_boots"]:
            state = slots.revert(root, state, _REVERT_AFTER_BOOTS % state["max_boots"])
        else:
            state["boots"] = boots
            slots.write_state(root, state)
    return state["active"], state


def select(root, factory_paths, keep=()):
    """Put the active slot on sys.path instead of factory_paths; returns (slot, state)."""
    before = set(keep)
    slot, state = choose(root)
    if slot in slots.SLOTS:  # "factory", or "image" (a full-image update): the deployed code
        for path in factory_paths:
            while path in sys.path:
                sys.path.remove(path)
        sys.path.insert(0, slots.slot_dir(root, slot))
        for name in list(sys.modules):
            if name not in before and name != "__main__":
                del sys.modules[name]
    return slot, state
