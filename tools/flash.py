#!/usr/bin/env python3
# Host-side device tool: build a board's deployable folder, copy it to a board, write a
# MicroPython firmware image, and keep package.json (mip) in step with lib/.
#
#   flash.py build   --board {esp32,rp2,host} [--app A] [--config FILE] [--out DIR]
#   flash.py deploy  --board {esp32,rp2} --port PORT [--app A] [--config FILE] [--clean] [--frozen]
#   flash.py flash   --board esp32 --port PORT --firmware IMAGE.bin [--baud N] [--no-erase]
#   flash.py flash   --board rp2 [--port PORT] --firmware IMAGE.uf2 [--mount DIR]
#   flash.py package-json [--check]
#   flash.py keygen  --out DIR                     OTA signing key pair (docs/ota.md)
#   flash.py sign    --board B --key PEM --version V --security-version N --out FILE [--from DIR]
#   flash.py ota     BUNDLE (--sim DIR | --tcp HOST:PORT | --port PORT) [--timeout S] [--no-wait]
#
# Every external command is echoed as "$ <command>" (shell-quoted) before it runs;
# with --dry-run it is only echoed. docs/flashing.md has the details.

import argparse
import ast
import getpass
import glob
import json
import os
import shlex
import shutil
import subprocess
import sys
import time

import repo_paths  # noqa: F401  (the tree's folders on sys.path under any python: tools/repo_paths.py)
import targets

DEVICE_BOARDS = ("esp32", "rp2")
BOARDS = DEVICE_BOARDS + ("host",)

# ESP32 (the original chip on a DevKitC): the image MicroPython publishes starts with the
# second-stage bootloader, which lives at 0x1000 (S2/S3/C3 images start at 0x0).
ESP32_CHIP = "esp32"
ESP32_IMAGE_OFFSET = "0x1000"
ESP32_BAUD = 460800  # what MicroPython's download page uses; lower it for long cables
_ESP_IMAGE_MAGIC = 0xE9
_ESP_CHIP_ID_ESP32 = 0  # esp_image_header_t.chip_id, bytes 12..13

# RP2040 in BOOTSEL mode shows up as a USB drive with this label; a .uf2 copied onto it
# is written to flash, then the chip reboots.
RP2_DRIVE = "RPI-RP2"
RP2_MOUNT_GLOBS = ("/media/*/" + RP2_DRIVE, "/run/media/*/" + RP2_DRIVE, "/media/" + RP2_DRIVE)
RP2_MOUNT_WAIT_S = 20  # after "mpremote bootloader": time for the drive to be mounted
_UF2_MAGIC = (0x0A324655, 0x9E5D5157)
_UF2_FLAG_FAMILY = 0x2000
_UF2_RP2_FAMILIES = range(0xE48BFF56, 0xE48BFF5C)  # RP2040, absolute, data, RP2350 variants

IMAGE_SUFFIX = {"esp32": ".bin", "rp2": ".uf2"}

# Where an application may keep a default configuration (first found wins).
DEFAULT_CONFIG_NAMES = ("config_default.json", "default_config.json", "config.default.json")

BUILD_MARK = ".flash-build"  # marks a folder this tool may empty before a build
PACKAGE_JSON = "package.json"


class FlashError(Exception):
    """A problem the user can fix; printed without a traceback."""


# ---- running commands


def tool(name):
    """A host tool from this interpreter's venv, else from PATH; the bare name when PATH finds that one."""
    local = os.path.join(os.path.dirname(sys.executable), name)
    on_path = shutil.which(name)
    if os.path.exists(local):
        return name if on_path and os.path.realpath(on_path) == os.path.realpath(local) else local
    return name


def shown(path):
    """A path as it appears in commands: relative to the working directory when inside it."""
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


class Shell:
    """Echoes each command as "$ ..." and runs it unless this is a dry run."""

    def __init__(self, dry_run):
        self.dry_run = dry_run

    def run(self, argv, tolerate=False):
        print("$ " + shlex.join(argv), flush=True)
        if self.dry_run:
            return 0
        try:
            code = subprocess.call(argv)
        except FileNotFoundError:
            raise FlashError("%s: command not found (run `make setup`, or activate .venv)" % argv[0])
        if code and not tolerate:
            raise FlashError("%s exited with status %d" % (os.path.basename(argv[0]), code))
        return code


# ---- build


def apps():
    """The application packages: every folder in firmware/ that holds Python modules."""
    root = os.path.join(targets.REPO, "firmware")
    if not os.path.isdir(root):
        return []
    found = []
    for name in sorted(os.listdir(root)):
        folder = os.path.join(root, name)
        if os.path.isdir(folder) and any(n.endswith(".py") for n in os.listdir(folder)):
            found.append(name)
    return found


def default_config_path(app):
    for name in DEFAULT_CONFIG_NAMES:
        path = os.path.join(targets.REPO, "firmware", app, name)
        if os.path.isfile(path):
            return path
    return None


def _load_json(path):
    try:
        with open(path, "rb") as f:
            return json.loads(f.read())
    except OSError as exc:
        raise FlashError("config %s: %s" % (path, exc.strerror))
    except ValueError as exc:
        raise FlashError("config %s: not valid JSON: %s" % (path, exc))


def check_config(raw, app, path):
    """Check a config.json before it goes to a board, with the code the board checks it with at boot.

    Returns a note when the check could not run here.
    """
    if not isinstance(raw, dict):
        raise FlashError("config %s: must be a JSON object" % path)
    try:
        import importlib

        startup = importlib.import_module("startup")
        schema = importlib.import_module(app + ".config").SCHEMA
        config_error = importlib.import_module("config").ConfigError
    except (ImportError, AttributeError) as exc:
        return "config %s not checked against the %s schema here (%s)" % (shown(path), app, exc)
    try:
        startup.check_config(raw, schema)
    except config_error as exc:
        raise FlashError("%s: %s" % (shown(path), exc))
    return None


def resolve_config(app, config):
    """(app, config path or None, notes) from --app and --config.

    The config names its app ("app": "meter"); --app, when also given, must agree. Without
    --config, the app's default config (firmware/<app>/config_default.json) is used if any.
    """
    notes = []
    if config is None and app is not None:
        config = default_config_path(app)
        if config is None:
            notes.append("no config.json: firmware/%s has no %s; give --config FILE" % (app, DEFAULT_CONFIG_NAMES[0]))
    elif config is None:
        notes.append("no config.json: give --config FILE (or --app APP for its default config)")
    if config is None:
        return app, None, notes
    raw = _load_json(config)
    named = raw.get("app") if isinstance(raw, dict) else None
    if app is None:
        app = named
    elif named is not None and named != app:
        raise FlashError("config %s is for app %r, not %r" % (shown(config), named, app))
    if app is None:
        raise FlashError("config %s names no \"app\"; give --app" % shown(config))
    if app not in apps():
        raise FlashError("config %s: no application %r in firmware/" % (shown(config), app))
    note = check_config(raw, app, config)
    if note:
        notes.append(note)
    return app, config, notes


def _prepare_out(out):
    """Empty a previous build folder; refuse to empty anything else."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise FlashError("%s is not a folder; choose another --out" % out)
    if os.path.isdir(out) and os.listdir(out):
        if not os.path.exists(os.path.join(out, BUILD_MARK)):
            raise FlashError("%s is not empty and not a build folder (no %s); choose another --out" % (out, BUILD_MARK))
        shutil.rmtree(out)
    os.makedirs(out, exist_ok=True)


def build(board, out=None, app=None, config=None, dry_run=False):
    """Build the deployable folder for a board; returns (out, list of files written, relative).

    Layout (targets.board_sources): lib/<module>.mpy for every library, application and
    board module (the host board keeps .py sources), main.py at the top, and config.json.
    """
    if board not in BOARDS:
        raise FlashError("unknown board %r (one of %s)" % (board, ", ".join(BOARDS)))
    out = os.path.abspath(out or os.path.join(targets.REPO, "build", board))
    pairs = targets.board_sources(board, app)
    missing = [src for src, _ in pairs if not os.path.isfile(src)]
    if missing:
        raise FlashError("missing source: %s" % ", ".join(os.path.relpath(m, targets.REPO) for m in missing))
    app, config, notes = resolve_config(app, config)

    arch = targets.ARCH[board]
    compiled, copied = [], []
    for src, dest in pairs:
        if arch and dest != "main.py":
            compiled.append((src, os.path.join(out, dest[:-3] + ".mpy")))
        else:
            copied.append((src, os.path.join(out, dest)))
    if config:
        copied.append((config, os.path.join(out, "config.json")))

    if dry_run:
        for src, dest in compiled:
            print("$ " + shlex.join(targets.compile_command(shown(src), shown(dest), arch)))
        for src, dest in copied:
            print("$ " + shlex.join(["cp", shown(src), shown(dest)]))
    else:
        _prepare_out(out)
        with open(os.path.join(out, BUILD_MARK), "w") as f:
            f.write("built by tools/flash.py for %s\n" % board)
        failures = targets.compile_all(compiled, arch) if compiled else []
        if failures:
            for src, err in failures:
                print("mpy-cross %s: %s\n%s" % (arch, os.path.relpath(src, targets.REPO), err), file=sys.stderr)
            raise FlashError(
                "mpy-cross (%s) failed for %d module(s): %s"
                % (arch, len(failures), ", ".join(os.path.relpath(s, targets.REPO) for s, _ in failures))
            )
        for src, dest in copied:
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            shutil.copyfile(src, dest)

    files = sorted(os.path.relpath(dest, out) for _, dest in compiled + copied)
    for note in notes:
        print("note: " + note, file=sys.stderr)
    if not dry_run:
        total = sum(os.path.getsize(os.path.join(out, f)) for f in files)
        modules = sum(1 for f in files if f.startswith("lib" + os.sep))
        print(
            "built %s for %s%s: %d modules, main.py%s; %d bytes"
            % (shown(out), board, " (%s)" % arch if arch else " (sources)", modules,
               ", config.json (%s)" % shown(config) if config else "", total)
        )
    return out, files


# ---- deploy


def deploy(board, port, app=None, config=None, out=None, clean=False, frozen=False, dry_run=False, ota_reset=False):
    """Build, then copy the build folder to the board with mpremote and reset it.

    The build runs even on a dry run (it only writes the build folder): what is copied is
    what you can inspect there.
    """
    if board not in DEVICE_BOARDS:
        raise FlashError("deploy is for esp32 and rp2; the host board runs from the tree (tools/sim.py)")
    out, files = build(board, out=out, app=app, config=config)
    shell = Shell(dry_run)
    mpremote = [tool("mpremote"), "connect", port]
    if clean:
        # rm fails when there is no /lib yet; that is not an error here.
        shell.run(mpremote + ["fs", "rm", "-r", ":lib"], tolerate=True)
    if not frozen:
        shell.run(mpremote + ["fs", "cp", "-r", shown(os.path.join(out, "lib")), ":"])
    shell.run(mpremote + ["fs", "cp", shown(os.path.join(out, "main.py")), ":main.py"])
    if "config.json" in files:
        shell.run(mpremote + ["fs", "cp", shown(os.path.join(out, "config.json")), ":config.json"])
    if ota_reset:
        # An updated slot stays active across a deploy (docs/ota.md); forgetting the OTA state
        # runs the code just deployed (and resets the security floor: this is physical access).
        shell.run(mpremote + ["fs", "rm", ":/data/ota/state"], tolerate=True)
    shell.run(mpremote + ["reset"])


# ---- flash


def check_image(board, image, dry_run):
    """Refuse an image that cannot be right for the board: wrong suffix, missing, wrong chip."""
    suffix = IMAGE_SUFFIX[board]
    if not image.lower().endswith(suffix):
        raise FlashError("%s: a %s firmware image ends in %s" % (image, board, suffix))
    if not os.path.isfile(image):
        if dry_run:
            print("note: %s does not exist (dry run)" % image, file=sys.stderr)
            return
        raise FlashError("%s: no such file" % image)
    with open(image, "rb") as f:
        head = f.read(32)
    if board == "esp32":
        if len(head) < 16 or head[0] != _ESP_IMAGE_MAGIC:
            raise FlashError("%s: not an ESP firmware image (first byte is not 0xE9)" % image)
        chip_id = int.from_bytes(head[12:14], "little")
        if chip_id != _ESP_CHIP_ID_ESP32:
            raise FlashError("%s: built for another ESP chip (chip id %d), not the ESP32" % (image, chip_id))
    else:
        words = [int.from_bytes(head[i : i + 4], "little") for i in range(0, len(head) - 3, 4)]
        if len(words) < 8 or tuple(words[:2]) != _UF2_MAGIC:
            raise FlashError("%s: not a UF2 file" % image)
        if words[2] & _UF2_FLAG_FAMILY and words[7] not in _UF2_RP2_FAMILIES:
            raise FlashError("%s: UF2 for another chip family (0x%08x), not the RP2040" % (image, words[7]))


def rp2_mounts():
    found = []
    for pattern in RP2_MOUNT_GLOBS:
        found.extend(p for p in sorted(glob.glob(pattern)) if os.path.isdir(p))
    return found


def find_rp2_mount(wait_s, dry_run):
    deadline = time.monotonic() + wait_s
    while True:
        found = rp2_mounts()
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise FlashError("several %s drives mounted (%s); choose one with --mount" % (RP2_DRIVE, ", ".join(found)))
        if dry_run:
            try:
                user = getpass.getuser()
            except (KeyError, OSError):
                user = "$USER"
            return "/media/%s/%s" % (user, RP2_DRIVE)
        if time.monotonic() >= deadline:
            raise FlashError(
                "no %s drive mounted: hold BOOTSEL while plugging the Pico in (or give --port to "
                "restart a running MicroPython into its bootloader), or name the drive with --mount" % RP2_DRIVE
            )
        time.sleep(0.5)


def flash(board, image, port=None, baud=ESP32_BAUD, erase=True, mount=None, dry_run=False):
    """Write a MicroPython firmware image: esptool for the ESP32, a UF2 copy for the RP2040."""
    if board not in DEVICE_BOARDS:
        raise FlashError("flash is for %s" % " and ".join(DEVICE_BOARDS))
    check_image(board, image, dry_run)
    shell = Shell(dry_run)
    if board == "esp32":
        if not port:
            raise FlashError("flash --board esp32 needs --port (the USB serial port, e.g. /dev/ttyUSB0)")
        esptool = [tool("esptool"), "--chip", ESP32_CHIP, "--port", port]
        if erase:
            shell.run(esptool + ["erase-flash"])
        shell.run(esptool + ["--baud", str(baud), "write-flash", "-z", ESP32_IMAGE_OFFSET, image])
        return
    if port:
        shell.run([tool("mpremote"), "connect", port, "bootloader"])
    if mount is None:
        mount = find_rp2_mount(RP2_MOUNT_WAIT_S if port else 0, dry_run)
    elif not dry_run:
        deadline = time.monotonic() + (RP2_MOUNT_WAIT_S if port else 0)
        while not os.path.isfile(os.path.join(mount, "INFO_UF2.TXT")):
            if time.monotonic() >= deadline:
                raise FlashError("%s is not a mounted %s drive (no INFO_UF2.TXT)" % (mount, RP2_DRIVE))
            time.sleep(0.5)
    shell.run(["cp", image, mount.rstrip("/") + "/"])


# ---- package.json (mip)


def manifest_version():
    """The version given to metadata() in the top-level manifest.py: the one version of the release."""
    path = os.path.join(targets.REPO, "manifest.py")
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "metadata":
            for kw in node.keywords:
                if kw.arg == "version" and isinstance(kw.value, ast.Constant):
                    return kw.value.value
    raise FlashError("manifest.py: no metadata(version=...)")


def package_json_text():
    """package.json for `mpremote mip install github:<owner>/<repo>`: every lib/ module into /lib.

    Source URLs are relative, so mip resolves them against the package.json it fetched
    (the same repository, branch or tag).
    """
    urls = [(rel.replace(os.sep, "/"), "lib/" + rel.replace(os.sep, "/")) for _, rel in targets.lib_modules()]
    lines = ["{", '  "urls": [']
    lines.extend("    %s%s" % (json.dumps(list(pair)), "," if i < len(urls) - 1 else "") for i, pair in enumerate(urls))
    lines += ["  ],", '  "deps": [],', '  "version": %s' % json.dumps(manifest_version()), "}"]
    return "\n".join(lines) + "\n"


def package_json(check=False):
    path = os.path.join(targets.REPO, PACKAGE_JSON)
    text = package_json_text()
    try:
        with open(path) as f:
            current = f.read()
    except OSError:
        current = None
    if check:
        if current != text:
            raise FlashError("%s is out of date: run python tools/flash.py package-json" % PACKAGE_JSON)
        print("%s is up to date" % PACKAGE_JSON)
        return
    if current != text:
        with open(path, "w") as f:
            f.write(text)
    print("%s: %d modules, version %s" % (shown(path), text.count('"lib/'), manifest_version()))


# ---- command line


def _build_args(p):
    p.add_argument("--board", required=True, choices=BOARDS)
    p.add_argument("--app", choices=apps(), help="the application (default: the one config.json names)")
    p.add_argument("--config", metavar="FILE", help="config.json for the board (default: the app's default config)")
    p.add_argument("--out", metavar="DIR", help="build folder (default: build/<board>)")
    p.add_argument("--dry-run", action="store_true", help="print the commands, build nothing")


def _run_build(a):
    build(a.board, out=a.out, app=a.app, config=a.config, dry_run=a.dry_run)


def _deploy_args(p):
    p.add_argument("--board", required=True, choices=DEVICE_BOARDS)
    p.add_argument("--port", required=True, help="serial port, e.g. /dev/ttyUSB0 (ESP32) or /dev/ttyACM0 (Pico)")
    p.add_argument("--app", choices=apps(), help="the application (default: the one config.json names)")
    p.add_argument("--config", metavar="FILE", help="config.json for the board (default: the app's default config)")
    p.add_argument("--out", metavar="DIR", help="build folder (default: build/<board>)")
    p.add_argument("--clean", action="store_true", help="remove /lib on the board first (stale modules)")
    p.add_argument(
        "--frozen", action="store_true", help="modules frozen in the firmware: copy only main.py and config.json"
    )
    p.add_argument("--dry-run", action="store_true", help="build, then print the device commands without running them")
    p.add_argument("--ota-reset", action="store_true",
                   help="forget the OTA state, so the board runs what is deployed rather than an updated slot")


def _run_deploy(a):
    deploy(a.board, a.port, app=a.app, config=a.config, out=a.out, clean=a.clean, frozen=a.frozen, dry_run=a.dry_run,
           ota_reset=a.ota_reset)


def _flash_args(p):
    p.add_argument("--board", required=True, choices=DEVICE_BOARDS)
    p.add_argument("--firmware", required=True, metavar="IMAGE", help="MicroPython image: .bin (esp32) or .uf2 (rp2)")
    p.add_argument("--port", help="serial port; esp32: required; rp2: restart a running board into BOOTSEL first")
    p.add_argument("--baud", type=int, default=ESP32_BAUD, help="esp32 write speed (default %(default)s)")
    p.add_argument(
        "--no-erase", dest="erase", action="store_false", help="esp32: keep the flash outside the image (the filesystem)"
    )
    p.add_argument("--mount", metavar="DIR", help="rp2: the mounted RPI-RP2 drive (default: found in /media)")
    p.add_argument("--dry-run", action="store_true", help="print the commands without running them")


def _run_flash(a):
    flash(a.board, a.firmware, port=a.port, baud=a.baud, erase=a.erase, mount=a.mount, dry_run=a.dry_run)


def _package_json_args(p):
    p.add_argument("--check", action="store_true", help="fail if package.json is not what this would write")


def _run_package_json(a):
    package_json(check=a.check)


def _provision_args(p):
    import provision

    provision.add_device_args(p)


def _run_provision(a):
    import provision

    try:
        provision.run_device(a)
    except (provision.ProvisionError, OSError) as exc:
        raise FlashError(str(exc))
# ---- OTA: signing keys, bundles, pushing (tools/otatool.py, docs/ota.md)


def _otatool():
    import otatool

    return otatool


def _keygen_args(p):
    p.add_argument("--out", required=True, metavar="DIR", help="writes DIR/ota-signing.pem and DIR/ota-anchor.pub")


def _run_keygen(a):
    ot = _otatool()
    os.makedirs(a.out, exist_ok=True)
    private = os.path.join(a.out, "ota-signing.pem")
    try:
        ot.keygen(private, os.path.join(a.out, "ota-anchor.pub"))
    except ot.OtaToolError as exc:
        raise FlashError(str(exc))
    print("signing key %s (keep it secret), trust anchor %s (65 bytes, provisioned to the boards)"
          % (shown(private), shown(os.path.join(a.out, "ota-anchor.pub"))))


def _sign_args(p):
    p.add_argument("--board", required=True, choices=BOARDS)
    p.add_argument("--key", required=True, metavar="PEM", help="the P-256 signing key (flash.py keygen)")
    p.add_argument("--version", required=True, help="application version, e.g. 1.4.0")
    p.add_argument("--security-version", required=True, type=int,
                   help="monotonic security version; boards refuse anything below the one they run")
    p.add_argument("--out", required=True, metavar="FILE", help="the bundle to write")
    p.add_argument("--from", dest="source", metavar="DIR",
                   help="bundle this folder's files (default: the board's build, its lib/ folder)")


def _run_sign(a):
    import tempfile

    ot = _otatool()
    try:
        key = ot.load_private(a.key)
        if a.source:
            files = ot.collect(a.source)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                out, _ = build(a.board, out=os.path.join(tmp, "build"))
                files = ot.collect(os.path.join(out, "lib"))
        data = ot.make_bundle(files, a.board, a.version, a.security_version, key)
    except ot.OtaToolError as exc:
        raise FlashError(str(exc))
    with open(a.out, "wb") as f:
        f.write(data)
    print("bundle %s: %s %s, security version %d, %d files, %d bytes, signed"
          % (shown(a.out), a.board, a.version, a.security_version, len(files), len(data)))


def _ota_args(p):
    p.add_argument("bundle", metavar="BUNDLE", help="a bundle made by flash.py sign")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--sim", metavar="DIR", help="the running simulation's --out folder (its meter's update port)")
    where.add_argument("--tcp", metavar="HOST:PORT", help="a device's update port")
    where.add_argument("--port", help="a board's serial port: copy with mpremote, install on the board, reset")
    p.add_argument("--timeout", type=float, default=120, help="seconds to wait for the confirmation (default 120)")
    p.add_argument("--no-wait", action="store_true", help="do not wait for the new version's confirmation")
    p.add_argument("--dry-run", action="store_true",
                   help="check the bundle and say what would be sent (--port: the mpremote commands); change nothing")


def _sim_update_port(folder):
    path = os.path.join(folder, "meter", "config.json")
    try:
        with open(path) as f:
            port = json.load(f).get("ota", {}).get("port", 0)
    except (OSError, ValueError) as exc:
        raise FlashError("%s: %s (is the simulation running with --out %s?)" % (path, exc, folder))
    if not port:
        raise FlashError("%s has no update port" % path)
    return port


def _run_ota(a):
    ot = _otatool()
    try:
        with open(a.bundle, "rb") as f:
            data = f.read()
        manifest = ot.read_manifest(data)
    except (OSError, ot.OtaToolError) as exc:
        raise FlashError("%s: %s" % (a.bundle, exc))
    if a.port:
        # Serial boards: the bundle goes to the board's filesystem, and the board's own code
        # verifies and installs it from there (lib/ota/receiver.py install_file).
        shell = Shell(a.dry_run)
        mpremote = [tool("mpremote"), "connect", a.port]
        staged = "/data/ota/incoming.bundle"
        shell.run(mpremote + ["fs", "mkdir", ":/data/ota"], tolerate=True)
        shell.run(mpremote + ["fs", "cp", a.bundle, ":" + staged])
        shell.run(mpremote + ["exec", "import board, ota.receiver; "
                              "print(ota.receiver.install_file('/data', board.NAME, %r)['version'])" % staged])
        shell.run(mpremote + ["fs", "rm", ":" + staged], tolerate=True)
        shell.run(mpremote + ["reset"])
        return
    if a.sim:
        host, port = "127.0.0.1", _sim_update_port(a.sim)
    else:
        host, _, port = a.tcp.rpartition(":")
        if not host or not port.isdigit():
            raise FlashError("--tcp %s: expected HOST:PORT" % a.tcp)
        port = int(port)
    what = "%s %s (security version %d, %d bytes) to %s:%d" % (
        manifest["board"], manifest["version"], manifest["security_version"], len(data), host, port)
    if a.dry_run:
        print("dry run: would send %s; nothing sent" % what)
        return
    print("sending " + what)
    try:
        version = ot.push_tcp(data, host, port, out=print)
        print("device verified the bundle and switched to %s; it restarts to run it on trial" % version)
        if a.no_wait:
            return
        confirmed = ot.wait_confirmed(host, port, version, a.timeout, out=print)
    except ot.OtaToolError as exc:
        raise FlashError(str(exc))
    if confirmed is None:
        raise FlashError("no confirmation within %g s" % a.timeout)
    if not confirmed:
        raise FlashError("version %s failed its trial and was reverted" % version)
    print("version %s confirmed" % version)


# name -> (help, add arguments, run). Later issues add provision, sign and ota here.
COMMANDS = {
    "build": ("compile every module for a board into a deployable folder", _build_args, _run_build),
    "deploy": ("build, then copy to a board with mpremote and reset it", _deploy_args, _run_deploy),
    "flash": ("write a MicroPython firmware image (esptool, or UF2 copy)", _flash_args, _run_flash),
    "package-json": ("rewrite package.json (mip) from lib/", _package_json_args, _run_package_json),
    "provision": ("install a device's keys from the manufacturer's key file (tools/provision.py)", _provision_args,
                  _run_provision),
    "keygen": ("make an OTA signing key pair", _keygen_args, _run_keygen),
    "sign": ("make a signed OTA bundle from a board's build", _sign_args, _run_sign),
    "ota": ("push a signed OTA bundle to a board or the running simulation", _ota_args, _run_ota),
}


def parser():
    p = argparse.ArgumentParser(prog="flash.py", description="Build, deploy and flash the meter firmware.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (text, add_args, _) in COMMANDS.items():
        add_args(sub.add_parser(name, help=text, description=text))
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        COMMANDS[args.command][2](args)
    except (FlashError, targets.ToolMissing) as exc:
        print("flash.py %s: %s" % (args.command, exc), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    import toolenv

    toolenv.ensure()  # under .venv/bin/python, whatever python started it
    sys.exit(main())
