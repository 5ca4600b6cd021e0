# ESP32 DevKitC (ESP32-WROOM-32) board: pin and bus map, calibration defaults, make_hardware().
#
# make_hardware(config) reads these keys of config["board"] (all optional; SCHEMA below
# checks them at boot, before the watchdog is armed):
#
#   rate_hz          2000   sample pairs per second: CLKIN/2/OSR (1000, 2000, 4000, ...)
#   pairs_per_block  200    pairs per block (100 ms at 2000 Hz)
#   v_gain, i_gain   1, 32  ADS131M02 PGA gains (1, 2, 4, ... 128)
#   v_per_count      None   calibration; None: the front-end defaults below for the gains
#   i_per_count      None
#   samples          app    fit the metering ADC: default True for the meter app only
#   radio            True   False: no CC1101 fitted
#   led_pin          2      the metrology LED
#   dlms_uart        False  the DLMS/HDLC port on UART0 (GPIO4 TX, GPIO26 RX; takes the REPL's UART)
#
# and config["watchdog_ms"] (default 8000). A part that is enabled but does not answer
# is reported on the console and left out (None), so the application can say so.
#
# Why an external ADC: MicroPython drives the ESP32's own ADC through the ESP-IDF
# one-shot driver only (no continuous or DMA mode), a read from Python takes tens of
# microseconds and timers are millisecond soft callbacks, so nothing paces kHz
# sampling; the ADC is also non-linear near its ends and ADC2 is lost to Wi-Fi.
# Metrology uses a TI ADS131M02 (simultaneous 24-bit, class 1 capable) instead.

import machine
import esp32
from machine import Pin, SPI, UART
import clock
from store.fs import make_dirs
from hardware import Hardware, wants_samples, open_device_logs
from config import Int, Float, Str, Bool, Optional
from micropython import const
from drivers.ads131m02 import ADS131M02
from drivers.wmbus_radio import open_cc1101
from drivers.uartstream import open_uart
from security import boardsecret

NAME = "esp32"

# Wired M-Bus master (EN 13757-2: 2400 baud 8E1) on UART1, through an M-Bus level shifter.
MBUS_UART_ID = const(1)
MBUS_TX_PIN = const(32)
MBUS_RX_PIN = const(33)
MBUS_BAUDRATE = const(2400)
# MEP port (9600 8N1) on UART2.
MEP_UART_ID = const(2)
MEP_TX_PIN = const(17)
MEP_RX_PIN = const(16)
MEP_BAUDRATE = const(9600)
UART_RXBUF_BYTES = const(512)  # a whole 261-byte M-Bus frame and then some
# DLMS/HDLC port (9600 8N1, RS-485 transceiver) on UART0 moved to GPIO4/GPIO26: UARTs 1 and 2
# are taken, so this takes the REPL's UART (the USB console is gone after boot): off by default.
DLMS_UART_ID = const(0)
DLMS_TX_PIN = const(4)
DLMS_RX_PIN = const(26)
DLMS_BAUDRATE = const(9600)

# CC1101 radio on VSPI (SPI id 2 in MicroPython). CC1101: 10 MHz max, 6.5 MHz for bursts.
RADIO_SPI_ID = const(2)
RADIO_SCK_PIN = const(18)
RADIO_MOSI_PIN = const(23)
RADIO_MISO_PIN = const(19)
RADIO_CS_PIN = const(5)
RADIO_GDO0_PIN = const(34)  # input-only pin
RADIO_GDO2_PIN = const(39)  # input-only pin (VN): TX FIFO threshold interrupt
RADIO_SPI_HZ = const(5_000_000)

# ADS131M02 on HSPI (SPI id 1), SPI mode 1. MISO is moved off GPIO12, a strapping pin
# (flash voltage) that a driven DOUT could pull the wrong way at boot; the GPIO matrix
# is fast enough at 8 MHz. CLKIN comes from an 8.192 MHz oscillator on the ADC board.
ADC_SPI_ID = const(1)
ADC_SCK_PIN = const(14)
ADC_MOSI_PIN = const(13)
ADC_MISO_PIN = const(27)
ADC_CS_PIN = const(15)
ADC_DRDY_PIN = const(35)  # input-only pin
ADC_SYNC_RESET_PIN = const(25)  # active low: held high
ADC_SPI_HZ = const(8_000_000)

LED_PIN = const(2)

# Calibration defaults for the reference front end: ADS131M02 full scale +-1.2 V over
# 2**23 counts at gain 1; voltage through a 1 MOhm : 1 kOhm divider (ratio 1001),
# current through a 250 uOhm shunt.
ADC_FULL_SCALE_V = 1.2
VOLTAGE_DIVIDER_RATIO = const(1001)
SHUNT_OHM = 0.00025
DEFAULT_V_GAIN = const(1)
DEFAULT_I_GAIN = const(32)

DEFAULT_RATE_HZ = const(2000)
DEFAULT_PAIRS_PER_BLOCK = const(200)
DEFAULT_WATCHDOG_MS = const(8000)
STORAGE_ROOT = "/data"


_GAINS = (1, 2, 4, 8, 16, 32, 64, 128)

# config["board"] on this board; startup.boot checks it before make_hardware runs.
SCHEMA = {
    "rate_hz": Int(choices=(500, 1000, 2000, 4000, 8000, 16000, 32000), default=DEFAULT_RATE_HZ),
    "pairs_per_block": Int(16, 2000, default=DEFAULT_PAIRS_PER_BLOCK),
    "v_gain": Int(choices=_GAINS, default=DEFAULT_V_GAIN),
    "i_gain": Int(choices=_GAINS, default=DEFAULT_I_GAIN),
    "v_per_count": Optional(Float(0.0)),
    "i_per_count": Optional(Float(0.0)),
    "samples": Optional(Bool()),
    "radio": Bool(default=True),
    "led_pin": Int(0, 39, default=LED_PIN),
    "dlms_uart": Bool(default=False),
    "console": Str(choices=("text", "json"), default="text"),
}


def v_per_count(gain):
    return ADC_FULL_SCALE_V * VOLTAGE_DIVIDER_RATIO / (gain * (1 << 23))


def i_per_count(gain):
    return ADC_FULL_SCALE_V / (gain * (1 << 23) * SHUNT_OHM)


def make_samples(board, cal_clock):
    Pin(ADC_SYNC_RESET_PIN, Pin.OUT, value=1)
    spi = SPI(ADC_SPI_ID, baudrate=ADC_SPI_HZ, polarity=0, phase=1,
              sck=Pin(ADC_SCK_PIN), mosi=Pin(ADC_MOSI_PIN), miso=Pin(ADC_MISO_PIN))
    v_gain = board.get("v_gain", DEFAULT_V_GAIN)
    i_gain = board.get("i_gain", DEFAULT_I_GAIN)
    adc = ADS131M02(
        spi,
        Pin(ADC_CS_PIN, Pin.OUT, value=1),
        Pin(ADC_DRDY_PIN, Pin.IN),
        Pin.IRQ_FALLING,
        rate_hz=board.get("rate_hz", DEFAULT_RATE_HZ),
        pairs_per_block=board.get("pairs_per_block", DEFAULT_PAIRS_PER_BLOCK),
        v_per_count=board.get("v_per_count") or v_per_count(v_gain),
        i_per_count=board.get("i_per_count") or i_per_count(i_gain),
        v_gain=v_gain,
        i_gain=i_gain,
        clock=cal_clock,
    )
    if not adc.reset():
        print("board: no ADS131M02 answering on HSPI; samples = None")
        return None
    adc.configure()
    return adc


def make_radio(board, lmn=None):
    if not board.get("radio", True):
        return None
    spi = SPI(RADIO_SPI_ID, baudrate=RADIO_SPI_HZ, polarity=0, phase=0,
              sck=Pin(RADIO_SCK_PIN), mosi=Pin(RADIO_MOSI_PIN), miso=Pin(RADIO_MISO_PIN))
    return open_cc1101(spi, Pin(RADIO_CS_PIN, Pin.OUT, value=1), Pin(RADIO_GDO0_PIN, Pin.IN),
                       Pin(RADIO_GDO2_PIN, Pin.IN), Pin.IRQ_FALLING, lmn, "VSPI")


def make_uart(uart_id, baudrate, parity, tx_pin, rx_pin):
    return open_uart(UART, Pin, uart_id, baudrate, parity, tx_pin, rx_pin, UART_RXBUF_BYTES)


def make_storage(path=STORAGE_ROOT):
    make_dirs(path)
    return path


def board_secret():
    """16 bytes sealing the key store: a random part kept in NVS, mixed with the chip id.
    Real protection of NVS needs flash encryption (and an eFuse HMAC key): docs/security.md."""
    return boardsecret.from_nvs(esp32.NVS("security"), machine.unique_id())


def make_pulser(config, led):
    """Metrology pulses timed in hardware (RMT); width from the meter's config."""
    from pulse_rmt import RMTPulser  # here, not at the top: it assembles/claims a peripheral

    return RMTPulser(led, (config.get("metrology") or {}).get("pulse_width_ms", 30))


def confirm_image():
    """hw.confirm_image: cancel the bootloader's rollback of a full-image update."""
    from otaimage import confirm  # only when a full image is on trial: it needs esp32.Partition

    return confirm()


def make_hardware(config):
    board = config.get("board") or {}
    cal_clock = clock.Clock(speed=1)
    root = make_storage()
    samples = make_samples(board, cal_clock) if wants_samples(config) else None
    led = Pin(board.get("led_pin", LED_PIN), Pin.OUT, value=0)
    return Hardware(
        name=NAME,
        unique_id=machine.unique_id(),
        clock=cal_clock,
        samples=samples,
        mbus_uart=make_uart(MBUS_UART_ID, MBUS_BAUDRATE, 0, MBUS_TX_PIN, MBUS_RX_PIN),  # parity 0: even
        mep_uart=make_uart(MEP_UART_ID, MEP_BAUDRATE, None, MEP_TX_PIN, MEP_RX_PIN),
        # optical_uart: None (UART0 is the console and UART1/2 are taken above); the DLMS port
        # takes UART0 from the REPL only where the board section asks for it.
        dlms_uart=make_uart(DLMS_UART_ID, DLMS_BAUDRATE, None, DLMS_TX_PIN, DLMS_RX_PIN)
        if board.get("dlms_uart") else None,
        radio=make_radio(board, config.get("lmn")),
        led=led,
        pulser=make_pulser(config, led) if samples is not None else None,
        storage_root=root,
        watchdog=machine.WDT(timeout=config.get("watchdog_ms", DEFAULT_WATCHDOG_MS)),
        reset=machine.reset,
        board_secret=board_secret(),
        confirm_image=confirm_image,
        logs=open_device_logs(root, cal_clock),
    )


def make_store_hardware(config=None):
    """The parts provisioning needs (security/onboard.py): clock, store, board secret, device
    logs; no watchdog (it cannot be disarmed once armed), ports or sampling."""
    cal_clock = clock.Clock(speed=1)
    root = make_storage()
    return Hardware(name=NAME, unique_id=machine.unique_id(), clock=cal_clock, storage_root=root,
                    reset=machine.reset, board_secret=board_secret(), logs=open_device_logs(root, cal_clock))
