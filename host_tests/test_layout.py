# test: cpython-only (reads the whole tree, starts MicroPython)
# Import paths are set in one place (tools/repo_paths.py: .venv's .pth for CPython,
# MICROPYPATH for the MicroPython unix port); no file edits sys.path or sets PYTHONPATH or
# MICROPYPATH by hand, and no file silences E402 (imports after code) with a noqa comment:
# the few files whose code must run before some imports are listed in pyproject.toml.
#
# A file this test names: drop its sys.path lines and noqa: E402 comments. CPython code
# (.venv/bin/python) finds lib, firmware, boards/host, host_tests, tools and the shims
# already; a tool that may run under another interpreter imports repo_paths first; a
# micropython subprocess gets env=repo_paths.micropython_env(); a module outside those
# folders (bench/, host_tests/data/) comes from repo_paths.module_at("bench/x.py").
import os
import re
import subprocess
import sys

import repo_paths
import support

REPO = support.REPO

# The only files that may change sys.path, and why.
ALLOWED = {
    "tools/repo_paths.py": "the one place: appends the folders for an interpreter without the .pth",
    "boards/host/main.py": "the host board's boot: the tree's folders stand for a device's /lib, handed to ota.boot",
    "lib/ota/boot.py": "the product's slot selection: the active slot replaces the factory code on sys.path",
    "host_tests/run_upy.py": "the MicroPython test runner: bare-metal ports have no MICROPYPATH",
    "host_tests/test_ota.py": "tests ota.boot.select, which edits sys.path, and restores it",
    "host_tests/test_board_schemas.py": "loads each device board's board.py with its own folder, removed after",
    "host_tests/test_board_rp2.py": "the RP2040 board's modules behind the host board's (both have board.py)",
    "host_tests/data/sml/pysml_reader.py": "removes the repository's folders so that 'sml' is pysml's package, not lib/sml",
}
_EDITS_PATH = re.compile(r"sys\.path\s*(\.\s*(insert|append|extend|remove|pop|clear)\b|\[[^\]]*\]\s*=(?!=)|\+=|=(?!=))")
_BY_HAND = re.compile(r"PYTHONPATH|[\"']MICROPYPATH[\"']")
_NOQA_E402 = re.compile(r"noqa:[^\n]*\bE402\b")
_SKIP_DIRS = {".git", ".venv", "build", "__pycache__", "node_modules", ".hypothesis", ".pytest_cache"}


def python_files():
    for top, dirs, files in os.walk(REPO):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith("."))
        for name in sorted(files):
            if name.endswith(".py"):
                full = os.path.join(top, name)
                yield os.path.relpath(full, REPO), full


def _offending_lines(pattern, allowed=()):
    found = []
    this = os.path.relpath(os.path.abspath(__file__), REPO)
    for rel, full in python_files():
        if rel in allowed or rel == this:
            continue
        with open(full, encoding="utf-8", errors="replace") as f:
            for number, line in enumerate(f, 1):
                if pattern.search(line):
                    found.append("%s:%d: %s" % (rel, number, line.strip()))
    return found


def test_only_the_listed_files_edit_sys_path():
    found = _offending_lines(_EDITS_PATH, ALLOWED)
    assert not found, ("sys.path edited outside tools/repo_paths.py and the files listed in ALLOWED "
                       "(see the top of host_tests/test_layout.py for what to do instead):\n" + "\n".join(found))


def test_no_file_sets_the_interpreters_paths_by_hand():
    found = _offending_lines(_BY_HAND, ("tools/repo_paths.py",))
    assert not found, ("PYTHONPATH or MICROPYPATH set by hand; use repo_paths.micropython_env() (the .pth gives "
                       "CPython its paths):\n" + "\n".join(found))


def test_no_noqa_for_imports_after_code():
    found = _offending_lines(_NOQA_E402)
    assert not found, ("'noqa: E402' found; imports go to the top (the paths are set before the file runs), "
                       "or the file goes to pyproject.toml's per-file-ignores with its reason:\n" + "\n".join(found))


def test_the_folders_are_on_sys_path_from_the_pth_file():
    on_path = {os.path.realpath(p) for p in sys.path if p}
    missing = [f for f in repo_paths.folders(True) if os.path.realpath(os.path.join(REPO, f)) not in on_path]
    assert not missing, "not on sys.path: %r (run `make setup`: it writes the .pth)" % missing
    import sysconfig

    pth = os.path.join(sysconfig.get_path("purelib"), repo_paths.PTH_NAME)
    with open(pth) as f:
        text = f.read()
    stale = [f for f in repo_paths.folders(True) if repr(f) not in text]
    assert not stale, "%s does not name %r: run `make setup`" % (pth, stale)


def test_no_module_name_twice_across_the_folders_nor_one_of_the_standard_librarys():
    # The folders are appended behind the interpreter's own: a clash would pick the wrong module.
    seen, clashes = {}, []
    for folder in repo_paths.folders(True):
        for name in sorted(os.listdir(os.path.join(REPO, folder))):
            full = os.path.join(REPO, folder, name)
            if name.endswith(".py"):
                module = name[:-3]
            elif os.path.isdir(full) and any(n.endswith(".py") for n in os.listdir(full)):
                module = name  # a package, with or without __init__.py (lib/dlms has none)
            else:
                continue
            if module in seen:
                clashes.append("%s: in %s and %s" % (module, seen[module], folder))
            elif module in sys.stdlib_module_names:
                clashes.append("%s (%s): a standard library module" % (module, folder))
            seen[module] = folder
    # A script in bench/ has its own folder first on sys.path: a bench named as a module of the
    # folders that a bench imports would import itself (bench/security.py did: lib/security).
    bench = os.path.join(REPO, "bench")
    sources = ""
    for name in sorted(os.listdir(bench)):
        if name.endswith(".py"):
            with open(os.path.join(bench, name)) as f:
                sources += f.read()
    for name in sorted(os.listdir(bench)):
        module = name[:-3]
        if name.endswith(".py") and module in seen and re.search(r"^\s*(import|from) %s\b" % module, sources, re.M):
            clashes.append("bench/%s: a bench imports %s (%s), and gets this file" % (name, module, seen[module]))
    assert not clashes, "module names that clash on the import path:\n" + "\n".join(clashes)


def test_the_micropython_runner_sets_the_same_folders():
    with open(os.path.join(REPO, "host_tests", "run_upy.py")) as f:
        found = re.search(r"for path in (\([^)]*\)):\n\s+sys\.path\.insert", f.read())
    assert found, "run_upy.py: no `for path in (...): sys.path.insert` loop found"
    assert eval(found.group(1)) == repo_paths.FOLDERS, (found.group(1), repo_paths.FOLDERS)


def test_micropython_finds_the_tree_through_micropython_env():
    micropython = os.path.join(os.path.dirname(sys.executable), "micropython")
    if not os.path.exists(micropython):
        support.skip("no MicroPython unix port in the venv")
    done = subprocess.run([micropython, "-c", "import asyncio, rt, support, board, meter, repo_paths; print(rt.EMULATED)"],
                          capture_output=True, text=True, timeout=60, cwd="/", env=repo_paths.micropython_env())
    assert done.returncode == 0 and done.stdout.strip() == "False", done.stdout + done.stderr
