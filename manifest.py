# The freeze list shared by every device build (MicroPython manifest format, see
# docs/flashing.md): each library in lib/ and each application in firmware/, frozen
# under its import name (rt.py, store/__init__.py, meter/app.py, ...), as deploy puts
# them in /lib. boards/<board>/manifest.py includes this file with board="<board>".
#
# Options, given to include():
#   board  also freeze boards/<board>/: board.py and its drivers. main.py stays on the
#          filesystem: a frozen main.py would run instead of /main.py at every boot.
#   app    freeze only firmware/<app> (default: every application; config.json's "app"
#          picks the one that runs).
#
# The folders are listed when the manifest runs, so a new module needs no edit here.
# MicroPython's manifest tool runs each manifest with its own folder as the working
# directory (that is how relative paths resolve), so os.listdir() sees this folder.
# Nothing here require()s micropython-lib: the host runs the same code without it.

import os

metadata(
    version="0.1.0",
    description="Smart-meter and MEP-device firmware: libraries, applications, board modules",
)

options.defaults(board=None, app=None)

# Optimisation level, as tools/targets.py compiles for deploy (mpy-cross -O1), so a
# frozen build runs the same bytecode as a deployed one.
_OPT = 1
_NOT_FROZEN = ("manifest.py", "main.py")


def _has_py(folder):
    for _, _, names in os.walk(folder):
        if any(n.endswith(".py") for n in names):
            return True
    return False


def _freeze_folder(base, skip=()):
    """Each top-level module (module()) and package (package()) in base."""
    for name in sorted(os.listdir(base)):
        path = base + "/" + name
        if name == "__pycache__" or name.startswith("."):
            continue
        if name.endswith(".py"):
            if name not in skip:
                module(name, base_path=base, opt=_OPT)
        elif os.path.isfile(path + "/manifest.py"):
            include(path)  # a package that describes itself
        elif os.path.isdir(path) and _has_py(path):
            package(name, base_path=base, opt=_OPT)


_freeze_folder("lib", skip=("manifest.py",))

if options.app:
    if not os.path.isdir("firmware/" + options.app):
        raise ValueError("no application firmware/%s" % options.app)
    package(options.app, base_path="firmware", opt=_OPT)
else:
    _freeze_folder("firmware", skip=("manifest.py",))

if options.board:
    if not os.path.isdir("boards/" + options.board):
        raise ValueError("no board folder boards/%s" % options.board)
    _freeze_folder("boards/" + options.board, skip=_NOT_FROZEN)
