# Slot layout and the one record that says which slot runs.
#
#   <root>/slots/a, <root>/slots/b   application code (a build's lib/ tree), one version each
#   <root>/ota/state                 AtomicRecord, JSON (below): the switch
#   <root>/ota/head, ota/progress    the download in progress (receiver.py)
#
# "factory" is the code deployed with the board (/lib on a device, the source tree on the
# host): it runs while no update was ever confirmed, and is the revert target of the first.
#
# State: {"active": "factory"|"a"|"b", "version": str, "security_version": int,
#         "floor": int   lowest security version still accepted (raised at confirmation),
#         "trial": bool  the active slot runs on trial: not confirmed yet,
#         "boots": int   trial boots so far; "max_boots": int  revert when exceeded,
#         "previous": {"active", "version", "security_version"} or null  the revert target,
#         "note": null or {"event", ...}  what boot.py did, for the application to log}
# Every change is one AtomicRecord write: a crash leaves the old state or the new one.

import os
from store.atomic import AtomicRecord
from store.fs import make_dirs, StoreError

FACTORY = "factory"
SLOTS = ("a", "b")
DEFAULT_MAX_BOOTS = 3


def slot_dir(root, name):
    return root + "/slots/" + name


def state_record(root):
    return AtomicRecord(root + "/ota/state")


def initial_state():
    return {"active": FACTORY, "version": "factory", "security_version": 0, "floor": 0, "trial": False,
            "boots": 0, "max_boots": DEFAULT_MAX_BOOTS, "previous": None, "note": None}


def read_state(root):
    """The state record, or the factory state if there is none.

    A record that is present but fails its CRC raises store.StoreError: guessing could
    lower the security floor.
    """
    state = state_record(root).read_json()
    return initial_state() if state is None else state


def write_state(root, state):
    make_dirs(root + "/ota")
    state_record(root).write_json(state)


def inactive_slot(state):
    """The slot a download may write: neither the running one nor a revert target."""
    if state["active"] == "a":
        return "b"
    return "a"


def remove_tree(path):
    """Delete path and everything under it (nothing if it does not exist)."""
    try:
        entries = list(os.ilistdir(path)) if hasattr(os, "ilistdir") else [
            (e.name, 0x4000 if e.is_dir(follow_symlinks=False) else 0x8000) for e in os.scandir(path)]
    except OSError:
        return
    for entry in entries:
        full = path + "/" + entry[0]
        if entry[1] == 0x4000:
            remove_tree(full)
        else:
            os.remove(full)
    os.rmdir(path)


def switch(root, state, slot, manifest, max_boots=DEFAULT_MAX_BOOTS):
    """Make slot active on trial (one atomic write); the caller then resets the board."""
    new = {"active": slot, "version": manifest["version"], "security_version": manifest["security_version"],
           "floor": state["floor"], "trial": True, "boots": 0, "max_boots": max_boots,
           "previous": {"active": state["active"], "version": state["version"],
                        "security_version": state["security_version"]},
           "note": None}
    write_state(root, new)
    return new


def confirm(root, state):
    """The trial version passed its health check: keep it, raise the floor, drop the revert target."""
    new = dict(state)
    new["trial"] = False
    new["boots"] = 0
    new["floor"] = max(state["floor"], state["security_version"])
    new["previous"] = None
    new["note"] = None
    write_state(root, new)
    return new


def revert(root, state, reason):
    """Go back to the previous version (one atomic write); the caller resets the board."""
    prev = state["previous"] or {"active": FACTORY, "version": "factory", "security_version": 0}
    new = {"active": prev["active"], "version": prev["version"], "security_version": prev["security_version"],
           "floor": state["floor"], "trial": False, "boots": 0, "max_boots": state.get("max_boots", DEFAULT_MAX_BOOTS),
           "previous": None,
           "note": {"event": "reverted", "from_version": state["version"], "to_version": prev["version"],
                    "reason": reason}}
    write_state(root, new)
    return new


# The system log (the convention shared with security/logs.py): a Ring at <root>/log/system,
# one JSON object per record {"t": epoch_s, "kind": "ota", ...}.
SYSLOG_SEGMENT_BYTES = 4096
SYSLOG_SEGMENTS = 4


def log_event(root, t, fields, system_log=None):
    """Append {"t", "kind": "ota", **fields} to the system log. A full or failing log must
    not stop an update or a revert, so its error is returned, not raised (None: written);
    the caller counts and reports it. system_log: the running app's (security.logs.DeviceLog;
    one writer per log); without it (the boot selector, before the app) the log is opened
    for this one record."""
    try:
        if system_log is None:
            from security.logs import DeviceLog

            system_log = DeviceLog(root + "/log/system", "system", None, SYSLOG_SEGMENT_BYTES, SYSLOG_SEGMENTS)
            try:
                system_log.append("ota", fields, t)
            finally:
                system_log.close()
        else:
            system_log.append("ota", fields, t)
    except (OSError, StoreError) as exc:  # security.logs.LogError (full, not JSON) is a StoreError
        return exc
    return None
