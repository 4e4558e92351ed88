"""The real wallet app, driven by touches against a real issuer service (offscreen or Xvfb).

Screenshots of every screen are kept in ``ui-screenshots/wallet/``. The "prove my age" screenshots are
decoded here and verified with the verifier engine, offline, from the trust data the wallet cached.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

from conftest import ROOT
from didlib.keys import load_public_key
from didlib.qr import decode_image
from didlib.session.reader_auth import UNSTATED_WARNING
from didlib.verifier import AgePolicy, TrustCache, VerifierEngine

SHOTS = ROOT / "ui-screenshots" / "wallet"


def test_wallet_ui_end_to_end(tmp_path):
    out = tmp_path / "shots"
    command = [sys.executable, str(ROOT / "tests" / "ui" / "wallet_ui_driver.py"), str(out)]
    if shutil.which("xvfb-run") and not os.environ.get("DISPLAY"):
        command = ["xvfb-run", "-a", "-s", "-screen 0 1280x1024x24", *command]
    proc = subprocess.run(command, env=os.environ | {"SDL_AUDIODRIVER": "dummy"}, capture_output=True, text=True,
                          timeout=300)
    results_file = out / "results.json"
    assert results_file.exists(), proc.stdout[-2000:] + proc.stderr[-4000:]
    results = json.loads(results_file.read_text())
    assert "error" not in results, results.get("error")
    assert results["weak_pin"] == "choose a PIN of at least six digits"
    assert results["after_pin"] == "cards"
    assert results["cards"] == ["Driving licence", "Proof of age", "DBS check"]
    assert results["consent_reader"].startswith("Example Shop") and results["consent_reader"].endswith("verified")
    assert results["consent_warning"] == "", "a reader whose certificate states its entitlement"
    assert results["unstated_warning"] == UNSTATED_WARNING, "shown for a reader whose certificate states none"
    assert results["answer_verdict"] == "accept" and results["answer_display"] == ["over_18", "portrait"]
    assert results["wrong_pin"].startswith("wrong PIN") and results["after_unlock"] == "cards"
    assert "damaged" in results["corrupt"][0] and results["corrupt"][1], "the lock screen offers the backup"
    assert results["after_restore"] == ["cards", 3]
    assert "document number: MORGA957140SJ9AA" in results["details"]
    assert results["session_screen"] == "consent"
    assert results["session_result"] == [True, ["age_over_18", "portrait"]], "shared over the ISO session"
    assert results["online_screen"] == "consent"
    assert results["online_reader"] == "Example Cider Shop, website localhost  - verified"
    assert results["online_message"] == "Sent to Example Cider Shop: age_over_18"
    assert results["unused_after_online"] == results["unused_before_online"] - 1
    assert results["online_outcome"] == {"outcome": "verified", "age_over_18": True, "detail": ""}
    assert results["opened_screen"] == "consent", "started with a link, the wallet asks after the PIN"
    assert results["declined_outcome"]["outcome"] == "waiting", "declining sends nothing"

    # the prove-my-age screen, as a cashier's camera sees it
    texts = [t for n in range(1, results["prove_parts"] + 1) for t in decode_image(out / f"prove_{n}.png")]
    assert len(texts) == results["prove_parts"]
    trust = TrustCache(tmp_path / "shots" / "wallet" / "trust", load_public_key(out / "operator.pem")).load()
    engine = VerifierEngine(AgePolicy(18), trust)
    verdict = [engine.scan(t) for t in texts][-1]
    assert verdict.decision == "accept" and verdict.headline == "OVER 18"
    for shot in ("pin_first_run", "cards", "add", "prove_1", "consent", "answer_part_1", "settings", "pin_wrong",
                 "details", "engagement", "consent_session", "consent_online", "cards_sent", "consent_unstated"):
        assert (out / f"{shot}.png").stat().st_size > 2000, shot
    SHOTS.mkdir(parents=True, exist_ok=True)
    for png in out.glob("*.png"):
        shutil.copy(png, SHOTS / png.name)
