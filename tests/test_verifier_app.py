"""The verifier app: its model headless, and the real Kivy app driven by touches with a fake camera.

The UI run takes a screenshot of every screen into ``ui-screenshots/verifier/`` (kept for people to look at).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import NOW, ROOT
from didlib import TrustStore
from didlib.presentation import make_oneway
from didlib.qr import codes_for, qr_image
from didlib.scanner import Frame, Scanner
from didlib.verifier import TrustData
from verifier_app.model import VerifierModel

SHOTS = ROOT / "ui-screenshots" / "verifier"


def frames_of(text):
    """Each code drawn into a 1280x720 greyscale camera frame, read by the apps' scanner (didlib.scanner)."""
    from PIL import Image

    out = []
    for code in codes_for(text):
        picture = Image.new("L", (1280, 720), 90)
        picture.paste(qr_image(code, "M", box_size=3).convert("L"), (420, 40))
        out.append(Scanner().scan(Frame(picture.tobytes(), 1280, 720)))
    return out


@pytest.fixture
def model(pki):
    store = TrustStore([pki.certificate("iaca")], [pki.certificate("ds")])
    clock = [NOW]
    m = VerifierModel(lambda: TrustData(store, fetched_at=NOW - dt.timedelta(days=2)), clock=lambda: clock[0])
    m.clock_box = clock
    return m


def test_model_flow_and_privacy(model, age_credential, device_key):
    seen = []
    model.listeners.append(lambda m: seen.append(m.state))
    assert model.trust_status() == ("Trust list from 2 days ago", False)
    model.choose("age:18")
    for frame in frames_of(make_oneway(age_credential, device_key, now=NOW)):
        model.codes(frame)
    assert model.state == "result" and model.verdict.headline == "OVER 18"
    model.clock_box[0] = NOW + dt.timedelta(seconds=11)
    model.tick()
    assert model.state == "home" and model.verdict is None, "the result clears itself"
    assert model.counts == {"checks": 1, "accept": 1}
    assert seen[0] == "scanning" and seen[-1] == "home"


def test_model_multi_part_message_and_image_fallback(model, age_credential, device_key, tmp_path):
    model.choose("age:18")
    first, second = frames_of(make_oneway(age_credential, device_key, now=NOW))
    model.codes(first)
    assert model.state == "scanning" and model.message == "Part 1 of 2 read: show the next code"
    model.codes(second)
    assert model.state == "result"
    model.done()
    model.choose("age:18")
    (tmp_path / "not-a-code.png").write_bytes(b"\x89PNG junk")
    model.image(tmp_path / "not-a-code.png")
    assert model.state == "scanning" and model.message


def test_model_distrusting_an_issuer(model, age_credential, device_key):
    assert model.trusted_issuers() == [("DVLA IACA", True)]
    model.settings.distrusted.add("DVLA IACA")
    model.choose("age:18")
    for frame in frames_of(make_oneway(age_credential, device_key, now=NOW)):
        model.codes(frame)
    assert model.verdict.decision == "reject"


def test_model_stale_trust_data(pki):
    store = TrustStore([pki.certificate("iaca")])
    model = VerifierModel(lambda: TrustData(store, fetched_at=NOW - dt.timedelta(days=9)), clock=lambda: NOW)
    assert model.trust_status() == ("Trust list from 9 days ago: out of date, update when online", True)


@pytest.mark.skipif(not shutil.which("Xvfb") and not os.environ.get("DISPLAY") and sys.platform != "linux",
                    reason="needs a display or SDL's offscreen driver")
def test_ui_every_verdict_screen(tmp_path):
    out = tmp_path / "shots"
    env = os.environ | {"SDL_AUDIODRIVER": "dummy"}
    command = [sys.executable, str(ROOT / "tests" / "ui" / "verifier_ui_driver.py"), str(out)]
    if shutil.which("xvfb-run") and not os.environ.get("DISPLAY"):
        command = ["xvfb-run", "-a", "-s", "-screen 0 1280x1024x24", *command]  # a real X window
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    results_file = out / "results.json"
    assert results_file.exists(), proc.stdout[-2000:] + proc.stderr[-4000:]
    results = json.loads(results_file.read_text())
    assert "error" not in results, results.get("error")
    expected = {
        "valid": ("accept", "OVER 18", []),
        "replayed": ("reject", "NOT VERIFIED", ["this code was already used"]),
        "tampered": ("reject", "NOT VERIFIED", ["the code has been altered"]),
        "expired": ("reject", "NOT VERIFIED", ["this code is too old: ask for a fresh one"]),
        "revoked": ("reject", "NOT VERIFIED", ["licence revoked"]),
        "untrusted": ("reject", "NOT VERIFIED", ["issuer not trusted (not on the trust list)"]),
        "challenge25": ("accept", "OVER 25", []),
        "volunteer": ("accept", "VOLUNTEER CLEARED", []),
    }
    for name, (decision, headline, reasons) in expected.items():
        got = results[name]
        assert (got["screen"], got["decision"], got["headline"]) == ("result", decision, headline), name
        for reason in reasons:
            assert reason in got["reasons"], name
    assert results["valid"]["display_keys"] == ["over_18", "portrait"], "an age check shows nothing else"
    assert results["counts"]["counts"] == {"checks": 8, "accept": 3, "reject": 5}
    for shot in ("home", "valid", "replayed", "volunteer_request", "volunteer", "settings"):
        assert (out / f"{shot}.png").stat().st_size > 2000, shot
    SHOTS.mkdir(parents=True, exist_ok=True)
    for png in out.glob("*.png"):
        shutil.copy(png, SHOTS / png.name)
