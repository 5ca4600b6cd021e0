# test: cpython-only
# tools/flash.py: the exact commands it runs (dry runs of flash and deploy), builds for
# each board (.mpy headers name the right architecture), package.json for mip, and the
# manifests, evaluated with the semantics of MicroPython's tools/manifestfile.py.

import contextlib
import io
import json
import os
import shlex
import shutil

import flash
import support
import targets

REPO = targets.REPO

# MP_NATIVE_ARCH_* in MicroPython's py/persistentcode.h, checked against mpy-cross 1.29:
# byte 2 of a .mpy header holds the arch in bits 2..7 and the native sub-version in
# bits 0..1, and is 0 when the file holds bytecode only (loadable on any arch).
MPY_ARCH = {"armv6m": 4, "xtensawin": 10}
MPY_VERSION = 6


def run(argv):
    """flash.main(argv) -> (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = flash.main(argv)
        except SystemExit as exc:  # argparse refusing the command line
            code = exc.code
    return code, out.getvalue(), err.getvalue()


def commands(stdout):
    """The "$ ..." lines, split as a shell would, with each tool's path cut to its name."""
    found = []
    for line in stdout.splitlines():
        if line.startswith("$ "):
            argv = shlex.split(line[2:])
            found.append([os.path.basename(argv[0])] + argv[1:])
    return found


@contextlib.contextmanager
def scratch_repo(files=None):
    """A copy of lib/, firmware/, boards/ and manifest.py that flash.py and targets.py use.

    Boards that have no main.py or board.py yet get a stand-in, so the build runs on
    whatever the tree holds. files: {relative path: text} to add.
    """
    root = support.tmpdir("flash")
    for name in ("lib", "firmware", "boards"):
        if os.path.isdir(os.path.join(REPO, name)):
            shutil.copytree(
                os.path.join(REPO, name), os.path.join(root, name), ignore=shutil.ignore_patterns("__pycache__")
            )
    shutil.copy(os.path.join(REPO, "manifest.py"), root)
    for board in flash.BOARDS:
        folder = os.path.join(root, "boards", board)
        os.makedirs(folder, exist_ok=True)
        for name in ("main.py", "board.py"):
            if not os.path.exists(os.path.join(folder, name)):
                with open(os.path.join(folder, name), "w") as f:
                    f.write("# stand-in for the test\nNAME = %r\n" % board)
    for rel, text in (files or {}).items():
        os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
        with open(os.path.join(root, rel), "w") as f:
            f.write(text)
    saved = targets.REPO
    targets.REPO = root
    try:
        yield root
    finally:
        targets.REPO = saved
        shutil.rmtree(root)


_outs = [0]


def scratch_out():
    """A new build folder inside the scratch repository, removed with it."""
    assert targets.REPO != REPO, "only inside scratch_repo()"
    _outs[0] += 1
    return os.path.join(targets.REPO, "build", "out-%d" % _outs[0])


@contextlib.contextmanager
def config_not_checked():
    """The command lines do not depend on the app's schema, which other work changes."""
    saved = flash.check_config
    flash.check_config = lambda raw, app, path: None
    try:
        yield
    finally:
        flash.check_config = saved


def write(path, data):
    with open(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
    return path


# ---- flash


def test_flash_esp32_dry_run_erases_then_writes_at_0x1000():
    code, out, _ = run(
        ["flash", "--board", "esp32", "--port", "/dev/ttyUSB0", "--firmware", "ESP32_GENERIC.bin", "--dry-run"]
    )
    assert code == 0
    assert commands(out) == [
        ["esptool", "--chip", "esp32", "--port", "/dev/ttyUSB0", "erase-flash"],
        ["esptool", "--chip", "esp32", "--port", "/dev/ttyUSB0", "--baud", "460800",
         "write-flash", "-z", "0x1000", "ESP32_GENERIC.bin"],
    ]


def test_flash_esp32_no_erase_and_baud():
    code, out, _ = run(
        ["flash", "--board", "esp32", "--port", "COM3", "--firmware", "fw.bin", "--baud", "115200",
         "--no-erase", "--dry-run"]
    )
    assert code == 0
    assert commands(out) == [
        ["esptool", "--chip", "esp32", "--port", "COM3", "--baud", "115200", "write-flash", "-z", "0x1000", "fw.bin"],
    ]


def test_flash_esp32_needs_a_port():
    code, out, err = run(["flash", "--board", "esp32", "--firmware", "fw.bin", "--dry-run"])
    assert code == 1 and "--port" in err
    assert commands(out) == []


def test_flash_rp2_dry_run_copies_the_uf2_to_the_drive():
    code, out, _ = run(
        ["flash", "--board", "rp2", "--firmware", "RPI_PICO.uf2", "--mount", "/media/me/RPI-RP2", "--dry-run"]
    )
    assert code == 0
    assert commands(out) == [["cp", "RPI_PICO.uf2", "/media/me/RPI-RP2/"]]


def test_flash_rp2_with_a_port_restarts_into_bootsel_first():
    code, out, _ = run(
        ["flash", "--board", "rp2", "--port", "/dev/ttyACM0", "--firmware", "RPI_PICO.uf2",
         "--mount", "/media/me/RPI-RP2", "--dry-run"]
    )
    assert code == 0
    assert commands(out) == [
        ["mpremote", "connect", "/dev/ttyACM0", "bootloader"],
        ["cp", "RPI_PICO.uf2", "/media/me/RPI-RP2/"],
    ]


def test_flash_rp2_finds_a_drive_or_names_the_usual_one():
    code, out, _ = run(["flash", "--board", "rp2", "--firmware", "RPI_PICO.uf2", "--dry-run"])
    assert code == 0
    (cmd,) = commands(out)
    assert cmd[:2] == ["cp", "RPI_PICO.uf2"] and cmd[2].endswith("/RPI-RP2/")


def test_flash_refuses_the_wrong_suffix_even_in_a_dry_run():
    for board, image in (("esp32", "RPI_PICO.uf2"), ("rp2", "ESP32_GENERIC.bin"), ("esp32", "fw.elf")):
        code, out, err = run(["flash", "--board", board, "--port", "p", "--firmware", image, "--dry-run"])
        assert code == 1, (board, image)
        assert flash.IMAGE_SUFFIX[board] in err
        assert commands(out) == []


def test_flash_refuses_a_missing_image():
    missing = os.path.join(REPO, "no-such-image.bin")
    code, out, err = run(["flash", "--board", "esp32", "--port", "/dev/ttyUSB0", "--firmware", missing])
    assert code == 1 and "no such file" in err
    assert commands(out) == []


def test_flash_looks_inside_the_image():
    folder = support.tmpdir("flash")
    try:
        esp32 = bytes([0xE9, 3, 2, 0x20]) + bytes(8) + (0).to_bytes(2, "little") + bytes(16)
        esp32s3 = esp32[:12] + (9).to_bytes(2, "little") + esp32[14:]
        uf2_block = [0x0A324655, 0x9E5D5157, 0x2000, 0x10000000, 256, 0, 1, 0xE48BFF56]
        uf2 = b"".join(w.to_bytes(4, "little") for w in uf2_block) + bytes(480)
        uf2_other = uf2[:28] + (0xBFDD4EEE).to_bytes(4, "little") + uf2[32:]  # ESP32-S2 family
        good = [("esp32", write(folder + "/ok.bin", esp32)), ("rp2", write(folder + "/ok.uf2", uf2))]
        bad = [
            ("esp32", write(folder + "/s3.bin", esp32s3), "another ESP chip"),
            ("esp32", write(folder + "/text.bin", b"not an image at all, not at all"), "not an ESP"),
            ("rp2", write(folder + "/s2.uf2", uf2_other), "another chip family"),
            ("rp2", write(folder + "/text.uf2", b"x" * 64), "not a UF2"),
        ]
        for board, image in good:
            code, out, _ = run(["flash", "--board", board, "--port", "p", "--firmware", image,
                                "--mount", folder, "--dry-run"])
            assert code == 0, image
            assert image in commands(out)[-1]
        for board, image, why in bad:
            code, out, err = run(["flash", "--board", board, "--port", "p", "--firmware", image, "--dry-run"])
            assert code == 1 and why in err, (image, err)
            assert commands(out) == []
    finally:
        support.rmtree(folder)


def test_flash_is_for_device_boards_only():
    code, _, _ = run(["flash", "--board", "host", "--firmware", "x.bin", "--dry-run"])
    assert code == 2  # argparse: invalid choice


# ---- deploy


def _deploy(board, port, extra=()):
    out = scratch_out()
    code, stdout, err = run(["deploy", "--board", board, "--port", port, "--out", out, "--dry-run"] + list(extra))
    assert code == 0, err
    return flash.shown(out), commands(stdout)


def test_deploy_dry_run_copies_lib_main_and_config_then_resets():
    with scratch_repo() as root, config_not_checked():
        config = write(os.path.join(root, "my-meter.json"), json.dumps({"app": "meter", "meter_id": "12345678"}))
        for board, port in (("esp32", "/dev/ttyUSB0"), ("rp2", "/dev/ttyACM0")):
            out, cmds = _deploy(board, port, ["--config", config])
            mp = ["mpremote", "connect", port]
            assert cmds == [
                mp + ["fs", "cp", "-r", out + "/lib", ":"],
                mp + ["fs", "cp", out + "/main.py", ":main.py"],
                mp + ["fs", "cp", out + "/config.json", ":config.json"],
                mp + ["reset"],
            ], board
            # the dry run built what it would copy
            with open(os.path.join(out, "config.json")) as f:
                assert json.load(f)["app"] == "meter"


def test_deploy_without_a_config_leaves_the_boards_config_alone():
    with scratch_repo() as root:
        os.remove(os.path.join(root, "firmware", "mep_device", "config_default.json"))  # an app without one
        out, cmds = _deploy("esp32", "/dev/ttyUSB0", ["--app", "mep_device"])
        mp = ["mpremote", "connect", "/dev/ttyUSB0"]
        assert cmds == [
            mp + ["fs", "cp", "-r", out + "/lib", ":"],
            mp + ["fs", "cp", out + "/main.py", ":main.py"],
            mp + ["reset"],
        ]


def test_deploy_clean_and_frozen():
    with scratch_repo():
        out, cmds = _deploy("rp2", "/dev/ttyACM0", ["--clean", "--frozen"])
        mp = ["mpremote", "connect", "/dev/ttyACM0"]
        assert cmds == [
            mp + ["fs", "rm", "-r", ":lib"],
            mp + ["fs", "cp", out + "/main.py", ":main.py"],
            mp + ["reset"],
        ]


def test_deploy_is_for_device_boards_only():
    code, _, _ = run(["deploy", "--board", "host", "--port", "x", "--dry-run"])
    assert code == 2


# ---- build


def _mpy_header(path):
    with open(path, "rb") as f:
        return f.read(4)


def test_build_compiles_every_module_for_the_boards_arch():
    probe = "import micropython\n\n\n@micropython.native\ndef twice(x):\n    return x + x\n"
    with scratch_repo({"lib/archprobe.py": probe}):
        for board in flash.DEVICE_BOARDS:
            arch = targets.ARCH[board]
            out = scratch_out()
            code, stdout, err = run(["build", "--board", board, "--out", out])
            assert code == 0, err
            assert "built" in stdout
            pairs = targets.board_sources(board, None)
            expected = set()
            for src, dest in pairs:
                if dest == "main.py":
                    expected.add("main.py")
                    with open(src, "rb") as a, open(os.path.join(out, "main.py"), "rb") as b:
                        assert a.read() == b.read()
                    continue
                mpy = dest[:-3] + ".mpy"
                expected.add(mpy)
                head = _mpy_header(os.path.join(out, mpy))
                assert head[0:1] == b"M" and head[1] == MPY_VERSION, (mpy, head)
                with open(src) as f:
                    text = f.read()
                native = "@micropython.native" in text or "@micropython.viper" in text
                assert head[2] >> 2 in ((MPY_ARCH[arch],) if native else (0, MPY_ARCH[arch])), (mpy, head)
            assert _mpy_header(os.path.join(out, "lib", "archprobe.mpy"))[2] >> 2 == MPY_ARCH[arch]
            written = set()
            for folder, _, names in os.walk(out):
                written.update(os.path.relpath(os.path.join(folder, n), out) for n in names)
            assert written - {flash.BUILD_MARK} == expected
            for _, rel in targets.lib_modules():
                assert os.path.join("lib", rel[:-3] + ".mpy") in written, rel


def test_build_for_host_copies_sources():
    with scratch_repo():
        out = scratch_out()
        code, _, err = run(["build", "--board", "host", "--out", out])
        assert code == 0, err
        for src, dest in targets.board_sources("host", None):
            with open(src, "rb") as a, open(os.path.join(out, dest), "rb") as b:
                assert a.read() == b.read(), dest
        for folder, _, names in os.walk(out):
            assert not [n for n in names if n.endswith(".mpy")]


def test_build_dry_run_prints_mpy_cross_commands_and_writes_nothing():
    with scratch_repo():
        out = scratch_out()
        code, stdout, _ = run(["build", "--board", "esp32", "--out", out, "--dry-run"])
        assert code == 0
        cmds = commands(stdout)
        compiled = [c for c in cmds if c[0] == "mpy-cross"]
        assert len(compiled) == len(targets.board_sources("esp32", None)) - 1  # all but main.py
        assert all("-march=xtensawin" in c and c[-3] == "-o" for c in compiled)
        assert ["cp", flash.shown(os.path.join(targets.REPO, "boards", "esp32", "main.py")),
                flash.shown(os.path.join(out, "main.py"))] in cmds
        assert not os.path.exists(out)


def test_build_stops_on_an_mpy_cross_error():
    with scratch_repo({"lib/broken.py": "def oops(:\n    pass\n"}) as root:
        out = scratch_out()
        code, _, err = run(["build", "--board", "rp2", "--out", out])
        assert code == 1
        assert "mpy-cross" in err and "lib/broken.py" in err
        # fixed, the same folder builds again (a failed build still marks it as a build folder)
        os.remove(os.path.join(root, "lib", "broken.py"))
        assert run(["build", "--board", "rp2", "--out", out])[0] == 0
        assert not os.path.exists(os.path.join(out, "lib", "broken.mpy"))


def test_build_takes_the_apps_default_config_or_a_given_one():
    default = {"app": "meter", "meter_id": "00000001"}
    with scratch_repo({"firmware/meter/config_default.json": json.dumps(default)}) as root, config_not_checked():
        os.remove(os.path.join(root, "firmware", "mep_device", "config_default.json"))  # an app without one
        out = scratch_out()
        assert run(["build", "--board", "esp32", "--app", "meter", "--out", out])[0] == 0
        with open(os.path.join(out, "config.json")) as f:
            assert json.load(f) == default
        # no default config for this app: built without one, with a note
        code, _, err = run(["build", "--board", "esp32", "--app", "mep_device", "--out", out])
        assert code == 0 and "no config.json" in err
        assert not os.path.exists(os.path.join(out, "config.json"))
        # a config for another app, a config naming no app, and bad JSON are refused
        other = write(os.path.join(root, "other.json"), json.dumps({"app": "mep_device"}))
        code, _, err = run(["build", "--board", "esp32", "--app", "meter", "--config", other, "--out", out])
        assert code == 1 and "mep_device" in err
        anonymous = write(os.path.join(root, "anon.json"), json.dumps({"meter_id": "1"}))
        code, _, err = run(["build", "--board", "esp32", "--config", anonymous, "--out", out])
        assert code == 1 and '"app"' in err
        broken = write(os.path.join(root, "broken.json"), '{"app": "meter",')
        code, _, err = run(["build", "--board", "esp32", "--config", broken, "--out", out])
        assert code == 1 and "not valid JSON" in err


def test_build_checks_the_config_with_the_apps_schema():
    with scratch_repo() as root:
        bad = write(os.path.join(root, "bad.json"), json.dumps({"app": "meter", "meter_id": "not digits"}))
        code, _, err = run(["build", "--board", "esp32", "--config", bad, "--dry-run"])
    assert code == 1 and "meter_id" in err


def test_build_will_not_empty_a_folder_it_did_not_build():
    with scratch_repo() as root:
        folder = os.path.join(root, "mine")
        os.mkdir(folder)
        keep = write(os.path.join(folder, "precious.txt"), "mine")
        code, _, err = run(["build", "--board", "host", "--out", folder])
        assert code == 1 and "not a build folder" in err
        assert os.path.exists(keep)


# ---- package.json (mip)


def test_package_json_is_up_to_date_and_lists_every_lib_module():
    with open(os.path.join(REPO, "package.json")) as f:
        committed = f.read()
    assert committed == flash.package_json_text(), "package.json is stale: run python tools/flash.py package-json"
    data = json.loads(committed)
    listed = {dest: src for dest, src in data["urls"]}
    modules = {rel.replace(os.sep, "/") for _, rel in targets.lib_modules()}
    assert set(listed) == modules
    for dest, src in listed.items():
        assert src == "lib/" + dest and os.path.isfile(os.path.join(REPO, src))
    assert data["deps"] == [] and data["version"] == flash.manifest_version()


class _DeviceFS:
    """The part of mpremote's transport that mip uses, over a local folder."""

    def __init__(self, root):
        self.root = root

    def _path(self, path):
        return os.path.join(self.root, path.lstrip("/"))

    def fs_exists(self, path):
        return os.path.exists(self._path(path))

    def fs_mkdir(self, path):
        os.mkdir(self._path(path))

    def fs_writefile(self, path, data, progress_callback=None):
        with open(self._path(path), "wb") as f:
            f.write(data)

    def fs_hashfile(self, path, algo):
        raise FileNotFoundError(path)


def test_mip_installs_every_lib_module_into_lib():
    try:
        from mpremote import mip
    except ImportError:
        support.skip("mpremote not installed")
    device = support.tmpdir("device")
    try:
        # Exactly what `mpremote mip install github:<owner>/<repo>` does with package.json,
        # with the repository read from disk: relative URLs resolve against its folder.
        with contextlib.redirect_stdout(io.StringIO()):
            mip._install_json(_DeviceFS(device), os.path.join(REPO, "package.json"), mip._PACKAGE_INDEX,
                              "/lib", None, True)
        with open(os.path.join(REPO, "package.json")) as f:
            urls = json.load(f)["urls"]
        assert urls
        for dest, src in urls:
            with open(os.path.join(REPO, src), "rb") as a, open(os.path.join(device, "lib", dest), "rb") as b:
                assert a.read() == b.read(), dest
    finally:
        shutil.rmtree(device)


# ---- manifests


class _Options:
    def __init__(self, kwargs):
        self._kwargs = kwargs
        self._defaults = {}

    def defaults(self, **kwargs):
        self._defaults = kwargs

    def __getattr__(self, name):
        return self._kwargs.get(name, self._defaults.get(name))


class _Manifest:
    """MicroPython's tools/manifestfile.py (freeze mode), as far as these manifests go.

    Each manifest runs with its folder as the working directory; include() takes a file
    or a folder holding manifest.py and passes its keywords on as `options`; module() and
    package() freeze base_path/<path> under the name <path>; $(VAR) paths it has no
    value for (the port's) are recorded, not read.
    """

    def __init__(self, path_vars=None):
        self.path_vars = path_vars or {}
        self.frozen = {}  # name on the device -> source file
        self.included = []
        self.required = []
        self.metadata = []
        self.opts = set()

    def _resolve(self, path):
        for name, value in self.path_vars.items():
            path = path.replace("$(%s)" % name, value)
        return os.path.abspath(path)

    def _add(self, source, target, opt):
        assert os.path.isfile(source), "cannot stat " + source
        target = target.replace(os.sep, "/")
        assert self.frozen.get(target, source) == source, "frozen twice: " + target
        self.frozen[target] = source
        self.opts.add(opt)

    def run(self, path, **kwargs):
        self.include(path, **kwargs)
        return self

    def include(self, path, **kwargs):
        if "$(" in self._resolve(path):
            self.included.append(path)
            return
        path = self._resolve(path)
        if os.path.isdir(path):
            path = os.path.join(path, "manifest.py")
        self.included.append(path)
        api = {
            "include": self.include, "module": self.module, "package": self.package,
            "freeze": self.freeze, "require": self.require, "metadata": self.metadata_,
            "options": _Options(kwargs),
        }
        with open(path) as f:
            code = compile(f.read(), path, "exec")
        previous = os.getcwd()
        os.chdir(os.path.dirname(path))
        try:
            exec(code, api)
        finally:
            os.chdir(previous)

    def module(self, module_path, base_path=".", opt=None):
        assert module_path.endswith(".py")
        self._add(os.path.join(self._resolve(base_path), module_path), module_path, opt)

    def package(self, package_path, files=None, base_path=".", opt=None):
        base = self._resolve(base_path)
        if files is not None:
            for name in files:
                self._add(os.path.join(base, package_path, name), os.path.join(package_path, name), opt)
            return
        for folder, _, names in os.walk(os.path.join(base, package_path)):
            for name in names:
                if name.endswith(".py"):
                    full = os.path.join(folder, name)
                    self._add(full, os.path.relpath(full, base), opt)

    def freeze(self, path, script=None, opt=None):
        base = self._resolve(path)
        for folder, _, names in os.walk(base if script is None else os.path.join(base, script)):
            for name in names:
                if name.endswith((".py", ".mpy")):
                    full = os.path.join(folder, name)
                    self._add(full, os.path.relpath(full, base), opt)

    def require(self, name, **kwargs):
        self.required.append(name)

    def metadata_(self, **kwargs):
        assert not self.metadata, "metadata() called twice at one level"
        self.metadata.append(kwargs)


def _deployed_names(board, app=None):
    """What deploy puts in /lib, as import paths: what a frozen build must hold too."""
    names = set()
    for _, dest in targets.board_sources(board, None):
        if dest == "main.py":
            continue
        name = dest.replace(os.sep, "/")[len("lib/"):]
        if app and name.split("/")[0] in flash.apps() and name.split("/")[0] != app:
            continue
        names.add(name)
    return names


def test_board_manifests_freeze_what_deploy_copies_under_the_same_names():
    for board in flash.DEVICE_BOARDS:
        manifest = _Manifest().run(os.path.join(REPO, "boards", board, "manifest.py"))
        assert manifest.included[1] == "$(PORT_DIR)/boards/manifest.py"
        assert manifest.included[2] == os.path.join(REPO, "manifest.py")
        assert set(manifest.frozen) == _deployed_names(board), board
        assert "main.py" not in manifest.frozen and "manifest.py" not in manifest.frozen
        for _, rel in targets.lib_modules():
            assert rel.replace(os.sep, "/") in manifest.frozen
        for app in flash.apps():
            assert app + "/__init__.py" in manifest.frozen or any(n.startswith(app + "/") for n in manifest.frozen)
        assert manifest.opts == {1}  # as tools/targets.py compiles (mpy-cross -O1)
        assert manifest.required == []  # nothing from micropython-lib
        assert [m["version"] for m in manifest.metadata] == [flash.manifest_version()]


def test_shared_manifest_freezes_one_app_when_asked():
    for app in flash.apps():
        manifest = _Manifest().run(os.path.join(REPO, "boards", "esp32", "manifest.py"), app=app)
        assert set(manifest.frozen) == _deployed_names("esp32", app)
        others = [a for a in flash.apps() if a != app]
        assert not [n for n in manifest.frozen if n.split("/")[0] in others]


def test_shared_manifest_alone_has_libraries_and_apps_but_no_board():
    manifest = _Manifest().run(os.path.join(REPO, "manifest.py"))
    names = set(manifest.frozen)
    assert {rel.replace(os.sep, "/") for _, rel in targets.lib_modules()} <= names
    for name in names:
        top = name.split("/")[0]
        assert os.path.exists(os.path.join(REPO, "lib", top)) or top in flash.apps(), name
