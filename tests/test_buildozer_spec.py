"""verifier_app/buildozer.spec would build: buildozer finds its entry point, every path it names exists, only
the app's and didlib's files go in, and every module the packaged code imports is covered by a requirement
(a python-for-android recipe or a pure-Python wheel). Building the APK itself needs the Android SDK."""

from __future__ import annotations

import ast
import configparser
import importlib.util
import sys

from conftest import ROOT

SPEC = ROOT / "verifier_app" / "buildozer.spec"
PACKAGED = ("didlib", "didlib_apps", "verifier_app")
# Import name -> the requirement that provides it on Android.
PROVIDED_BY = {"jwt": "pyjwt", "PIL": "pillow", "kivy": "kivy", "android": "android", "jnius": "kivy"}
# Imported only on desktops or by optional extras, never by the app on a phone (see didlib.qr, didlib.scanner).
DESKTOP_ONLY = {"zxingcpp": "the desktop QR decoder; pyzbar decodes on Android",
                "cv2": "the desktop camera and video files; Kivy's Android camera there",
                "numpy": "video writing for demos and tests (didlib.scanner.write_code_video)",
                "bumble": "the BLE host stack of didlib[ble] (desktops, tests); the verifier app does not import it",
                "volunteer_register": "an organisation's register (SQLAlchemy), imported only when a till keeps one"}


def spec() -> configparser.SectionProxy:
    parser = configparser.ConfigParser()
    parser.read(SPEC)
    return parser["app"]


def requirement_names() -> set[str]:
    return {r.split("==")[0].strip().lower() for r in spec()["requirements"].split(",")}


def test_entry_point_and_paths_exist():
    app = spec()
    source = (SPEC.parent / app["source.dir"]).resolve()
    assert (source / "main.py").is_file(), "buildozer runs main.py from source.dir"
    for key in ("icon.filename", "presplash.filename"):
        assert (SPEC.parent / app[key]).is_file(), key  # %(source.dir)s is interpolated, as buildozer does
    for folder in app["source.exclude_dirs"].split(","):
        assert folder.strip() and "/" not in folder
    loaded = importlib.util.spec_from_file_location("didlib_android_main", source / "main.py")
    module = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(module)  # imports the app, does not start it
    assert callable(module.main)
    assert app["android.api"] == "35" and "CAMERA" in app["android.permissions"]


def test_only_the_app_and_didlib_are_packaged():
    app = spec()
    source = (SPEC.parent / app["source.dir"]).resolve()
    excluded = {d.strip() for d in app["source.exclude_dirs"].split(",")}
    exts = {e.strip() for e in app["source.include_exts"].split(",")}
    kept_dirs = {p.name for p in source.iterdir() if p.is_dir() and p.name not in excluded
                 and any(f.suffix[1:] in exts for f in p.rglob("*"))}
    assert kept_dirs <= set(PACKAGED), kept_dirs - set(PACKAGED)
    kept_files = {p.name for p in source.iterdir() if p.is_file() and p.suffix[1:] in exts}
    assert kept_files == {"main.py"}, kept_files


def imported_modules() -> set[str]:
    names: set[str] = set()
    for package in PACKAGED:
        for file in (ROOT / package).rglob("*.py"):
            tree = ast.parse(file.read_text())
            typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                           and isinstance(block.test, ast.Name) and block.test.id == "TYPE_CHECKING"
                           for n in ast.walk(block)}
            for node in ast.walk(tree):
                if id(node) in typing_only:  # for the type checker only, never imported when running
                    continue
                if isinstance(node, ast.Import):
                    names |= {a.name.split(".")[0] for a in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - set(PACKAGED) - {"__future__"}


def test_every_imported_module_has_a_requirement():
    requirements = requirement_names()
    missing = {name for name in imported_modules() - DESKTOP_ONLY.keys()
               if PROVIDED_BY.get(name, name).lower() not in requirements}
    assert not missing, f"no requirement in buildozer.spec for {sorted(missing)}"
    assert "pyzbar" in requirements and "libzbar" in requirements and "zxing-cpp" not in requirements
