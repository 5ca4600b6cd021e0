# Raspberry Pi Pico / Pico W (RP2040) board: pin and bus map, calibration defaults, make_hardware().
#
# make_hardware(config) reads these keys of config["board"] (all optional; SCHEMA below
# checks them at boot, before the watchdog is armed):
#
#   rate_hz          4000   sample pairs per second (the ADC converts at twice that)
#   pairs_per_block  400    pairs per block (100 ms at 4000 Hz)
#   v_per_count      None   calibration; None: the front-end defaults below
#   i_per_count      None
#   samples          app    use the metering front end: default True for the meter app only
#   radio            True   False: no CC1101 fitted
#   optical_uart     app    the optical/info port (PIO UART, GP8/GP9): default True for the meter only
#   dlms_uart        app    the serial DLMS/HDLC port (PIO UART, GP12/GP13): the same
#   led_pin          null   the metrology LED's GPIO; null: "LED" (GP25 on a Pico, the
#                           CYW43's on a Pico W)
#
# and config["watchdog_ms"] (default 8000, at most 8388: the RP2040 watchdog's limit).
# A radio that is enabled but does not answer is reported and left out (None).
#
# Every pin used is free on the Pico W too (its radio takes GP23, GP24, GP25, GP29).

import machine
from machine import Pin, SPI, UART, ADC
import rp2
import clock
from store.fs import make_dirs
from hardware import Hardware, wants_samples, wants_part, open_device_logs
from config import Int, Float, Str, Bool, Optional
from micropython import const
from adc_dma import ADCSampler
from drivers.wmbus_radio import open_cc1101
from drivers.uartstream import open_uart
from security import boardsecret

NAME = "rp2"

# Wired M-Bus master (EN 13757-2: 2400 baud 8E1) on UART0, through an M-Bus level shifter.
MBUS_UART_ID = const(0)
MBUS_TX_PIN = const(0)  # GP0
MBUS_RX_PIN = const(1)  # GP1
MBUS_BAUDRATE = const(2400)
# MEP port (9600 8N1) on UART1.
MEP_UART_ID = const(1)
MEP_TX_PIN = const(4)  # GP4
MEP_RX_PIN = const(5)  # GP5
MEP_BAUDRATE = const(9600)
UART_RXBUF_BYTES = const(512)  # a whole 261-byte M-Bus frame and then some
# The optical/info port (SML or DLMS, config optical.protocol) and the serial DLMS/HDLC port:
# PIO UARTs (pio_uart.py) on PIO0, state machines 0-1 and 2-3 (pulse_pio.py takes PIO1's 4).
OPTICAL_SM_ID = const(0)
OPTICAL_TX_PIN = const(8)  # GP8
OPTICAL_RX_PIN = const(9)  # GP9
OPTICAL_BAUDRATE = const(9600)
DLMS_SM_ID = const(2)
DLMS_TX_PIN = const(12)  # GP12
DLMS_RX_PIN = const(13)  # GP13
DLMS_BAUDRATE = const(9600)

# CC1101 radio on SPI0. CC1101: 10 MHz max, 6.5 MHz for bursts.
RADIO_SPI_ID = const(0)
RADIO_SCK_PIN = const(18)  # GP18
RADIO_MOSI_PIN = const(19)  # GP19
RADIO_MISO_PIN = const(16)  # GP16
RADIO_CS_PIN = const(17)  # GP17
RADIO_GDO0_PIN = const(20)  # GP20
RADIO_GDO2_PIN = const(21)  # GP21: TX FIFO threshold interrupt
RADIO_SPI_HZ = const(5_000_000)

# Metering inputs on the RP2040's ADC: voltage on ADC0, current on ADC1.
VOLTAGE_ADC_PIN = const(26)  # GP26 = ADC0
CURRENT_ADC_PIN = const(27)  # GP27 = ADC1

LED_PIN = "LED"

# Calibration defaults for the reference front end: 12 bits over 3.3 V, both inputs
# biased at 1.65 V (mid-scale); voltage through a 330:1 divider, current from a
# 2000:1 current transformer into a 33 Ohm burden (+-100 A peak full scale).
ADC_VOLTS_PER_COUNT = 3.3 / 4096
VOLTAGE_DIVIDER_RATIO = const(330)
CT_RATIO = const(2000)
BURDEN_OHM = const(33)
V_PER_COUNT = ADC_VOLTS_PER_COUNT * VOLTAGE_DIVIDER_RATIO
I_PER_COUNT = ADC_VOLTS_PER_COUNT * CT_RATIO / BURDEN_OHM

DEFAULT_RATE_HZ = const(4000)
DEFAULT_PAIRS_PER_BLOCK = const(400)
DEFAULT_WATCHDOG_MS = const(8000)
MAX_WATCHDOG_MS = const(8388)
STORAGE_ROOT = "/data"

# config["board"] on this board; startup.boot checks it before make_hardware runs.
# The ADC converts at 2 * rate_hz, at most 500 kS/s.
SCHEMA = {
    "rate_hz": Int(500, 50000, default=DEFAULT_RATE_HZ),
    "pairs_per_block": Int(16, 4000, default=DEFAULT_PAIRS_PER_BLOCK),
    "v_per_count": Optional(Float(0.0)),
    "i_per_count": Optional(Float(0.0)),
    "samples": Optional(Bool()),
    "radio": Bool(default=True),
    "optical_uart": Optional(Bool()),
    "dlms_uart": Optional(Bool()),
    "led_pin": Optional(Int(0, 29)),
    "console": Str(choices=("text", "json"), default="text"),
}


def make_samples(board, cal_clock):
    # machine.ADC powers the ADC up and turns the pins' digital input off; the sampler
    # then drives the ADC's registers itself.
    ADC(Pin(VOLTAGE_ADC_PIN))
    ADC(Pin(CURRENT_ADC_PIN))
    return ADCSampler(
        machine.mem32,
        rp2.DMA(),
        rp2.DMA(),
        rate_hz=board.get("rate_hz", DEFAULT_RATE_HZ),
        pairs_per_block=board.get("pairs_per_block", DEFAULT_PAIRS_PER_BLOCK),
        v_per_count=board.get("v_per_count") or V_PER_COUNT,
        i_per_count=board.get("i_per_count") or I_PER_COUNT,
        clock=cal_clock,
    )


def make_radio(board, lmn=None):
    if not board.get("radio", True):
        return None
    spi = SPI(RADIO_SPI_ID, baudrate=RADIO_SPI_HZ, polarity=0, phase=0,
              sck=Pin(RADIO_SCK_PIN), mosi=Pin(RADIO_MOSI_PIN), miso=Pin(RADIO_MISO_PIN))
    return open_cc1101(spi, Pin(RADIO_CS_PIN, Pin.OUT, value=1), Pin(RADIO_GDO0_PIN, Pin.IN),
                       Pin(RADIO_GDO2_PIN, Pin.IN), Pin.IRQ_FALLING, lmn, "SPI0")


def make_uart(uart_id, baudrate, parity, tx_pin, rx_pin):
    return open_uart(UART, Pin, uart_id, baudrate, parity, tx_pin, rx_pin, UART_RXBUF_BYTES)


def make_storage(path=STORAGE_ROOT):
    make_dirs(path)
    return path


def board_secret():
    """16 bytes sealing the key store: a random file on flash mixed with the chip id. The
    RP2040 has no secure storage: whoever holds the board can read both (docs/security.md)."""
    make_dirs(STORAGE_ROOT)
    return boardsecret.from_file(STORAGE_ROOT + "/board.secret", machine.unique_id())


def make_pulser(config, led):
    """Metrology pulses timed in hardware (PIO); width from the meter's config."""
    from pulse_pio import PIOPulser  # here, not at the top: it assembles/claims a peripheral

    return PIOPulser(led, (config.get("metrology") or {}).get("pulse_width_ms", 30))


def make_pio_uart(config, key, sm_id, tx_pin, rx_pin, baudrate):
    """A PIO UART (pio_uart.py) where the board section's `key` fits one (default: meter only)."""
    if not wants_part(config, key):
        return None
    from pio_uart import PioUart  # here, not at the top: it assembles/claims state machines

    return PioUart(sm_id, tx_pin, rx_pin, baudrate)


def make_hardware(config):
    board = config.get("board") or {}
    cal_clock = clock.Clock(speed=1)
    watchdog_ms = min(MAX_WATCHDOG_MS, config.get("watchdog_ms", DEFAULT_WATCHDOG_MS))
    root = make_storage()
    samples = make_samples(board, cal_clock) if wants_samples(config) else None
    led = Pin(LED_PIN if board.get("led_pin") is None else board["led_pin"], Pin.OUT, value=0)
    return Hardware(
        name=NAME,
        unique_id=machine.unique_id(),
        clock=cal_clock,
        samples=samples,
        mbus_uart=make_uart(MBUS_UART_ID, MBUS_BAUDRATE, 0, MBUS_TX_PIN, MBUS_RX_PIN),  # parity 0: even
        mep_uart=make_uart(MEP_UART_ID, MEP_BAUDRATE, None, MEP_TX_PIN, MEP_RX_PIN),
        optical_uart=make_pio_uart(config, "optical_uart", OPTICAL_SM_ID, OPTICAL_TX_PIN, OPTICAL_RX_PIN,
                                   OPTICAL_BAUDRATE),
        dlms_uart=make_pio_uart(config, "dlms_uart", DLMS_SM_ID, DLMS_TX_PIN, DLMS_RX_PIN, DLMS_BAUDRATE),
        radio=make_radio(board, config.get("lmn")),
        led=led,
        pulser=make_pulser(config, led) if samples is not None else None,
        storage_root=root,
        watchdog=machine.WDT(timeout=watchdog_ms),
        reset=machine.reset,
        board_secret=board_secret(),
        logs=open_device_logs(root, cal_clock),
    )


def make_store_hardware(config=None):
    """The parts provisioning needs (security/onboard.py): clock, store, board secret, device
    logs; no watchdog (it cannot be disarmed once armed), ports or sampling."""
    cal_clock = clock.Clock(speed=1)
    root = make_storage()
    return Hardware(name=NAME, unique_id=machine.unique_id(), clock=cal_clock, storage_root=root,
                    reset=machine.reset, board_secret=board_secret(), logs=open_device_logs(root, cal_clock))
