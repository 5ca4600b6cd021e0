# ESP32 full-image updates (lib/ota/image.py) over MicroPython's esp32.Partition: the next
# OTA partition after the running one, and ESP-IDF's rollback confirmation.
# Needs a firmware with an OTA partition table (MicroPython's ESP32_GENERIC-OTA variant).

import esp32
from ota.image import ImageReceiver


def next_partition():
    return esp32.Partition(esp32.Partition.RUNNING).get_next_update()


def receiver(root, clock=None):
    return ImageReceiver(root, "esp32", next_partition(), clock)


def confirm():
    """Tell the bootloader the running image is good (no rollback at the next reset).

    OSError(-261) means the bootloader was built without rollback support: nothing to cancel.
    """
    try:
        esp32.Partition.mark_app_valid_cancel_rollback()
    except OSError:
        return False
    return True
