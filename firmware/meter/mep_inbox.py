# The utility's downlink messages for the meter's MEP port: one JSON object per file in a
# folder (the MEP section's inbox_dir; on the host the simulation drops them there), applied
# to the tariff tracker or the downlink stores, then deleted. A bad file is counted, logged
# and deleted too, so it is never read again.
#
#   {"tariff": i} | {"urgent": item} | {"nonurgent": [items]}
#   item: {"app": 1..255, "text": "..."} or {"app": 1..255, "json": {...}}

import json
import os
from mep.errors import MEPError


class Inbox:
    def __init__(self, folder, tariffs, downlink, log):
        self.folder = folder
        self.tariffs = tariffs  # mep_tariff.TariffTracker
        self.downlink = downlink  # mep_downlink.Downlink
        self.log = log
        self.errors = 0  # files rejected

    def apply(self, message):
        """One utility message (a dict, above). MEPError if malformed."""
        if type(message) is not dict or len(message) != 1:
            raise MEPError("downlink: one of tariff, urgent, nonurgent")
        if "tariff" in message:
            index = message["tariff"]
            if type(index) is not int:
                raise MEPError("downlink: tariff must be an integer")
            self.tariffs.set(index, "utility")
        elif "urgent" in message:
            app, data = _item(message["urgent"])
            self.downlink.put_urgent(app, data)
        elif "nonurgent" in message:
            items = message["nonurgent"]
            if type(items) is not list:
                raise MEPError("downlink: nonurgent must be a list")
            self.downlink.put_nonurgent([_item(i) for i in items])
        else:
            raise MEPError("downlink: one of tariff, urgent, nonurgent")

    def poll(self):
        """Apply and delete every *.json file in the folder, oldest name first."""
        folder = self.folder
        try:
            names = sorted(n for n in os.listdir(folder) if n.endswith(".json"))
        except OSError:  # no folder (yet): nothing sent
            return
        for name in names:
            path = folder + "/" + name
            try:
                with open(path) as f:
                    message = json.loads(f.read())
                self.apply(message)
            except (ValueError, OSError) as exc:  # MEPError is a ValueError; so is bad JSON
                self.errors += 1
                self.log.warn("inbox %s rejected: %s", name, exc)
            try:
                os.remove(path)
            except OSError as exc:  # it would be applied again at the next poll: say so
                self.errors += 1
                self.log.error("inbox %s not deleted: %s", name, exc)


def _item(item):
    if type(item) is not dict or type(item.get("app")) is not int or not 0 < item["app"] < 256:
        raise MEPError("downlink item needs an application number 1..255")
    if "text" in item:
        return item["app"], str(item["text"]).encode()
    if "json" in item:
        return item["app"], json.dumps(item["json"]).encode()
    raise MEPError("downlink item needs text or json")
