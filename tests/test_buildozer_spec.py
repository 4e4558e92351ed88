"""Each app's buildozer.spec would build: buildozer finds its entry point, every path it names exists, only
the app's and didlib's files go in, the entry point starts that app, and every module the packaged code
imports is covered by a requirement (a python-for-android recipe or a pure-Python wheel). Building the APK
itself needs the Android SDK."""

from __future__ import annotations

import ast
import configparser
import importlib.util
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import ROOT

APPS = ("verifier_app", "wallet_app")
SHARED = ("didlib", "didlib_apps")
# Import name -> the requirement that provides it on Android.
PROVIDED_BY = {"jwt": "pyjwt", "PIL": "pillow", "kivy": "kivy", "android": "android", "jnius": "kivy"}
# Imported only on desktops or by optional extras, never by the apps on a phone (see didlib.qr, didlib.scanner).
DESKTOP_ONLY = {"zxingcpp": "the desktop QR decoder; pyzbar decodes on Android",
                "cv2": "the desktop camera and video files; Kivy's Android camera there",
                "numpy": "video writing for demos and tests (didlib.scanner.write_code_video)",
                "bumble": "the BLE host stack of didlib[ble] (desktops, tests): find_adapter says none without it",
                "volunteer_register": "an organisation's register (SQLAlchemy), imported only when a till keeps one"}
ANDROID_ONLY = {"plyer": "the system file picker (didlib_apps.phone), imported on Android only"}


def spec(app: str) -> configparser.SectionProxy:
    parser = configparser.ConfigParser()
    parser.read(ROOT / app / "buildozer.spec")
    return parser["app"]


def requirement_names(app: str) -> set[str]:
    return {r.split("==")[0].strip().lower() for r in spec(app)["requirements"].split(",")}


def packaged(app: str) -> tuple[Path, set[str], set[str]]:
    """What buildozer copies: the source folder, its top-level folders and its top-level files."""
    config = spec(app)
    source = (ROOT / app / config["source.dir"]).resolve()
    excluded = {d.strip() for d in config["source.exclude_dirs"].split(",")}
    exts = {e.strip() for e in config["source.include_exts"].split(",")}
    dirs = {p.name for p in source.iterdir() if p.is_dir() and p.name not in excluded
            and any(f.suffix[1:] in exts for f in p.rglob("*"))}
    files = {p.name for p in source.iterdir() if p.is_file() and p.suffix[1:] in exts}
    return source, dirs, files


@pytest.mark.parametrize("app", APPS)
def test_entry_point_and_paths_exist(app):
    config = spec(app)
    source = (ROOT / app / config["source.dir"]).resolve()
    assert (source / "main.py").is_file(), "buildozer runs main.py from source.dir"
    for key in ("icon.filename", "presplash.filename"):
        assert (ROOT / app / config[key]).is_file(), key  # %(source.dir)s is interpolated, as buildozer does
    for folder in config["source.exclude_dirs"].split(","):
        assert folder.strip() and "/" not in folder
    loaded = importlib.util.spec_from_file_location("didlib_android_main", source / "main.py")
    module = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(module)  # imports nothing of the apps, starts nothing
    assert callable(module.main)
    assert config["android.api"] == "35" and "CAMERA" in config["android.permissions"]


@pytest.mark.parametrize("app", APPS)
def test_only_the_app_and_didlib_are_packaged(app):
    _, dirs, files = packaged(app)
    assert dirs == {*SHARED, app}, dirs ^ {*SHARED, app}
    assert files == {"main.py"}, files


@pytest.mark.parametrize("app", APPS)
def test_main_py_starts_the_packaged_app(app, tmp_path):
    """Copy what buildozer would package and ask, as ``main.py`` does there, which app is present."""
    source, dirs, files = packaged(app)
    for name in dirs:
        shutil.copytree(source / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in files:
        shutil.copy(source / name, tmp_path / name)
    probe = ("import sys; sys.path[:] = [sys.argv[1]] + [p for p in sys.path if 'site-packages' not in p "
             "and p not in ('', '.')]; import main; from importlib.util import find_spec; "
             "print(find_spec('verifier_app') is not None, find_spec('wallet_app') is not None)")
    out = subprocess.run([sys.executable, "-S", "-c", probe, str(tmp_path)], capture_output=True, text=True,
                         cwd=tmp_path, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ([str(app == "verifier_app"), str(app == "wallet_app")])


def test_the_wallet_opens_offer_and_request_links():
    """Both link schemes reach the wallet (intent filters), and a link tapped while it runs reaches the same
    activity (singleTask: onNewIntent) instead of starting a second wallet."""
    config = spec("wallet_app")
    filters = ROOT / "wallet_app" / config["android.manifest.intent_filters"]  # relative to the spec, as buildozer
    android = "http://schemas.android.com/apk/res/android"
    root = ET.fromstring(f'<manifest xmlns:android="{android}">{filters.read_text()}</manifest>')
    (intent,) = root.findall("intent-filter")
    schemes = {d.get(f"{{{android}}}scheme") for d in intent.findall("data")}
    assert schemes == {"openid4vp", "openid-credential-offer"}
    assert {a.get(f"{{{android}}}name") for a in intent.findall("action")} == {"android.intent.action.VIEW"}
    assert "android.intent.category.BROWSABLE" in {c.get(f"{{{android}}}name") for c in intent.findall("category")}
    assert config["android.manifest.launch_mode"] == "singleTask"


def imported_modules(app: str) -> set[str]:
    names: set[str] = set()
    for package in (*SHARED, app):
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
    return names - set(sys.stdlib_module_names) - {*SHARED, *APPS, "__future__"}


@pytest.mark.parametrize("app", APPS)
def test_every_imported_module_has_a_requirement(app):
    requirements = requirement_names(app)
    missing = {name for name in imported_modules(app) - DESKTOP_ONLY.keys()
               if PROVIDED_BY.get(name, name).lower() not in requirements}
    assert not missing, f"no requirement in {app}/buildozer.spec for {sorted(missing)}"
    assert "pyzbar" in requirements and "libzbar" in requirements and "zxing-cpp" not in requirements
    assert not DESKTOP_ONLY.keys() & requirements


def test_android_only_modules_are_not_needed_on_desktops():
    """plyer is a phone requirement, imported only inside the Android branch (a desktop runs without it)."""
    source = (ROOT / "didlib_apps" / "phone.py").read_text()
    tree = ast.parse(source)
    top = {a.name for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)
           for a in node.names} | {node.module for node in tree.body if isinstance(node, ast.ImportFrom)}
    assert not ANDROID_ONLY.keys() & top
    assert all("plyer" in requirement_names(app) for app in APPS)
