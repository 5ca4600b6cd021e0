# Downlink dispatch on the MEP device: data from the meter (urgent entries, the
# non-urgent area, tariff changes) goes to the end application it names; an application
# that is asleep (a battery end device) gets it buffered, up to `depth` items, and
# collects it when it wakes.


class Dispatcher:
    def __init__(self, depth=8):
        self.depth = depth
        self.apps = {}
        self.buffers = {}
        self.delivered = 0
        self.buffered = 0
        self.dropped = 0
        self.unroutable = 0

    def register(self, app_id, app):
        """app: .awake (bool) and .receive(kind, payload)."""
        self.apps[app_id] = app
        self.buffers[app_id] = []

    def deliver(self, app_id, kind, payload):
        """True if the application took the item or it is buffered for it; False if no
        application has that id (the urgent acknowledgement then reports failure)."""
        app = self.apps.get(app_id)
        if app is None:
            self.unroutable += 1
            return False
        if getattr(app, "awake", True):
            app.receive(kind, payload)
            self.delivered += 1
            return True
        buf = self.buffers[app_id]
        if len(buf) >= self.depth:
            buf.pop(0)  # the oldest goes: the newest state matters most
            self.dropped += 1
        buf.append((kind, payload))
        self.buffered += 1
        return True

    def broadcast(self, kind, payload):
        for app_id in self.apps:
            self.deliver(app_id, kind, payload)

    def wake(self, app_id):
        """An application woke: hand it what waited for it, oldest first."""
        app = self.apps[app_id]
        buf = self.buffers[app_id]
        self.buffers[app_id] = []
        for kind, payload in buf:
            app.receive(kind, payload)
            self.delivered += 1
        return len(buf)
