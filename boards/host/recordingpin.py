# Host board LED: an output pin that remembers its state and counts pulses (rising edges).


class RecordingPin:
    def __init__(self, name="led"):
        self.name = name
        self.state = 0
        self.pulses = 0  # rising edges since start: one per metrology pulse
        self.changes = 0

    def value(self, v=None):
        if v is None:
            return self.state
        v = 1 if v else 0
        if v != self.state:
            self.changes += 1
            if v:
                self.pulses += 1
            self.state = v
        return None

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    def __call__(self, v=None):
        return self.value(v)
