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
#   led_pin          null   the metrology LED's GPIO; null: "LED" (GP25 on a Pico, the
#                           CYW43's on a Pico W)
#   dlms_uart        True   the DLMS/HDLC port on a PIO UART (GP8 TX, GP9 RX)
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
from hardware import Hardware, wants_samples
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
# DLMS/HDLC port (9600 8N1) on a PIO UART (both hardware UARTs are taken): state machines
# from DLMS_SM_ID (boards/rp2/pio_uart.py), TX GP8, RX GP9.
DLMS_SM_ID = const(0)
DLMS_TX_PIN = const(8)  # GP8
DLMS_RX_PIN = const(9)  # GP9
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
    "led_pin": Optional(Int(0, 29)),
    "dlms_uart": Bool(default=True),
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


def make_hardware(config):
    board = config.get("board") or {}
    cal_clock = clock.Clock(speed=1)
    watchdog_ms = min(MAX_WATCHDOG_MS, config.get("watchdog_ms", DEFAULT_WATCHDOG_MS))
    hw = Hardware(
        name=NAME,
        unique_id=machine.unique_id(),
        clock=cal_clock,
        samples=make_samples(board, cal_clock) if wants_samples(config) else None,
        mbus_uart=make_uart(MBUS_UART_ID, MBUS_BAUDRATE, 0, MBUS_TX_PIN, MBUS_RX_PIN),  # parity 0: even
        mep_uart=make_uart(MEP_UART_ID, MEP_BAUDRATE, None, MEP_TX_PIN, MEP_RX_PIN),
        radio=make_radio(board, config.get("lmn")),
        led=Pin(LED_PIN if board.get("led_pin") is None else board["led_pin"], Pin.OUT, value=0),
        storage_root=make_storage(),
        watchdog=machine.WDT(timeout=watchdog_ms),
        reset=machine.reset,
        board_secret=board_secret(),
    )
    hw.dlms_uart = None
    if board.get("dlms_uart", True):
        try:
            from pio_uart import PioUart  # the PIO UART (boards/rp2/pio_uart.py) claims its state machines
        except ImportError as exc:  # a build without the PIO UART: the meter runs without the port
            print("board: no DLMS port:", exc)
        else:
            hw.dlms_uart = PioUart(DLMS_SM_ID, DLMS_TX_PIN, DLMS_RX_PIN, DLMS_BAUDRATE)
    # Metrology pulses timed in hardware; width from the meter's config.
    from pulse_pio import PIOPulser  # here, not at the top: it assembles/claims a peripheral

    width_ms = (config.get("metrology") or {}).get("pulse_width_ms", 30)
    hw.pulser = PIOPulser(hw.led, width_ms) if hw.led is not None else None
    return hw
